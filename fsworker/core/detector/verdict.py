"""Turning a finished call's channel states into a verdict and a LostCall. Pure.

Rules:
- The verdict replays the call's marks (its own and its legs') in Event-Sequence order
  up to the customer's CHANNEL_HANGUP: delivery order never matters.
- "Answered" means bridged to someone (an employee leg); CHANNEL_ANSWER alone is not
  (06: the PBX answers for its queue). A call is *lost* when it was never bridged, or
  when its last phase was a transfer that nobody picked up: a blind transfer (07, SIP
  REFER 07c) or an attended one still in progress (07b, the customer on hold).
- A transfer counts only after the customer was bridged to an employee (the
  transferrer); a dialplan transfer inside the IVR before anyone answered is routing.
- Times are the switch's µs clock. The wait is the CHANNEL_HANGUP event time minus
  Caller-Channel-Created-Time (07b: Hangup-Time on the final events is late).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from fsworker.core.calls import CALLBACK_REQUEST_VAR, LossPlace, LostCall, RungLeg, TransferKind, TransferPhase
from fsworker.core.detector.state import ChannelState, Mark, MarkKind

#: legs of one parent created within this window, while none of the group had ended
#: yet, were rung together (one ``bridge`` with ',' -> 101 + 102 in 03)
RING_GROUP_WINDOW_US = 1_000_000


@dataclass(frozen=True, slots=True)
class Transfer:
    kind: TransferKind
    transferrer: str  #: UUID of the employee leg that transferred
    since_seq: (
        int  #: the transferrer's bridge with the customer (target legs come after)
    )
    destination: str | None = None  #: extension from transfer_history, if blind


@dataclass(frozen=True, slots=True)
class Verdict:
    bridged: bool  #: ever bridged to someone
    first_partner: str | None
    transfer: Transfer | None  #: the transfer phase the call was in when it ended

    @property
    def lost(self) -> bool:
        return not self.bridged or self.transfer is not None


def replay(customer: str, marks: Iterable[Mark], until_seq: int) -> Verdict:
    """Replay marks (any order) in sequence order up to ``until_seq`` (0 = all)."""
    partner: str | None = None
    last_partner: str | None = None
    last_bridge_seq = 0
    first_partner: str | None = None
    bridged = False
    transfer: Transfer | None = None
    for mark in sorted(marks, key=lambda m: (m.seq, m.kind.value)):
        if until_seq and mark.seq > until_seq:
            break
        kind = mark.kind
        if kind is MarkKind.BRIDGE:
            if mark.owner != customer or not mark.other or mark.other == customer:
                continue
            partner = last_partner = mark.other
            last_bridge_seq = mark.seq
            if first_partner is None:
                first_partner = mark.other
            bridged = True
            transfer = None  # talking to someone again: the transfer was picked up
        elif kind is MarkKind.UNBRIDGE:
            if mark.owner == customer and partner == mark.other:
                partner = None
        elif kind is MarkKind.BLIND_XFER:
            if mark.owner == customer and last_partner is not None:
                transfer = Transfer(
                    TransferKind.BLIND,
                    last_partner,
                    last_bridge_seq,
                    mark.other or None,
                )
        elif kind is MarkKind.ATT_XFER_START:
            if mark.owner in (partner, last_partner) and mark.owner is not None:
                transfer = Transfer(TransferKind.ATTENDED, mark.owner, last_bridge_seq)
        elif (
            kind is MarkKind.ATT_XFER_END
            and transfer is not None
            and transfer.kind is TransferKind.ATTENDED
            and transfer.transferrer == mark.owner
        ):
            transfer = None  # consultation over: back with the transferrer
    return Verdict(bridged=bridged, first_partner=first_partner, transfer=transfer)


def ring_groups(
    legs: list[ChannelState], dialled: list[str] | tuple[str, ...] = ()
) -> list[tuple[ChannelState, int]]:
    """Legs in the order they were rung, each with its ring-group index.

    Groups follow creation time; within a group the order is the dial string's, as the
    switch recorded it (``in_dial_order``), never the order of the CREATE events."""
    ordered = sorted(legs, key=lambda s: (s.start_us, s.first_seq))
    groups: list[list[ChannelState]] = []
    for leg in ordered:
        group = groups[-1] if groups else []
        together = bool(group) and (
            leg.parent == group[0].parent
            and leg.start_us - group[0].start_us <= RING_GROUP_WINDOW_US
            and not any(g.hangup_seq and g.hangup_seq < leg.first_seq for g in group)
        )
        if together:
            group.append(leg)
        else:
            groups.append([leg])
    return [
        (leg, index)
        for index, group in enumerate(groups)
        for leg in in_dial_order(group, dialled)
    ]


def in_dial_order(
    group: list[ChannelState], dialled: list[str] | tuple[str, ...] = ()
) -> list[ChannelState]:
    """One ring group's legs in dial-string order. The switch announces each leg of a
    ``bridge a,b`` with CHANNEL_OUTGOING in that order, but the legs' threads emit
    CHANNEL_CREATE in whatever order they get to run (trace 17). Evidence, best first:
    the CHANNEL_OUTGOING sequence, then the customer's ``originated_legs`` (``dialled``,
    UUIDs in dial order); a group only partly covered by either keeps creation order."""
    if all(leg.outgoing_seq for leg in group):
        return sorted(group, key=lambda leg: leg.outgoing_seq)
    position = {uuid: i for i, uuid in enumerate(dialled)}
    if all(leg.uuid in position for leg in group):
        return sorted(group, key=lambda leg: position[leg.uuid])
    return group


def _dt(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def build_lost_call(
    call: ChannelState,
    legs: list[ChannelState],
    verdict: Verdict,
    *,
    resolve: Callable[[str | None, str | None], str | None],
    node: str,
    reconciled: bool = False,
) -> LostCall:
    """The LostCall for a customer channel whose verdict is ``lost``."""
    end_us = call.hangup_us or call.final_hangup_us or call.last_us
    start_us = call.start_us or end_us
    waited_us = max(0, end_us - start_us)
    bridged_to = {m.other for m in call.marks if m.kind is MarkKind.BRIDGE}
    known = {leg.uuid for leg in legs}
    rung: list[RungLeg] = []
    dialled = [uuid for uuid, _ in call.originated]
    for leg, group in ring_groups(legs, dialled):
        rung.append(
            RungLeg(
                uuid=leg.uuid,
                endpoint=leg.endpoint or "",
                destination=leg.destination or "",
                employee=leg.employee,
                ring_group=group,
                started_us=leg.start_us,
                ended_us=leg.hangup_us or leg.final_hangup_us,
                cause=leg.hangup_cause or call.originate_causes.get(leg.uuid, ""),
                answered=bool(leg.answered_seq) or leg.uuid in bridged_to,
            )
        )
    # Legs the customer's final event lists but whose own events never reached us
    # (evicted, link dropped): still who was tried, in the switch's order.
    next_group = (rung[-1].ring_group + 1) if rung else 0
    for uuid, number in call.originated:
        if uuid in known:
            continue
        rung.append(
            RungLeg(
                uuid=uuid,
                endpoint="",
                destination=number,
                employee=resolve(None, number),
                ring_group=next_group,
                cause=call.originate_causes.get(uuid, ""),
                answered=uuid in bridged_to,
            )
        )
        next_group += 1
    transfer = None
    if verdict.transfer is not None:
        transfer = _transfer_phase(verdict.transfer, legs)
    fsw = call.fsw
    virtual_number = fsw.get("fsw_number") or call.destination
    scenario = fsw.get("fsw_scenario")
    site = fsw.get("fsw_site")
    if fsw.get(CALLBACK_REQUEST_VAR) == "true":
        place = LossPlace.REQUEST
    elif transfer is not None:
        place = LossPlace.TRANSFER
    elif scenario:
        place = LossPlace.SCENARIO
    elif site:
        place = LossPlace.SITE
    else:
        place = LossPlace.NUMBER
    return LostCall(
        call_uuid=call.uuid,
        customer_number=call.caller_number or "",
        virtual_number=virtual_number,
        scenario=scenario,
        site=site,
        campaign=fsw.get("fsw_campaign"),
        place=place,
        lost_at=_dt(end_us),
        waited_s=waited_us / 1_000_000,
        hangup_cause=call.hangup_cause,
        rung=tuple(rung),
        transfer=transfer,
        caller_name=call.caller_name,
        node=node,
        reconciled=reconciled,
    )


def _transfer_phase(xfer: Transfer, legs: list[ChannelState]) -> TransferPhase:
    by_uuid = {leg.uuid: leg for leg in legs}
    transferrer = by_uuid.get(xfer.transferrer)
    kind = xfer.kind
    destination = xfer.destination
    if (
        transferrer is not None
        and kind is TransferKind.BLIND
        and (transferrer.disposition == "BLIND_TRANSFER")
    ):
        # The transferor's own leg says a phone did it (SIP REFER, 07c).
        kind = TransferKind.REFER
        if transferrer.transfer_destination and not destination:
            destination = transferrer.transfer_destination.partition(":")[2] or None
    targets = sorted(
        (
            leg
            for leg in legs
            if leg.uuid != xfer.transferrer and leg.first_seq > xfer.since_seq
        ),
        key=lambda s: (s.start_us, s.first_seq),
    )
    target = targets[0] if targets else None
    if target is not None and (kind is TransferKind.ATTENDED or not destination):
        destination = target.destination
    return TransferPhase(
        kind=kind,
        transferrer_endpoint=transferrer.endpoint if transferrer is not None else None,
        transferrer_employee=transferrer.employee if transferrer is not None else None,
        target_endpoint=target.endpoint if target is not None else None,
        target_employee=target.employee if target is not None else None,
        target_destination=destination,
    )
