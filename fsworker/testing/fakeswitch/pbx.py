# The simulated FreeSWITCH behind the fake Event Socket server: channels, their
# lifecycle and the events they fire. Rules: everything runs synchronously under the
# scheduler's lock and time only moves through the Scheduler (tests call
# ``advance``); event layouts follow tests/data/esl-traces (FreeSWITCH 1.10.12);
# nothing from a command reaches state without parsing (dial strings, app names).
# Commands live in commands_api.py, scenarios in scenarios.py; this module is the core.
"""FakePBX: the Backend the fake ESL server calls (``api``, ``sendmsg``)."""

from __future__ import annotations

import logging
import random
import uuid as _uuid
from typing import Any

from fsworker.core.clock import ManualClock
from fsworker.testing.fakeswitch import api_commands
from fsworker.testing.fakeswitch.apps import App, BridgeApp, ParkApp
from fsworker.testing.fakeswitch.channels import CallerProfile, Channel
from fsworker.testing.fakeswitch.dialing import CreateOrder, DialJob, ring_deadline
from fsworker.testing.fakeswitch.directory import (
    BridgeRecord,
    Directory,
    LegLog,
    LegRecord,
    Reaction,
    channel_name_of,
    destination_of,
)
from fsworker.testing.fakeswitch.events import EventStamp, Headers, ListBus
from fsworker.testing.fakeswitch.scenarios import ScenarioMixin
from fsworker.testing.fakeswitch.scheduler import Scheduler

log = logging.getLogger(__name__)

DIALSTATUS = {
    "SUCCESS": "SUCCESS", "ORIGINATOR_CANCEL": "CANCEL", "USER_BUSY": "BUSY",
    "NO_ANSWER": "NOANSWER", "ALLOTTED_TIMEOUT": "NOANSWER", "NO_USER_RESPONSE": "NOANSWER",
    "CALL_REJECTED": "CONGESTION", "UNALLOCATED_NUMBER": "CHANUNAVAIL",
}
Q850 = {"NORMAL_CLEARING": "16", "USER_BUSY": "17", "NO_ANSWER": "19", "CALL_REJECTED": "21",
        "UNALLOCATED_NUMBER": "1", "ORIGINATOR_CANCEL": "487", "ALLOTTED_TIMEOUT": "602",
        "LOSE_RACE": "502", "NO_ROUTE_DESTINATION": "3", "ATTENDED_TRANSFER": "601"}
_REFUSE = {"USER_BUSY", "CALL_REJECTED", "UNALLOCATED_NUMBER"}


class FakePBX(ScenarioMixin):
    """A FreeSWITCH-like switch for tests: see the module docs of scenarios.py for
    the scenario API and ``legs`` / ``spoken`` for what tests assert on."""

    def __init__(
        self,
        bus: Any = None,
        *,
        clock: ManualClock | None = None,
        directory: Directory | None = None,
        core_uuid: str | None = None,
        speak_seconds_per_char: float = 0.06,
        speak_seconds: float | None = None,
        playback_seconds: dict[str, float] | None = None,
        default_playback_seconds: float = 1.0,
        create_order: CreateOrder = CreateOrder.DIAL,
        seed: int | None = None,
    ) -> None:
        self.bus = bus if bus is not None else ListBus()
        self.clock = clock or ManualClock()
        self.scheduler = Scheduler(self.clock)
        self.directory = directory or Directory()
        self._stamp = EventStamp(core_uuid)
        self.core_uuid = getattr(self.bus, "core_uuid", None) or self._stamp.core_uuid
        self.speak_seconds_per_char = speak_seconds_per_char
        self.speak_seconds = speak_seconds
        self.playback_seconds = dict(playback_seconds or {})
        self.default_playback_seconds = default_playback_seconds
        self.channels: dict[str, Channel] = {}
        #: the order in which legs rung together emit CHANNEL_CREATE (changeable
        #: between calls); SHUFFLED draws from ``rng``, seeded for repeatable runs
        self.create_order = create_order
        self.rng = random.Random(seed)
        self._creates = 0
        self.shutting_down = False  #: set by ``shutdown``: originates fail, calls are gone
        #: employee uuid -> the customer who hung up while it was in att_xfer (07b)
        self._held_by: dict[str, Channel] = {}
        self.legs = LegLog()
        self.spoken: list[tuple[str, str, str, float, float]] = []  # uuid, app, arg, t0, t1
        self.extensions: dict[str, list[tuple[str, str]]] = {}
        self.sessions_since_startup = 0
        self._dial_ids = 0
        self.started_at = self.clock.time()

    # -- environment for channels ------------------------------------------------------
    def now_us(self) -> int:
        return self.scheduler.now_us()

    def fire(self, name: str, headers: Headers, body: bytes = b"") -> None:
        common = getattr(self.bus, "common_headers", None)
        if common is not None:
            from fsworker.testing.fakeswitch.events import CALLING

            f, fn, line = CALLING.get(name, ("switch_event.c", "switch_event_fire", "1"))
            prefix = list(common(name, f, fn, line))
        else:
            prefix = self._stamp(name, self.now_us())
        if name == "PRIVATE_COMMAND":
            # FreeSWITCH puts the sendmsg headers before Event-Name here.
            lead = [h for h in headers if h[0] in _PRIVATE_LEAD]
            rest = [h for h in headers if h[0] not in _PRIVATE_LEAD]
            self.bus.publish(lead + prefix + rest, body)
            return
        self.bus.publish(prefix + headers, body)

    # -- clock ------------------------------------------------------------------------
    def advance(self, seconds: float) -> int:
        """Move the switch's time forward, running everything that falls due."""
        return self.scheduler.advance(seconds)

    def run_realtime(self, speed: float = 1.0) -> Any:
        return self.scheduler.run_realtime(speed)

    def now(self) -> float:
        return self.scheduler.now()

    def stamp(self) -> float:
        """Now as the leg log records it: in whole µs, as FreeSWITCH stamps a channel's
        times and as the events carry them. A leg started in the tick another ended in
        must not seem to start a fraction of a µs before that end (raw clock floats
        against µs-rounded ones did: 1939.8959448 vs 1939.895945)."""
        return self.now_us() / 1e6

    def next_dial_id(self) -> int:
        self._dial_ids += 1
        return self._dial_ids

    # -- channel creation ---------------------------------------------------------------
    def _register(self, ch: Channel, record: LegRecord) -> None:
        self.channels[ch.uuid] = ch
        self.sessions_since_startup += 1
        self.legs.add(record)
        ch.record = record

    def create_outbound_leg(
        self, endpoint: str, variables: dict[str, str], *, parent: Channel | None,
        origin: str, dial_id: int, step: int, job: DialJob,
    ) -> Channel:
        """A leg that rings alone: announced and started at once."""
        ch = self.announce_outbound_leg(endpoint, variables, parent=parent, origin=origin,
                                        dial_id=dial_id, step=step, job=job)
        self.start_outbound_leg(ch)
        return ch

    def announce_outbound_leg(
        self, endpoint: str, variables: dict[str, str], *, parent: Channel | None,
        origin: str, dial_id: int, step: int, job: DialJob,
    ) -> Channel:
        """The leg exists (CHANNEL_OUTGOING, CS_INIT): what the originating thread does
        for each leg of a dial string, in its order, before any leg's thread runs."""
        uuid = variables.get("origination_uuid") or str(_uuid.uuid4())
        dest = destination_of(endpoint)
        if parent is not None:
            pp = parent.profile
            cid_name = variables.get("origination_caller_id_name", pp.caller_id_name)
            cid_num = variables.get("origination_caller_id_number", pp.caller_id_number)
            profile = CallerProfile(
                direction="outbound", logical_direction="outbound", username=pp.username,
                dialplan=pp.dialplan, caller_id_name=cid_name, caller_id_number=cid_num,
                orig_caller_id_name=cid_name, orig_caller_id_number=cid_num,
                callee_id_name="Outbound Call", callee_id_number=dest,
                network_addr=pp.network_addr, ani=cid_num, destination_number=dest,
                source=pp.source or "mod_sofia", context=pp.context, created_us=self.now_us())
        else:
            cid_name = variables.get("origination_caller_id_name", "FreeSWITCH")
            cid_num = variables.get("origination_caller_id_number", "0000000000")
            profile = CallerProfile(
                direction="outbound", logical_direction="outbound", caller_id_name=cid_name,
                caller_id_number=cid_num, orig_caller_id_name=cid_name,
                orig_caller_id_number=cid_num, callee_id_name="Outbound Call",
                callee_id_number=dest, ani=cid_num, destination_number=dest,
                source="src/switch_ivr_originate.c", created_us=self.now_us())
        ch = Channel(self, uuid=uuid, name=channel_name_of(endpoint), direction="outbound",
                     profile=profile)
        ch.job = job
        ch.endpoint = endpoint
        ch.state = "CS_NONE"
        for k, v in (("direction", "outbound"), ("is_outbound", "true"), ("uuid", uuid),
                     ("channel_name", ch.name)):
            ch.set_var(k, v)
        if parent is not None:
            ch.call_uuid = parent.call_uuid
            ch.link_other("originator", parent)
            for k in ("originator", "signal_bond"):
                ch.set_var(k, parent.uuid)
            parent.originated_legs.append((uuid, "Outbound Call", dest))
            parent.originate_causes.append((uuid, ""))
        ch.set_var("call_uuid", ch.call_uuid)
        for k, v in variables.items():
            ch.set_var(k, v)
        if parent is not None:
            ch.set_var("originating_leg_uuid", parent.uuid)
        ch.set_var("originate_endpoint", endpoint.split("/", 1)[0])
        self._register(ch, LegRecord(
            uuid=uuid, endpoint=endpoint, destination=dest, caller_id_number=cid_num,
            caller_id_name=cid_name, variables=dict(variables), dial_id=dial_id, step=step,
            origin=origin, parent_uuid=parent.uuid if parent else None,
            started_at=profile.created_us / 1e6))
        ch.emit("CHANNEL_OUTGOING")
        ch.set_state("CS_INIT")
        return ch

    def start_outbound_leg(self, ch: Channel) -> None:
        """The leg's own thread runs: CHANNEL_CREATE, and the far end starts ringing."""
        self._creates += 1
        if ch.record is not None:
            ch.record.create_index = self._creates
        ch.emit("CHANNEL_CREATE")
        ch.emit("CHANNEL_ORIGINATE")
        ch.set_state("CS_ROUTING")
        ch.set_state("CS_CONSUME_MEDIA")
        self._script_far_end(ch, ch.job, ch.record.variables if ch.record else {})

    def _script_far_end(self, ch: Channel, job: DialJob, variables: dict[str, str]) -> None:
        behaviour = self.directory.lookup(ch.endpoint)
        ch.behaviour = behaviour
        if behaviour.ring:
            self.scheduler.call_later(0.02, self._far_ringing, ch)
        if behaviour.reaction is Reaction.ANSWER:
            self.scheduler.call_later(max(behaviour.after, 0.03), self._far_answer, ch)
        elif behaviour.failure_cause is not None:
            self.scheduler.call_later(max(behaviour.after, 0.01), self._far_refuse, ch,
                                      behaviour.failure_cause)
        timeout, cause = None, None
        if "leg_timeout" in variables:
            timeout, cause = float(variables["leg_timeout"]), "ALLOTTED_TIMEOUT"
        elif "originate_timeout" in variables:
            timeout, cause = float(variables["originate_timeout"]), "NO_ANSWER"
        else:
            timeout, cause = 60.0, "NO_ANSWER"
        deadline = ring_deadline(self.now(), timeout, per_leg=cause == "ALLOTTED_TIMEOUT")
        cause = getattr(job, "timeout_cause", None) or cause
        self.scheduler.call_at(deadline, self._leg_timeout, ch, cause)

    def _far_ringing(self, ch: Channel) -> None:
        if ch.alive and not ch.answered:
            self.mark_progress(ch)
            parent = self.channels.get(ch.other_uuid or "")
            if parent is not None and parent.alive and not parent.progress_us:
                self.mark_progress(parent)

    def _far_answer(self, ch: Channel) -> None:
        if not ch.alive or ch.answered:
            return
        self.answer(ch)
        job: DialJob = ch.job
        behaviour = ch.behaviour
        if behaviour.hangup_after is not None:
            self.scheduler.call_later(behaviour.hangup_after, self._far_bye, ch)
        if behaviour.transfer_after is not None and behaviour.transfer_to:
            self.scheduler.call_later(behaviour.transfer_after, self._far_refer, ch,
                                      behaviour.transfer_to)
        job.leg_answered(ch)

    def _far_refuse(self, ch: Channel, cause: str) -> None:
        if ch.alive and not ch.answered:
            ch.set_var("sip_hangup_disposition", "recv_refuse")
            self.hangup(ch, cause)

    def _far_bye(self, ch: Channel) -> None:
        if ch.alive:
            ch.set_var("sip_hangup_disposition", "recv_bye")
            self.hangup(ch, "NORMAL_CLEARING")

    def _far_refer(self, ch: Channel, target: str) -> None:
        other = self.channels.get(ch.bridged_to or "")
        if ch.alive and other is not None and other.alive:
            ch.set_var("endpoint_disposition", "BLIND_TRANSFER")
            ch.set_var("transfer_destination", f"blind:{target}")
            ch.set_var("transfer_to", f"blind:{other.uuid}")
            self.transfer(other, target)

    def _leg_timeout(self, ch: Channel, cause: str) -> None:
        if ch.alive and not ch.answered:
            ch.set_var("sip_hangup_disposition", "send_cancel")
            self.hangup(ch, cause)

    # -- lifecycle primitives --------------------------------------------------------
    def mark_progress(self, ch: Channel) -> None:
        if ch.progress_us:
            return
        ch.progress_us = self.now_us()
        ch.emit("CHANNEL_PROGRESS")
        if ch.direction == "outbound" and ch.call_state == "DOWN":
            ch.set_call_state("RINGING")

    def answer(self, ch: Channel) -> None:
        if ch.answered or not ch.alive:
            return
        ch.answered_us = self.now_us()
        ch.answer_state = "answered"
        ch.media = True
        if ch.direction == "outbound":
            ch.profile = ch.profile.__class__(**{**_fields(ch.profile),
                                                 "network_addr": "127.0.0.1"})
            ch.set_var("endpoint_disposition", "ANSWER")
        ch.emit("CHANNEL_ANSWER")
        ch.set_call_state("ACTIVE")
        if ch.record is not None:
            ch.record.answered_at = ch.answered_us / 1e6
        self._update_parent_cause(ch, "NONE")

    def hangup(self, ch: Channel, cause: str = "NORMAL_CLEARING") -> None:
        if not ch.alive:
            return
        ch.hangup_cause = cause
        ch.answer_state = "hangup"
        ch.hangup_us = self.now_us()
        ch.emit("CHANNEL_HANGUP")
        self._release_held(ch)
        partner = self.channels.get(ch.bridged_to or "")
        if partner is not None and partner.alive and partner.bridged_to == ch.uuid:
            partner.bridged_to = None  # 05: the bridged partner goes first, then we unwind
            self._partner_gone(partner, ch)
            if any(a.name == "att_xfer" for a in partner.apps):
                # 07b: the customer hung up on hold. Its bridge thread is blocked by the
                # employee's att_xfer, so FreeSWITCH unbridges it, reports it (Hangup-Time,
                # HANGUP_COMPLETE) only when the employee leg hangs up (13.08 s in the
                # trace) or its att_xfer ends: see _release_held.
                bridge = next((a for a in ch.apps if isinstance(a, BridgeApp)), None)
                above = ch.apps[ch.apps.index(bridge) + 1:] if bridge is not None else []
                for app in reversed(above):
                    app.unwind(self, ch)
                ch.queue.clear()
                ch.dialplan.clear()
                self._held_by[partner.uuid] = ch
                return
        self._finish_hangup(ch)

    def _finish_hangup(self, ch: Channel) -> None:
        """The rest of a hangup: unwind the apps, free the partner, report (CS_HANGUP on)."""
        cause = ch.hangup_cause or "NORMAL_CLEARING"
        job = ch.job
        for app in reversed(list(ch.apps)):
            app.unwind(self, ch)
        ch.queue.clear()
        ch.dialplan.clear()
        if ch.bridged_to:  # a uuid_bridge / B side: the partner follows
            partner = self.channels.get(ch.bridged_to)
            if partner is not None and partner.alive:
                ch.bridged_to = None
                self._partner_gone(partner, ch)
        if ch.open_bridge is not None:
            # The A side of a uuid_bridge hung up first: its bridge thread still reports
            # the end, after both hangups (as 12 shows for the bridge app).
            self.unbridge(ch)
        ch.bridged_to = None
        if ch.ever_bridged:
            ch.call_uuid = ch.uuid
            ch.set_var("call_uuid", ch.uuid)
        self._update_parent_cause(ch, cause)
        if job is not None:
            job.leg_failed(ch, cause)
        self.scheduler.call_later(0, self._reporting, ch)

    def _release_held(self, employee: Channel) -> None:
        """The employee's att_xfer is over (it hung up or the app ended): the customer
        who hung up on hold is unbridged and reported now, with this Hangup-Time (07b)."""
        held = self._held_by.pop(employee.uuid, None)
        if held is not None:
            held.hangup_us = self.now_us()
            self._finish_hangup(held)

    def _reporting(self, ch: Channel) -> None:
        ch.set_state("CS_HANGUP")
        ch.set_call_state("HANGUP")
        ch.set_state("CS_REPORTING")
        self._final_vars(ch)
        ch.emit("CHANNEL_HANGUP_COMPLETE")
        ch.emit("CHANNEL_DESTROY")
        ch.set_state("CS_DESTROY")
        ch.done = True
        self.channels.pop(ch.uuid, None)
        if ch.record is not None:
            ch.record.ended_at = ch.hangup_us / 1e6
            ch.record.cause = ch.hangup_cause

    def _partner_gone(self, ch: Channel, gone: Channel) -> None:
        bridge = next((a for a in ch.apps if isinstance(a, BridgeApp)), None)
        if any(a.name == "att_xfer" for a in ch.apps):
            ch.bridged_to = None  # 07b: the consulting employee stays up
            return
        if bridge is not None:
            bridge.partner_gone(self, ch)
        elif ch.uuid_bridged:
            if ch.bridge_owner:
                self.unbridge(ch)
            ch.set_state("CS_EXECUTE")
            self.hangup(ch, "NORMAL_CLEARING")
        else:
            self.hangup(ch, "NORMAL_CLEARING")

    def _update_parent_cause(self, ch: Channel, cause: str) -> None:
        parent = self.channels.get(ch.variables.get("originating_leg_uuid", ""))
        if parent is None:
            return
        for i, (u, c) in enumerate(parent.originate_causes):
            if u == ch.uuid and not c:
                parent.originate_causes[i] = (u, cause)
        if not ch.answered and cause != "NONE":
            parent.set_var("last_bridge_hangup_cause", cause)

    def set_dial_result(self, ch: Channel, cause: str) -> None:
        ch.set_var("originate_disposition", cause)
        ch.set_var("DIALSTATUS", DIALSTATUS.get(cause, cause))
        if cause != "SUCCESS":
            ch.set_var("originate_failed_cause", cause)

    def _final_vars(self, ch: Channel) -> None:
        if ch.originated_legs:
            legs = ["{};{};{}".format(*x) for x in ch.originated_legs]
            causes = ["{};{}".format(u, c or "NONE") for u, c in ch.originate_causes]
            ch.set_var("originated_legs", _array(legs))
            ch.set_var("originate_causes", _array(causes))
        cause = ch.hangup_cause or "NORMAL_CLEARING"
        if "sip_hangup_disposition" not in ch.variables:
            if ch.direction == "inbound":
                disp = "send_refuse" if cause in _REFUSE else "send_bye"
            else:
                disp = "send_bye" if ch.answered else (
                    "recv_refuse" if cause in _REFUSE else "send_cancel")
            ch.set_var("sip_hangup_disposition", disp)
        ch.set_var("hangup_cause", cause)
        ch.set_var("hangup_cause_q850", Q850.get(cause, "16"))
        start, ans, end = ch.created_us, ch.answered_us, ch.hangup_us
        bridged = ch.first_bridged_us
        for name, t in (("start", start), ("answer", ans), ("bridge", bridged),
                        ("progress", ch.progress_us), ("end", end)):
            ch.set_var(f"{name}_epoch", str(t // 1_000_000))
            ch.set_var(f"{name}_uepoch", str(t))
        ch.set_var("duration", str(round((end - start) / 1e6)))
        ch.set_var("billsec", str(round((end - ans) / 1e6)) if ans else "0")
        ch.set_var("answersec", str(round((ans - start) / 1e6)) if ans else "0")
        ch.set_var("waitsec", str(round((bridged - start) / 1e6)) if bridged else "0")
        ch.set_var("mduration", str((end - start) // 1000))
        ch.set_var("billmsec", str((end - ans) // 1000) if ans else "0")
        ch.set_var("waitmsec", str((bridged - start) // 1000) if bridged else "0")
        ch.set_var("uduration", str(end - start))

    # -- bridging ------------------------------------------------------------------------
    def bridge_pair(self, a: Channel, b: Channel) -> None:
        """The bridge app's B-leg answered: link and fire as 05/12 show."""
        now = self.now_us()
        if not a.answered:
            self.answer(a)
            a.link_other("originatee", b)
        else:
            a.link_other("originatee", b)
            if a.call_state != "ACTIVE":
                a.set_call_state("ACTIVE")
        self._mark_bridged(a, b, now)
        self.report_bridge(a, b)
        b.set_state("CS_EXCHANGE_MEDIA")
        b.bridged_to, a.bridged_to = a.uuid, b.uuid
        a.profile = _with(a.profile, callee_id_name="Outbound Call",
                          callee_id_number=b.profile.destination_number)
        a.emit("CALL_UPDATE", prefix=_call_update(b))
        b.emit("CALL_UPDATE", prefix=_call_update(a))

    def _mark_bridged(self, a: Channel, b: Channel, now: int) -> None:
        for x, y in ((a, b), (b, a)):
            x.ever_bridged = True
            x.profile = _with(x.profile, bridged_us=now)
            if not x.first_bridged_us:
                x.first_bridged_us = now
            x.set_var("bridge_channel", y.name)
            x.set_var("bridge_uuid", y.uuid)
            x.set_var("last_bridge_to", y.uuid)
            x.set_var("signal_bond", y.uuid)

    def report_bridge(self, a: Channel, b: Channel) -> None:
        """CHANNEL_BRIDGE, fired by the A side as FreeSWITCH does, and its record in
        both legs' log entries: the one place a bridge starts."""
        a.emit("CHANNEL_BRIDGE", prefix=[("Bridge-A-Unique-ID", a.uuid),
                                         ("Bridge-B-Unique-ID", b.uuid)])
        record = BridgeRecord(a_uuid=a.uuid, b_uuid=b.uuid, started_us=self.now_us())
        a.open_bridge = record
        for leg in (a, b):
            if leg.record is not None:
                leg.record.bridges.append(record)
        for leg in (a, b):
            after = getattr(leg.behaviour, "bye_after_bridge", None)
            if after is not None:
                # At an exact µs offset from the bridge event, not a float sum of seconds.
                due_us = record.started_us + round(after * 1e6)
                self.scheduler.call_at(due_us / 1e6, self._far_bye, leg)

    def unbridge(self, a: Channel) -> None:
        """CHANNEL_UNBRIDGE from the A side; closes the bridge's record: the one place a
        bridge ends."""
        record = a.open_bridge
        b_uuid = a.bridged_to or (record.b_uuid if record is not None else "")
        a.emit("CHANNEL_UNBRIDGE", prefix=[("Bridge-A-Unique-ID", a.uuid),
                                           ("Bridge-B-Unique-ID", b_uuid)])
        a.bridged_to = None
        if record is not None:
            record.ended_us = self.now_us()
            a.open_bridge = None

    # -- applications ------------------------------------------------------------------
    def queue_app(self, ch: Channel, app: App) -> None:
        ch.queue.append(app)
        self.scheduler.call_later(0, self.run_next, ch)

    def run_next(self, ch: Channel) -> None:
        if not ch.alive:
            return
        top = ch.apps[-1] if ch.apps else None
        if top is not None and not top.loop:
            return
        if ch.queue:
            app = ch.queue.pop(0)
        elif top is None and ch.dialplan:
            app = ch.dialplan.pop(0)
        elif top is None and ch.hangup_when_idle and not ch.bridged_to:
            self.hangup(ch, "NORMAL_CLEARING")
            return
        else:
            return
        if ch.state != "CS_EXECUTE" and not ch.bridged_to:
            ch.hit_dialplan = True
            ch.set_state("CS_EXECUTE")
        ch.apps.append(app)
        ch.set_var("current_application", app.name)
        if app.arg:
            ch.set_var("current_application_data", app.arg)
        ch.emit("CHANNEL_EXECUTE", suffix=_app_headers(app))
        app.start(self, ch)

    def app_done(self, ch: Channel, app: App, response: str = "_none_",
                 run_next: bool = True) -> None:
        if app not in ch.apps:
            return
        ch.apps.remove(app)
        if app.name == "att_xfer":
            self._release_held(ch)
        if app.name not in ("set",):
            ch.set_var("last_app", app.name)
            if app.arg:
                ch.set_var("last_arg", app.arg)
        ch.emit("CHANNEL_EXECUTE_COMPLETE",
                suffix=_app_headers(app, response=response))
        if app.private is not None:
            ch.emit("PRIVATE_COMMAND", prefix=list(app.private))
        if run_next:
            self.scheduler.call_later(0, self.run_next, ch)

    # -- media accounting ----------------------------------------------------------------
    def speak_duration(self, text: str) -> float:
        if self.speak_seconds is not None:
            return self.speak_seconds
        return max(0.5, len(text) * self.speak_seconds_per_char)

    def playback_duration(self, path: str) -> float:
        if path.startswith("local_stream://"):
            return 1e9  # hold music plays until something stops it
        return self.playback_seconds.get(path, self.default_playback_seconds)

    def record_media(self, ch: Channel, app: str, arg: str, t0: float, t1: float) -> None:
        self.spoken.append((ch.uuid, app, arg, t0, t1))
        rec = getattr(ch, "record", None)
        if rec is not None:
            rec.spoken.append(arg)

    def spoken_on(self, uuid: str) -> list[tuple[str, str, float, float]]:
        """What was spoken/played on a channel: (app, arg, start, end) in order."""
        return [(a, g, t0, t1) for u, a, g, t0, t1 in self.spoken if u == uuid]

    def fire_custom_cc(self, ch: Channel, action: str, queue: str, *, joined: int) -> None:
        suffix = [("CC-Queue", queue), ("CC-Action", action)]
        if action == "member-queue-end":
            suffix += [("CC-Member-Leaving-Time", str(int(self.now()) + 1)),
                       ("CC-Member-Joined-Time", str(joined)), ("CC-Cause", "Cancel"),
                       ("CC-Cancel-Reason", "BREAK_OUT")]
        suffix += [("CC-Member-UUID", ch.uuid), ("CC-Member-Session-UUID", ch.uuid),
                   ("CC-Member-CID-Name", ch.profile.caller_id_name),
                   ("CC-Member-CID-Number", ch.profile.caller_id_number)]
        ch.emit("CUSTOM", prefix=[("Event-Subclass", "callcenter::info")], suffix=suffix)

    # -- Backend (the server calls these) ------------------------------------------------
    def shutdown(self) -> None:
        """``freeswitch -stop`` with calls up, as the real switch does it (esl-traces/NOTES.md):
        every channel hangs up SYSTEM_SHUTDOWN at once, and from then on an originate
        fails at once with DESTINATION_OUT_OF_ORDER (the SIP profile is gone), while the
        Event Socket still answers until the server sends its notice."""
        with self.scheduler.lock:
            self.shutting_down = True
            for ch in list(self.channels.values()):
                self.hangup(ch, "SYSTEM_SHUTDOWN")

    def api(self, command: str, arg: str = "") -> str:
        """An api command's response body. ``originate`` blocks the calling greenlet
        until the call is answered or fails: something else must advance the clock
        (a test greenlet calling ``advance``, or ``run_realtime``)."""
        with self.scheduler.lock:
            result = api_commands.dispatch(self, command.strip(), arg.strip())
        if isinstance(result, api_commands.Pending):
            return result.wait()
        return result

    def api_async(self, command: str, arg: str, on_result: Any) -> None:
        """Like ``api`` but never blocks: ``on_result(body)`` is called when done
        (at once for every command but originate). For bgapi and unit tests."""
        with self.scheduler.lock:
            result = api_commands.dispatch(self, command.strip(), arg.strip())
        if isinstance(result, api_commands.Pending):
            if result.value is not None:
                on_result(result.value)
            else:
                result.callbacks.append(on_result)
        else:
            on_result(result)

    def sendmsg(self, uuid: str, headers: dict[str, str], body: bytes = b"") -> str:
        return api_commands.sendmsg(self, uuid, headers, body)

    def transfer(self, ch: Channel, dest: str, dialplan: str = "XML",
                 context: str = "default") -> None:
        api_commands.blind_transfer(self, ch, dest, dialplan, context)

    def park_legs(self) -> list[Channel]:
        return [c for c in self.channels.values() if any(isinstance(a, ParkApp) for a in c.apps)]


_PRIVATE_LEAD = {"Command", "call-command", "execute-app-name", "execute-app-arg",
                 "event-lock", "lead-frames", "loops", "hold-bleg", "event-uuid"}


def _array(items: list[str]) -> str:
    return items[0] if len(items) == 1 else "ARRAY::" + "|:".join(items)


def _fields(p: CallerProfile) -> dict[str, Any]:
    return {k: getattr(p, k) for k in p.__dataclass_fields__}


def _with(p: CallerProfile, **changes: Any) -> CallerProfile:
    return p.__class__(**{**_fields(p), **changes})


def _call_update(other: Channel) -> Headers:
    return [("Direction", "SEND"), ("Sent-Callee-ID-Name", other.profile.caller_id_name),
            ("Sent-Callee-ID-Number", other.profile.caller_id_number),
            ("Bridged-To", other.uuid)]


def _app_headers(app: App, response: str | None = None) -> Headers:
    h: Headers = [("Application", app.name)]
    if app.arg:
        h.append(("Application-Data", app.arg))
    if response is not None:
        h.append(("Application-Response", response))
    if app.name != "uuid_bridge":
        h.append(("Application-UUID", app.app_uuid))
    return h

