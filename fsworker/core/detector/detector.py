"""The lost-call detector: FreeSWITCH channel events in, lost calls and contacts out.

Rules:
- Pure state machine: no I/O, no clock, no threads. ``feed(event)`` returns the outcomes
  that event completes; the caller stores them. Time only ever comes from the events
  (``Event-Date-Timestamp``, µs) or from the caller (``stale_calls(now_us)``).
- Events not in ``INTERESTING_EVENTS`` are dropped by name before any other header is
  read (``Event.name`` does not split the header block).
- Duplicates (same Core-UUID + Event-Sequence) are dropped within a bounded window; a
  call already concluded ignores its late events. Each call UUID yields its outcome once
  (in memory: store-level idempotency is the intake's job).
- A customer's call is concluded at its first CHANNEL_HANGUP_COMPLETE or CHANNEL_DESTROY
  (whichever arrives first), from what is known then: no grace timer. Facts that may
  still be missing are covered by the customer's own final event (``originated_legs`` /
  ``originate_causes`` list every leg it rang with its cause); a leg still ringing at
  that moment (07b: the att_xfer target) is reported with an empty cause.
- Contacts (R17): ``INBOUND_ANSWERED`` is yielded when the customer is first bridged to
  someone -- at once, so a callback about to start is cancelled while they talk. A call
  that is later lost in a transfer (07, 07b, 07c) *also* yields its LostCall at the end:
  the customer did talk to an employee (older tasks are rightly cancelled), then was
  lost again (a new task, place "transfer"). The Contact always comes first;
  ``Contact.at`` is the bridge time, earlier than ``LostCall.lost_at``.
  ``OUTBOUND_ANSWERED``: an answered outbound leg that no customer's call rang, not
  fsworker's and not an employee's endpoint (an employee dialling out, a CRM originate):
  the customer is the dialled number.
- Memory is bounded: tracked calls (``max_calls``), other channels (``max_legs``),
  suspects, the dedupe window and the concluded-UUID window are all capped; calls
  evicted for room or age become *suspects*, checked by the caller against the switch
  (``stale_calls`` / ``reconcile``).
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from fsworker.core.calls import CALLBACK_REQUEST_VAR, Contact, ContactKind, LostCall
from fsworker.core.detector.employees import EmployeeResolver, EndpointLookup
from fsworker.core.detector.event import SwitchEvent as Event
from fsworker.core.detector.state import (
    MAX_XFER_ENTRIES,
    BoundedDict,
    ChannelState,
    Mark,
    MarkKind,
    Role,
)
from fsworker.core.detector.verdict import build_lost_call, replay
from fsworker.core.errors import ValidationError

log = logging.getLogger(__name__)

#: Event-Names the detector reads; the connection subscribes to exactly these.
INTERESTING_EVENTS: frozenset[str] = frozenset(
    {
        "CHANNEL_OUTGOING",  # the dial-string order of a ring group (17)
        "CHANNEL_CREATE",
        "CHANNEL_ANSWER",
        "CHANNEL_BRIDGE",
        "CHANNEL_UNBRIDGE",
        "CHANNEL_EXECUTE",  # att_xfer starts (07b)
        "CHANNEL_EXECUTE_COMPLETE",  # att_xfer ends
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_DESTROY",
    }
)

_FSW_VARS = ("fsw_number", "fsw_scenario", "fsw_site", "fsw_campaign", CALLBACK_REQUEST_VAR)
_FINAL = frozenset({"CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY"})
_MAX_PARENT_HOPS = 4
_OWN = "own"
_DONE = "done"


class IgnoreReason(enum.StrEnum):
    """Why a channel was seen but is nobody's lost call (for metrics)."""

    OWN_LEG = "own_leg"  #: carries fsw_task_id: fsworker's own callback leg
    FSW_IGNORE = "fsw_ignore"  #: the dialplan set fsw_ignore=true
    EMPLOYEE_CALLER = "employee_caller"  #: inbound from an employee's endpoint


@dataclass(frozen=True, kw_only=True, slots=True)
class IgnoredCall:
    """A channel the detector deliberately does not treat as a customer's call."""

    call_uuid: str
    reason: IgnoreReason
    node: str = "default"


Outcome = LostCall | Contact | IgnoredCall


def _int(value: str | None) -> int:
    try:
        return int(value) if value else 0
    except ValueError:
        return 0


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def _worth_logging(count: int) -> bool:
    # An overflow repeats per event; log the first and then every thousandth.
    return count == 1 or count % 1000 == 0


def _array(value: str | None) -> list[str]:
    if not value:
        return []
    if value.startswith("ARRAY::"):
        return [v for v in value[7:].split("|:") if v]
    return [value]


class Detector:
    """Follows calls through their channel events; see the module docstring."""

    def __init__(
        self,
        endpoint_to_employee: EndpointLookup | None = None,
        node: str = "default",
        *,
        max_calls: int = 10_000,
        max_legs: int | None = None,
        max_age_s: float = 4 * 3600,
        dedupe_window: int = 20_000,
        finished_window: int = 50_000,
    ) -> None:
        if max_calls < 1:
            raise ValidationError("max_calls", max_calls, ">= 1")
        if max_age_s <= 0:
            raise ValidationError("max_age_s", max_age_s, "> 0")
        self.node = node
        self._resolver = EmployeeResolver(endpoint_to_employee)
        self.max_calls = max_calls
        self.max_legs = max_legs if max_legs is not None else 4 * max_calls
        self.max_age_us = int(max_age_s * 1_000_000)
        self._calls: BoundedDict[str, ChannelState] = BoundedDict(max_calls)
        self._legs: BoundedDict[str, ChannelState] = BoundedDict(self.max_legs)
        self._suspects: BoundedDict[str, ChannelState] = BoundedDict(max_calls)
        self._finished: BoundedDict[str, str] = BoundedDict(finished_window)
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        self._dedupe_window = dedupe_window
        self._age_now_us = 0
        #: counters for metrics
        self.duplicates = 0
        self.evicted_calls = 0  #: calls pushed out of the tracked table for room
        self.dropped_calls = 0  #: suspects pushed out before anyone reconciled them
        self.dropped_legs = 0

    # -- introspection --------------------------------------------------------------
    @property
    def tracked_count(self) -> int:
        """Calls followed right now (excluding suspects)."""
        return len(self._calls)

    @property
    def suspect_count(self) -> int:
        return len(self._suspects)

    @property
    def leg_count(self) -> int:
        return len(self._legs)

    # -- the event path -------------------------------------------------------------
    def feed(self, event: Event) -> list[Outcome]:
        name = event.name
        if name not in INTERESTING_EVENTS:
            return []
        uuid = event.get("Unique-ID")
        if not uuid or uuid in self._finished:
            return []
        seq = event.sequence
        if seq:
            key = (event.get("Core-UUID") or "", seq)
            if key in self._seen:
                self.duplicates += 1
                return []
            self._seen[key] = None
            if len(self._seen) > self._dedupe_window:
                self._seen.popitem(last=False)
        out: list[Outcome] = []
        if event.get("variable_fsw_task_id"):
            self._finish_own(uuid, out)
            return out
        parent = None
        if event.get("Other-Type") == "originator":
            parent = event.get("Other-Leg-Unique-ID")
        if not parent:
            parent = event.get("variable_originating_leg_uuid")
        if parent == uuid:
            parent = None
        if parent is not None and parent in self._finished:
            # A late leg of a concluded call, or a leg of one of our own legs. Not on
            # CHANNEL_OUTGOING: it carries no variables, and the leg's own CREATE may
            # still show fsw_task_id (12: the customer leg of a callback's bridge).
            if name != "CHANNEL_OUTGOING":
                self._finished.put(uuid, self._finished.get(parent) or _DONE)
            return out
        ts = event.timestamp_us
        st = self._get(uuid)
        if st is None:
            st = self._new(uuid, parent, event.get("Call-Direction"))
        self._absorb(st, event, seq, ts, parent, out)
        handler = _HANDLERS.get(name)
        if handler is not None:
            handler(self, st, event, seq, ts, out)
        return out

    def _absorb(
        self,
        st: ChannelState,
        event: Event,
        seq: int,
        ts: int,
        parent: str | None,
        out: list[Outcome],
    ) -> None:
        if st.first_seq == 0 or (seq and seq < st.first_seq):
            # Values of the earliest event: caller ID before any CALL_UPDATE, the number
            # dialled before any transfer.
            st.first_seq = seq or st.first_seq
            st.first_us = ts
            st.caller_number = (
                event.get("Caller-Orig-Caller-ID-Number")
                or event.get("Caller-Caller-ID-Number")
                or st.caller_number
            )
            st.caller_name = (
                event.get("Caller-Orig-Caller-ID-Name")
                or event.get("Caller-Caller-ID-Name")
                or st.caller_name
            )
            st.destination = event.get("Caller-Destination-Number") or st.destination
            st.endpoint = event.get("Channel-Name") or st.endpoint
            st.created_us = (
                _int(event.get("Caller-Channel-Created-Time")) or st.created_us
            )
            if not st.age_ref_us:
                st.age_ref_us = ts
        if st.direction is None:
            st.direction = event.get("Call-Direction")
        if parent is not None and st.parent is None:
            st.parent = parent
            self._get_or_placeholder(parent).add_child(st.uuid)
        if st.role is Role.UNKNOWN or (st.role is Role.OUTBOUND and st.parent):
            self._classify(st, out)
        if st.role is Role.CUSTOMER or st.role is Role.INTERNAL:
            if seq >= st.last_seq:
                st.fsw = {k: v for k in _FSW_VARS if (v := event.get("variable_" + k))}
            if event.get("variable_fsw_ignore") == "true":
                st.fsw_ignore = True
            history = event.get("variable_transfer_history")
            if history and ":bl_xfer:" in history:
                self._note_blind_transfers(st, history, seq)
        if seq >= st.last_seq:
            st.last_seq = seq
            st.last_us = max(st.last_us, ts)

    def _classify(self, st: ChannelState, out: list[Outcome]) -> None:
        if st.parent:
            st.role = Role.LEG
        elif st.direction == "inbound":
            if self._resolver.resolve(st.endpoint, st.caller_number):
                st.role = Role.INTERNAL
            else:
                st.role = Role.CUSTOMER
            if self._legs.pop(st.uuid) is not None:
                self._store_call(st)
            # A bridge seen before the customer's own events (reordered delivery).
            first = next((m for m in st.marks if m.kind is MarkKind.BRIDGE), None)
            if first is not None:
                self._inbound_contact(st, first.other, first.us, out)
            return
        elif st.direction == "outbound":
            st.role = Role.OUTBOUND
        else:
            return
        if st.endpoint and st.employee is None:
            st.employee = self._resolver.resolve(st.endpoint, st.destination)

    def _note_blind_transfers(self, st: ChannelState, history: str, seq: int) -> None:
        for entry in _array(history):
            if ":bl_xfer:" not in entry:
                continue
            known = st.xfer_entries.get(entry)
            if known is None:
                if len(st.xfer_entries) >= MAX_XFER_ENTRIES:
                    continue
                st.xfer_entries[entry] = seq
            elif seq and seq < known:
                st.xfer_entries[entry] = seq

    # -- handlers per event name -----------------------------------------------------
    def _on_outgoing(
        self, st: ChannelState, event: Event, seq: int, ts: int, out: list[Outcome]
    ) -> None:
        if seq and (not st.outgoing_seq or seq < st.outgoing_seq):
            st.outgoing_seq = seq

    def _on_answer(
        self, st: ChannelState, event: Event, seq: int, ts: int, out: list[Outcome]
    ) -> None:
        if not st.answered_seq or (seq and seq < st.answered_seq):
            st.answered_seq = seq or 1
        self._outbound_contact(st, ts, out)

    def _on_bridge(
        self, st: ChannelState, event: Event, seq: int, ts: int, out: list[Outcome]
    ) -> None:
        self._bridge_marks(st, event, seq, ts, MarkKind.BRIDGE, out)

    def _on_unbridge(
        self, st: ChannelState, event: Event, seq: int, ts: int, out: list[Outcome]
    ) -> None:
        self._bridge_marks(st, event, seq, ts, MarkKind.UNBRIDGE, out)

    def _bridge_marks(
        self,
        st: ChannelState,
        event: Event,
        seq: int,
        ts: int,
        kind: MarkKind,
        out: list[Outcome],
    ) -> None:
        a = event.get("Bridge-A-Unique-ID") or st.uuid
        b = event.get("Bridge-B-Unique-ID") or event.get("Other-Leg-Unique-ID")
        if not b or a == b:
            return
        for owner, other in ((a, b), (b, a)):
            if owner in self._finished:
                continue
            side = st if owner == st.uuid else self._get_or_placeholder(owner)
            side.add_mark(Mark(seq, kind, owner, other, ts))
            if kind is MarkKind.BRIDGE and side.role is Role.CUSTOMER:
                self._inbound_contact(side, other, ts, out)

    def _on_execute(
        self, st: ChannelState, event: Event, seq: int, ts: int, out: list[Outcome]
    ) -> None:
        if st.role is Role.LEG and event.get("Application") == "att_xfer":
            st.add_mark(Mark(seq, MarkKind.ATT_XFER_START, st.uuid, "", ts))

    def _on_execute_complete(
        self, st: ChannelState, event: Event, seq: int, ts: int, out: list[Outcome]
    ) -> None:
        if st.role is Role.LEG and event.get("Application") == "att_xfer":
            st.add_mark(Mark(seq, MarkKind.ATT_XFER_END, st.uuid, "", ts))

    def _on_hangup(
        self, st: ChannelState, event: Event, seq: int, ts: int, out: list[Outcome]
    ) -> None:
        if not st.hangup_seq or (seq and seq < st.hangup_seq):
            st.hangup_seq = seq
            st.hangup_us = ts
        st.hangup_cause = event.get("Hangup-Cause") or st.hangup_cause
        self._note_disposition(st, event)

    def _on_final(
        self, st: ChannelState, event: Event, seq: int, ts: int, out: list[Outcome]
    ) -> None:
        st.final_hangup_us = _int(event.get("Caller-Channel-Hangup-Time")) or ts
        st.hangup_cause = st.hangup_cause or event.get("Hangup-Cause") or ""
        self._note_disposition(st, event)
        if st.role in (Role.CUSTOMER, Role.INTERNAL):
            names = event.get_all("variable_originated_legs")
            for item in (x for v in names for x in _array(v)):
                parts = item.split(";")
                if parts[0] and all(parts[0] != u for u, _ in st.originated):
                    st.originated.append(
                        (parts[0], parts[-1] if len(parts) > 1 else "")
                    )
                    del st.originated[64:]
            for item in _array(event.get("variable_originate_causes")):
                leg, _, cause = item.partition(";")
                if leg and cause and len(st.originate_causes) < 64:
                    st.originate_causes[leg] = cause
            self._conclude(st, out)
        elif st.role is Role.LEG:
            root = self._root(st)
            if root is None or root.role is not Role.CUSTOMER:
                # Not rung for a customer: an employee's or a CRM's call.
                self._outbound_contact(st, ts, out)
                self._remove(st.uuid)
                self._finished.put(st.uuid, _DONE)
        else:
            self._outbound_contact(st, ts, out)
            self._remove(st.uuid)
            self._finished.put(st.uuid, _DONE)

    def _note_disposition(self, st: ChannelState, event: Event) -> None:
        if st.role is Role.LEG and st.disposition is None:
            st.disposition = event.get("variable_endpoint_disposition")
            st.transfer_destination = event.get("variable_transfer_destination")

    # -- outcomes ----------------------------------------------------------------------
    def _inbound_contact(
        self,
        call: ChannelState,
        partner: str,
        ts: int,
        out: list[Outcome],
        other: ChannelState | None = None,
    ) -> None:
        if call.contact_done or call.fsw_ignore or call.role is not Role.CUSTOMER:
            return
        if not call.caller_number:
            return
        call.contact_done = True
        other = other or self._get(partner)
        employee = other.employee if other is not None else None
        out.append(
            Contact(
                customer_number=call.caller_number,
                call_uuid=call.uuid,
                at=_dt(ts),
                kind=ContactKind.INBOUND_ANSWERED,
                employee=employee,
                node=self.node,
                extra={"partner_uuid": partner},
            )
        )
        log.debug("call %s: answered (bridged to %s)", call.uuid, partner)

    def _outbound_contact(self, st: ChannelState, ts: int, out: list[Outcome]) -> None:
        if st.contact_done or not st.answered_seq or st.direction != "outbound":
            return
        if st.employee is not None or not st.destination:
            return
        if st.role is Role.LEG:
            root = self._root(st)
            if root is None or root.role not in (Role.INTERNAL, Role.OUTBOUND):
                return  # rung for a customer's call, or whose it is is not known yet
        elif st.role is not Role.OUTBOUND:
            return
        st.contact_done = True
        out.append(
            Contact(
                customer_number=st.destination,
                call_uuid=st.uuid,
                at=_dt(ts),
                kind=ContactKind.OUTBOUND_ANSWERED,
                node=self.node,
            )
        )
        log.debug("channel %s: outbound call to %s answered", st.uuid, st.destination)

    def _conclude(
        self, call: ChannelState, out: list[Outcome], *, reconciled: bool = False
    ) -> None:
        legs = self._tree(call)
        self._remove(call.uuid)
        self._finished.put(call.uuid, _DONE)
        for leg in legs:
            self._remove(leg.uuid)
            self._finished.put(leg.uuid, _DONE)
        if call.role is Role.INTERNAL:
            for leg in legs:
                self._outbound_contact_in_tree(leg, call, out)
            out.append(
                IgnoredCall(
                    call_uuid=call.uuid,
                    reason=IgnoreReason.EMPLOYEE_CALLER,
                    node=self.node,
                )
            )
            return
        if call.fsw_ignore:
            out.append(
                IgnoredCall(
                    call_uuid=call.uuid, reason=IgnoreReason.FSW_IGNORE, node=self.node
                )
            )
            return
        if call.role is not Role.CUSTOMER:
            return
        marks: list[Mark] = list(call.marks)
        marks.extend(
            Mark(
                seq,
                MarkKind.BLIND_XFER,
                call.uuid,
                entry.split(":bl_xfer:", 1)[1].split("/", 1)[0],
            )
            for entry, seq in call.xfer_entries.items()
        )
        for leg in legs:
            marks.extend(
                m
                for m in leg.marks
                if m.kind in (MarkKind.ATT_XFER_START, MarkKind.ATT_XFER_END)
            )
        verdict = replay(call.uuid, marks, 0 if reconciled else call.hangup_seq)
        if verdict.bridged and not call.contact_done and verdict.first_partner:
            first = next(
                (
                    m
                    for m in call.marks
                    if m.kind is MarkKind.BRIDGE and m.other == verdict.first_partner
                ),
                None,
            )
            partner = next(
                (leg for leg in legs if leg.uuid == verdict.first_partner), None
            )
            at_us = first.us if first else call.last_us
            self._inbound_contact(call, verdict.first_partner, at_us, out, partner)
        requested = call.fsw.get(CALLBACK_REQUEST_VAR) == "true"
        if not verdict.lost and not requested:
            log.info(
                "call %s from %s: answered, not lost", call.uuid, call.caller_number
            )
            return
        lost = build_lost_call(
            call,
            legs,
            verdict,
            resolve=self._resolver.resolve,
            node=self.node,
            reconciled=reconciled,
        )
        log.info(
            "call %s from %s: lost (place %s, waited %.2f s, %d legs rung)",
            call.uuid,
            lost.customer_number,
            lost.place.value,
            lost.waited_s,
            len(lost.rung),
        )
        out.append(lost)

    def _outbound_contact_in_tree(
        self, leg: ChannelState, root: ChannelState, out: list[Outcome]
    ) -> None:
        # The root is already out of the tables; judge its legs against it directly.
        if (
            leg.contact_done
            or not leg.answered_seq
            or leg.employee is not None
            or not leg.destination
        ):
            return
        if leg.direction != "outbound":
            return
        leg.contact_done = True
        out.append(
            Contact(
                customer_number=leg.destination,
                call_uuid=leg.uuid,
                at=_dt(leg.last_us),
                kind=ContactKind.OUTBOUND_ANSWERED,
                node=self.node,
                extra={"employee_call_uuid": root.uuid},
            )
        )

    def _finish_own(self, uuid: str, out: list[Outcome]) -> None:
        self._remove(uuid)
        self._finished.put(uuid, _OWN)
        out.append(
            IgnoredCall(call_uuid=uuid, reason=IgnoreReason.OWN_LEG, node=self.node)
        )

    # -- tables ----------------------------------------------------------------------
    def _get(self, uuid: str) -> ChannelState | None:
        return self._calls.get(uuid) or self._legs.get(uuid) or self._suspects.get(uuid)

    def _new(
        self, uuid: str, parent: str | None, direction: str | None
    ) -> ChannelState:
        st = ChannelState(uuid)
        if parent is None and direction == "inbound":
            self._store_call(st)
        else:
            self._store_leg(st)
        return st

    def _get_or_placeholder(self, uuid: str) -> ChannelState:
        st = self._get(uuid)
        if st is None:
            st = ChannelState(uuid)
            self._store_leg(st)
        return st

    def _store_call(self, st: ChannelState) -> None:
        for uuid, old in self._calls.put(st.uuid, st):
            # Out of room: the oldest call becomes a suspect for the caller to check.
            self.evicted_calls += 1
            if _worth_logging(self.evicted_calls):
                log.warning(
                    "call %s: evicted (more than %d calls tracked), now a suspect; %d so far",
                    uuid,
                    self.max_calls,
                    self.evicted_calls,
                )
            self._store_suspect(old)

    def _store_suspect(self, st: ChannelState) -> None:
        for uuid, _ in self._suspects.put(st.uuid, st):
            self.dropped_calls += 1
            if _worth_logging(self.dropped_calls):
                log.warning(
                    "call %s: dropped unreconciled (more than %d suspects); %d so far",
                    uuid,
                    self.max_calls,
                    self.dropped_calls,
                )

    def _store_leg(self, st: ChannelState) -> None:
        for _uuid, _ in self._legs.put(st.uuid, st):
            self.dropped_legs += 1

    def _remove(self, uuid: str) -> None:
        self._calls.pop(uuid)
        self._legs.pop(uuid)
        self._suspects.pop(uuid)

    def _root(self, st: ChannelState) -> ChannelState | None:
        cur = st
        for _ in range(_MAX_PARENT_HOPS):
            if cur.parent is None:
                return cur if cur is not st else None
            nxt = self._get(cur.parent)
            if nxt is None:
                return None
            cur = nxt
        return None

    def _tree(self, call: ChannelState) -> list[ChannelState]:
        """Every channel created on the call's behalf, directly or by its legs (07b)."""
        out: list[ChannelState] = []
        seen = {call.uuid}
        todo = list(call.children)
        while todo:
            uuid = todo.pop(0)
            if uuid in seen:
                continue
            seen.add(uuid)
            st = self._get(uuid)
            if st is None:
                continue
            out.append(st)
            todo.extend(st.children)
        return out

    # -- calls whose end never arrived --------------------------------------------------
    def stale_calls(self, now_us: int) -> list[str]:
        """Move calls older than ``max_age_s`` (switch clock) to the suspects; return
        every suspect's UUID for the caller to check on the switch (``uuid_exists`` or
        ``show channels``), then call ``reconcile``."""
        self._age_now_us = now_us
        limit = now_us - self.max_age_us
        for uuid, st in self._calls.items():
            if st.age_ref_us and st.age_ref_us < limit:
                self._calls.pop(uuid)
                self._store_suspect(st)
        return list(self._suspects)

    def reconcile(
        self, existing_uuids: set[str], *, all_tracked: bool = False
    ) -> list[Outcome]:
        """Conclude suspects the switch no longer has; keep those it still has.

        ``existing_uuids``: channel UUIDs that exist on the switch. With
        ``all_tracked=True`` (after a reconnect, with the full ``show channels`` list)
        every tracked call is checked too, not only the suspects. A concluded call that
        was never answered is yielded lost with what is known (``reconciled=True``)."""
        out: list[Outcome] = []
        candidates = self._suspects.values()
        if all_tracked:
            candidates += self._calls.values()
        for st in candidates:
            if st.uuid in existing_uuids:
                if st.uuid in self._suspects:
                    self._suspects.pop(st.uuid)
                    st.age_ref_us = self._age_now_us or st.last_us
                    self._store_call(st)
                continue
            log.info(
                "call %s: gone from the switch without a hangup event; concluding",
                st.uuid,
            )
            if st.role in (Role.CUSTOMER, Role.INTERNAL):
                self._conclude(st, out, reconciled=True)
            else:
                self._remove(st.uuid)
                self._finished.put(st.uuid, _DONE)
        return out


_HANDLERS = {
    "CHANNEL_OUTGOING": Detector._on_outgoing,
    "CHANNEL_ANSWER": Detector._on_answer,
    "CHANNEL_BRIDGE": Detector._on_bridge,
    "CHANNEL_UNBRIDGE": Detector._on_unbridge,
    "CHANNEL_EXECUTE": Detector._on_execute,
    "CHANNEL_EXECUTE_COMPLETE": Detector._on_execute_complete,
    "CHANNEL_HANGUP": Detector._on_hangup,
    "CHANNEL_HANGUP_COMPLETE": Detector._on_final,
    "CHANNEL_DESTROY": Detector._on_final,
}
