"""CallFlow's phases against a scripted switch (no TCP, no database): which commands
each phase sends, in what order, and what the attempt's result says."""

from __future__ import annotations

import re
from types import SimpleNamespace

import gevent.event
import pytest

from fsworker.core.outcomes import AttemptOutcome
from fsworker.core.prompts import PromptAction, PromptKind
from fsworker.core.strategies import DialPlan, DialStep
from fsworker.esl.proto.frames import Event
from fsworker.service.callflow import AttemptRequest, CallFlow
from fsworker.service.legs import LegWatcher

EMP = "e0000000-0000-4000-8000-000000000001"


class ScriptedSwitch:
    """Answers like a switch where the employee answers and the hint plays; the
    customer's originate answers ``customer_reply``; a bridged call talks ``talk_s``."""

    def __init__(self, watcher: LegWatcher, customer_reply: str, talk_s: int = 30) -> None:
        self.watcher = watcher
        self.customer_reply = customer_reply
        self.talk_s = talk_s
        self.sent: list[tuple[str, str]] = []
        self.is_connected = True
        self.customer: str | None = None

    def emit(self, name: str, uuid: str, at_s: int, **headers: str) -> None:
        self.watcher.feed(Event({"Event-Name": name, "Unique-ID": uuid, "Event-Date-Timestamp": str(at_s * 10**6),
                                 "variable_fsw_task_id": "7", "variable_fsw_attempt": "2", **headers},
                                encoded=False))

    def bgapi_start(self, command: str, arg: str, *, timeout: float, survive_reconnect: bool) -> SimpleNamespace:
        self.sent.append((command, arg))
        job = SimpleNamespace(result=gevent.event.AsyncResult())
        if "fsw_role=employee" in arg:
            self.emit("CHANNEL_CREATE", EMP, 1, **{"Channel-Name": "sofia/internal/101@pbx"})
            self.emit("CHANNEL_ANSWER", EMP, 2)
            job.result.set(f"+OK {EMP}\n")
        else:
            self.customer = re.search(r"origination_uuid=([^,}]+)", arg).group(1)  # type: ignore[union-attr]
            if self.customer_reply.startswith("+OK"):
                self.emit("CHANNEL_ANSWER", self.customer, 10)
            job.result.set(self.customer_reply)
        return job

    def sendmsg(self, uuid: str, app: str, arg: str = "", *, event_lock: bool, timeout: float) -> None:
        self.sent.append((f"sendmsg {app}", uuid))
        self.emit("CHANNEL_EXECUTE_COMPLETE", uuid, 5, Application=app)

    def api(self, command: str, arg: str = "", *, timeout: float | None = None) -> str:
        self.sent.append((command, arg))
        if command == "uuid_bridge":
            assert self.customer is not None
            self.emit("CHANNEL_BRIDGE", EMP, 11, **{"Other-Leg-Unique-ID": self.customer})
            self.emit("CHANNEL_HANGUP", self.customer, 11 + self.talk_s, **{"Hangup-Cause": "NORMAL_CLEARING"})
        return "+OK\n"


def attempt(customer_reply: str, talk_s: int = 30) -> tuple[object, ScriptedSwitch]:
    watcher = LegWatcher()
    switch = ScriptedSwitch(watcher, customer_reply, talk_s)
    req = AttemptRequest(
        task_id=7, attempt=2, attempt_id=31, customer_number="79161234567",
        customer_endpoint="sofia/gateway/pstn/79161234567", customer_caller_id="74950000001",
        plan=DialPlan(steps=(DialStep(endpoints=("user/101",), ring_timeout_s=20),), strategy="group"),
        prompt=PromptAction(kind=PromptKind.SPEAK, engine="flite", voice="slt", text="hello"),
    )
    result = CallFlow(switch, watcher).run(req)  # type: ignore[arg-type]
    return result, switch


def test_a_bridged_call_is_sent_in_order_and_succeeds() -> None:
    result, switch = attempt("+OK customer\n")
    assert result.outcome is AttemptOutcome.SUCCESS and result.talk_s == 30.0
    assert [cmd for cmd, _ in switch.sent] == ["originate", "sendmsg speak", "originate", "uuid_bridge", "uuid_kill"]
    assert ("uuid_bridge", f"{EMP} {switch.customer}") in switch.sent
    assert ("uuid_kill", f"{EMP} NORMAL_CLEARING") in switch.sent  # the employee leg, still up
    assert result.employee_uuid == EMP and result.customer_uuid == switch.customer
    assert result.employee_endpoint == "sofia/internal/101@pbx" and result.rung == (("user/101",),)


def test_a_short_talk_is_not_a_success() -> None:
    result, _ = attempt("+OK customer\n", talk_s=2)
    assert result.outcome is AttemptOutcome.CUSTOMER_SHORT_CALL


@pytest.mark.parametrize(("reply", "outcome"), [
    ("-ERR USER_BUSY\n", AttemptOutcome.CUSTOMER_BUSY),
    ("-ERR NO_ANSWER\n", AttemptOutcome.CUSTOMER_NO_ANSWER),
    ("-ERR UNALLOCATED_NUMBER\n", AttemptOutcome.CUSTOMER_REJECTED),
    ("-ERR GATEWAY_DOWN\n", AttemptOutcome.SWITCH_ERROR),
])
def test_a_failed_customer_leg_ends_with_its_outcome_and_the_employee_is_hung_up(
        reply: str, outcome: AttemptOutcome) -> None:
    result, switch = attempt(reply)
    assert result.outcome is outcome and result.detail == reply.removeprefix("-ERR ").strip()
    assert result.customer_uuid == switch.customer and result.employee_uuid == EMP
    assert "uuid_bridge" not in [cmd for cmd, _ in switch.sent]
    assert ("uuid_kill", f"{EMP} NORMAL_CLEARING") in switch.sent
    # A switch error may leave an unseen leg up: every leg tagged with the attempt goes.
    swept = ("hupall", "NORMAL_CLEARING fsw_attempt_id 31") in switch.sent
    assert swept is (outcome is AttemptOutcome.SWITCH_ERROR)
