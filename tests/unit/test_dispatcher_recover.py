"""Recovery of a lost attempt's legs before the next attempt dials (Dispatcher._recover,
CallFlow.hang_up), without a switch: nothing is dialled unless the switch confirmed the
lost attempt's legs gone."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from fsworker.core.recovery import FoundLeg
from fsworker.esl.proto.errors import CommandTimeoutError
from fsworker.service import dispatcher as dispatcher_mod
from fsworker.service.callflow import CallFlow, FlowSettings
from fsworker.service.dispatcher import AttemptReleased, Dispatcher, NodeSlot
from fsworker.service.legs import LegWatcher
from fsworker.store.claim import ClaimedTask
from tests import factories

T = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
RINGING = "e0000000-0000-4000-8000-000000000001"


class Switch:
    """Answers uuid_kill; uuid_exists says 'true' ``up_for`` times, then 'false' (or fails)."""

    def __init__(self, up_for: int = 0, *, fail: bool = False) -> None:
        self.up_for = up_for
        self.fail = fail
        self.sent: list[tuple[str, str]] = []

    def api(self, command: str, arg: str = "", *, timeout: float | None = None) -> str:
        self.sent.append((command, arg))
        if command != "uuid_exists":
            return "+OK\n"
        if self.fail:
            raise CommandTimeoutError("uuid_exists: no answer")
        self.up_for -= 1
        return "true" if self.up_for >= 0 else "false"


def flow(switch: Switch) -> CallFlow:
    return CallFlow(switch, LegWatcher(), FlowSettings(command_timeout_s=1))  # type: ignore[arg-type]


@pytest.mark.parametrize(("switch", "gone"), [
    (Switch(0), True),  # gone at once
    (Switch(2), True),  # gone after two looks
    (Switch(10**6), False),  # still up when the wait is over
    (Switch(fail=True), False),  # the switch does not say
])
def test_hang_up_says_whether_the_switch_confirmed_the_legs_gone(switch: Switch, gone: bool) -> None:
    assert flow(switch).hang_up([RINGING], "NORMAL_CLEARING", "task 7 attempt 2", wait_s=0.3) is gone
    assert switch.sent[0] == ("uuid_kill", f"{RINGING} NORMAL_CLEARING")


class Store:
    def next_due_at(self, *args: object, **kwargs: object) -> None:  # the claimer's wake-up: not used here
        return None

    def bridged_unaccounted(self, task_id: int) -> None:
        return None


def recover(monkeypatch: pytest.MonkeyPatch, gone: bool) -> bool:
    """_recover of task 7, whose lost attempt left an employee leg ringing."""
    leg = FoundLeg(uuid=RINGING, task_id=7, attempt=1, role="employee", endpoint="sofia/internal/101@pbx",
                   answered_us=0, bridged_us=0, other_uuid=None, dumped_us=1)
    monkeypatch.setattr(dispatcher_mod, "find_task_legs", lambda conn, task_id, timeout: [leg])
    hung_up: list[list[str]] = []

    def hang_up(uuids: list[str], cause: str, tag: str) -> bool:
        hung_up.append(uuids)
        return gone

    node_flow = SimpleNamespace(conn=None, settings=FlowSettings(), hang_up=hang_up)
    node = NodeSlot(name="fs1", flow=node_flow, is_up=lambda: True)  # type: ignore[arg-type]
    d = Dispatcher(queue=Store(), catalog=factories.catalog, nodes=[node], worker_id="w2")  # type: ignore[arg-type]
    task = ClaimedTask(task_id=7, attempt_id=9, customer_number="79161234567", rule_id=1, rule_name="r",
                       attempt_no=2, due_at=T, created_at=T, lease_expires_at=T, recover_legs=True)
    try:
        return d._recover(task, factories.lost_call(), None, "task 7 attempt 2", None, None)  # type: ignore[arg-type]
    finally:
        assert hung_up == [[RINGING]]


def test_a_lost_attempts_leg_confirmed_gone_lets_the_attempt_dial(monkeypatch: pytest.MonkeyPatch) -> None:
    assert recover(monkeypatch, gone=True) is False  # False: dial as usual


def test_a_lost_attempts_leg_not_confirmed_gone_gives_the_task_back_undialled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AttemptReleased, match="not confirmed gone") as exc:
        recover(monkeypatch, gone=False)
    assert exc.value.recover_legs  # the next claimer looks for the legs again
