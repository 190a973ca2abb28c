# Dialplan / sendmsg applications of the fake PBX. Rules: an app starts on a channel,
# finishes by calling ``pbx.app_done`` (at once or from a timer), and knows how to
# unwind when its channel hangs up while it runs (the events FreeSWITCH emits then).
# "Loop" apps (park, bridge while bridged, callcenter) let queued messages run on top
# of them, as FreeSWITCH's park/bridge loops do.
"""Applications: set, ring_ready, answer, park, speak, playback, sleep, hangup,
bridge, callcenter, att_xfer."""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from fsworker.testing.fakeswitch.dialing import DialJob, parse_dial_string

if TYPE_CHECKING:
    from fsworker.testing.fakeswitch.channels import Channel
    from fsworker.testing.fakeswitch.pbx import FakePBX


class App:
    name = ""
    loop = False  #: queued messages may run on top of it

    def __init__(self, arg: str = "", *, private: list[tuple[str, str]] | None = None,
                 app_uuid: str | None = None) -> None:
        self.arg = arg
        self.private = private  #: the sendmsg headers, for PRIVATE_COMMAND
        self.app_uuid = app_uuid or str(_uuid.uuid4())
        self.timer: object | None = None

    def start(self, pbx: FakePBX, ch: Channel) -> None:
        pbx.app_done(ch, self)

    def unwind(self, pbx: FakePBX, ch: Channel) -> None:
        """The channel hung up while this app ran."""
        pbx.app_done(ch, self, run_next=False)


class SetApp(App):
    name = "set"

    def start(self, pbx: FakePBX, ch: Channel) -> None:
        key, _, value = self.arg.partition("=")
        if key:
            ch.set_var(key, value)
        pbx.app_done(ch, self)


class RingReadyApp(App):
    name = "ring_ready"

    def start(self, pbx: FakePBX, ch: Channel) -> None:
        pbx.mark_progress(ch)
        pbx.app_done(ch, self)


class AnswerApp(App):
    name = "answer"

    def start(self, pbx: FakePBX, ch: Channel) -> None:
        pbx.answer(ch)
        pbx.app_done(ch, self)


class ParkApp(App):
    name = "park"
    loop = True

    def start(self, pbx: FakePBX, ch: Channel) -> None:
        ch.emit("CHANNEL_PARK")

    def unwind(self, pbx: FakePBX, ch: Channel) -> None:
        ch.emit("CHANNEL_UNPARK")
        pbx.app_done(ch, self, run_next=False)


class TimedApp(App):
    """An app that takes time (speak, playback, sleep) and is logged as media."""

    response = "_none_"

    def duration(self, pbx: FakePBX) -> float:
        return 0.0

    def start(self, pbx: FakePBX, ch: Channel) -> None:
        self.started = pbx.stamp()
        self.on_start(pbx, ch)
        self.timer = pbx.scheduler.call_later(self.duration(pbx), self._end, pbx, ch)

    def on_start(self, pbx: FakePBX, ch: Channel) -> None:
        pass

    def on_end(self, pbx: FakePBX, ch: Channel, status: str) -> None:
        pass

    def _end(self, pbx: FakePBX, ch: Channel) -> None:
        if self in ch.apps and ch.alive:
            self._log(pbx, ch)
            self.on_end(pbx, ch, "done")
            pbx.app_done(ch, self, response=self.response)

    def unwind(self, pbx: FakePBX, ch: Channel) -> None:
        if self.timer is not None:
            self.timer.cancel()  # type: ignore[attr-defined]
        self._log(pbx, ch)
        self.on_end(pbx, ch, "break")
        pbx.app_done(ch, self, response=self.response, run_next=False)

    def _log(self, pbx: FakePBX, ch: Channel) -> None:
        if self.name in ("speak", "playback"):
            pbx.record_media(ch, self.name, self.arg, self.started, pbx.stamp())


class SpeakApp(TimedApp):
    name = "speak"

    def duration(self, pbx: FakePBX) -> float:
        text = self.arg.split("|", 2)[-1]
        return pbx.speak_duration(text)


class PlaybackApp(TimedApp):
    name = "playback"
    response = "FILE PLAYED"

    def duration(self, pbx: FakePBX) -> float:
        return pbx.playback_duration(self.arg)

    def _file_headers(self) -> list[tuple[str, str]]:
        kind = self.arg.split("://", 1)[0] if "://" in self.arg else "file"
        return [("Playback-File-Type", kind), ("Playback-File-Path", self.arg)]

    def on_start(self, pbx: FakePBX, ch: Channel) -> None:
        ch.emit("PLAYBACK_START", suffix=self._file_headers())

    def on_end(self, pbx: FakePBX, ch: Channel, status: str) -> None:
        ch.emit("PLAYBACK_STOP", suffix=self._file_headers() + [("Playback-Status", status)])


class SleepApp(TimedApp):
    name = "sleep"

    def duration(self, pbx: FakePBX) -> float:
        try:
            return max(0, int(self.arg or "0")) / 1000.0
        except ValueError:
            return 0.0


class HangupApp(App):
    name = "hangup"

    def start(self, pbx: FakePBX, ch: Channel) -> None:
        pbx.hangup(ch, self.arg or "NORMAL_CLEARING")


class BridgeApp(App):
    name = "bridge"
    loop = True

    def start(self, pbx: FakePBX, ch: Channel) -> None:
        self.job: DialJob | None = None
        self.partner: Channel | None = None
        try:
            dial = parse_dial_string(self.arg)
        except ValueError:
            ch.set_var("originate_disposition", "INVALID_GATEWAY")
            pbx.app_done(ch, self)
            return
        if ch.answered:
            ch.set_call_state("RING_WAIT")
        self.job = DialJob(pbx, dial, parent=ch, origin="bridge",
                           on_answer=lambda b: self._answered(pbx, ch, b),
                           on_fail=lambda cause: self._failed(pbx, ch, cause))
        self.job.start()

    def _answered(self, pbx: FakePBX, ch: Channel, b: Channel) -> None:
        self.partner = b
        pbx.set_dial_result(ch, "SUCCESS")
        pbx.bridge_pair(ch, b)

    def _failed(self, pbx: FakePBX, ch: Channel, cause: str) -> None:
        pbx.set_dial_result(ch, cause)
        if self in ch.apps and ch.alive and ch.variables.get("continue_on_fail") != "true":
            pbx.hangup(ch, cause)  # 15: without continue_on_fail the caller gets the cause
            return
        if self in ch.apps and ch.alive:
            if ch.answered and ch.call_state == "RING_WAIT":
                ch.call_state = "ACTIVE"
            pbx.app_done(ch, self)

    def partner_gone(self, pbx: FakePBX, ch: Channel) -> None:
        """The bridged B-leg hung up: unbridge, complete, maybe hang up (hangup_after_bridge)."""
        pbx.unbridge(ch)
        pbx.app_done(ch, self, run_next=False)
        if ch.variables.get("hangup_after_bridge") == "true":
            pbx.hangup(ch, "NORMAL_CLEARING")
        else:
            pbx.scheduler.call_later(0, pbx.run_next, ch)

    def transferred(self, pbx: FakePBX, ch: Channel) -> None:
        pbx.app_done(ch, self, run_next=False)

    def unwind(self, pbx: FakePBX, ch: Channel) -> None:
        if self.job is not None and not self.job.finished:
            self.job.cancel("ORIGINATOR_CANCEL")
        if self.partner is not None and ch.bridged_to == self.partner.uuid:
            pbx.unbridge(ch)
        pbx.app_done(ch, self, run_next=False)


class CallcenterApp(App):
    """mod_callcenter with no agents: the caller waits on hold music until they go."""

    name = "callcenter"
    loop = True

    def start(self, pbx: FakePBX, ch: Channel) -> None:
        self.joined = int(pbx.scheduler.now())
        pbx.fire_custom_cc(ch, "member-queue-start", self.arg, joined=self.joined)
        ch.emit("PLAYBACK_START", suffix=[("Playback-File-Type", "local_stream"),
                                          ("Playback-File-Path", "local_stream://moh")])

    def unwind(self, pbx: FakePBX, ch: Channel) -> None:
        ch.emit("PLAYBACK_STOP", suffix=[("Playback-File-Type", "local_stream"),
                                         ("Playback-File-Path", "local_stream://moh"),
                                         ("Playback-Status", "break")])
        pbx.fire_custom_cc(ch, "member-queue-end", self.arg, joined=self.joined)
        pbx.app_done(ch, self, run_next=False)


class AttXferApp(App):
    """Attended transfer from the employee leg: hold the partner, consult the target."""

    name = "att_xfer"
    loop = True

    def start(self, pbx: FakePBX, ch: Channel) -> None:
        ch.set_call_state("RING_WAIT")
        held = pbx.channels.get(ch.bridged_to or "")
        if held is not None:
            ch.set_var("soft_holding_uuid", held.uuid)
            pbx.queue_app(held, PlaybackApp("local_stream://moh",
                                            private=[("call-command", "execute")]))
        dial = parse_dial_string(self.arg)
        self.job = DialJob(pbx, dial, parent=ch, origin="bridge",
                           on_answer=lambda c: self._answered(pbx, ch, c),
                           on_fail=lambda cause: self._failed(pbx, ch))
        self.job.timeout_cause = "ATTENDED_TRANSFER"  # what 07b recorded at the timeout
        self.job.start()

    def _answered(self, pbx: FakePBX, ch: Channel, target: Channel) -> None:
        # Not traced: treat as completed transfer (the employee hangs up afterwards).
        pbx.hangup(target, "NORMAL_CLEARING")
        self._failed(pbx, ch)

    def _failed(self, pbx: FakePBX, ch: Channel) -> None:
        if self in ch.apps and ch.alive:
            pbx.app_done(ch, self)

    def unwind(self, pbx: FakePBX, ch: Channel) -> None:
        pbx.app_done(ch, self, run_next=False)


APPS: dict[str, Callable[..., App]] = {
    cls.name: cls
    for cls in (SetApp, RingReadyApp, AnswerApp, ParkApp, SpeakApp, PlaybackApp, SleepApp,
                HangupApp, BridgeApp, CallcenterApp, AttXferApp)
}


def make_app(name: str, arg: str = "", **kw: object) -> App:
    factory = APPS.get(name)
    if factory is None:
        app = App(arg, **kw)  # type: ignore[arg-type]
        app.name = name  # unknown apps complete at once, as a no-op
        return app
    return factory(arg, **kw)
