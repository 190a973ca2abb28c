"""One `fsworker run` with two switches (issue 18, "Several switches"): two real
FreeSWITCH instances of the same PBX on one machine (switch A: FSWORKER_REAL_SWITCH,
switch B: FSWORKER_REAL_SWITCH_2, started by `start.sh start2`), one ``[[node]]`` each.

A callback goes out through the switch the customer called; while that switch is down it
waits, unless its node says ``failover = true``. Every assertion about where a call went
is read from each switch's own events and `show channels`, not from fsworker's log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realswitch.harness import Lab, Node, RealSwitch, unique_number
from tests.realswitch.observer import Observer
from tests.realswitch.switchctl import FS_BIN, START_SH, start_switch2, stop_switch2
from tests.realswitch.test_callbacks import GROUP_DID, _sqlite, setup_group_rule

ANNA = {"Anna": "sofia/internal/101@127.0.0.1:5071"}  # the same SIPp phone answers both switches


def _config(lab: Lab, *, failover_b: bool = False, workers: int = 2) -> Path:
    assert lab.switch2 is not None
    return lab.config("w1", db_url=_sqlite(lab), workers=workers,
                      nodes=[Node("a", lab.switch), Node("b", lab.switch2, failover=failover_b)])


def _up_on(switch: RealSwitch, number: str) -> bool:
    return any(number in json.dumps(row) for row in switch.channels())


def _talk_then_hang_up(lab: Lab, switch: RealSwitch, observer: Observer, task_id: int, talk_s: float = 3.0) -> None:
    """The callback customer leg of ``task_id`` on ``switch`` talks ``talk_s``, then is
    hung up there (SIPp phones never hang up by themselves)."""
    def bridged() -> str | None:
        return next((leg.uuid for leg in observer.callback_legs(task_id, "customer")
                     if leg.bridged_to or any(o.bridged_to == leg.uuid for o in observer.callback_legs(task_id))),
                    None)

    uuid = lab.until(f"task {task_id}'s customer leg to be bridged on {switch.port}", bridged, 60)
    time.sleep(talk_s)
    switch.esl.api("uuid_kill", uuid)


def _called_back_on(lab: Lab, observer: Observer, other: Observer, task: dict, number: str) -> None:
    """Both legs of the task's callback are on ``observer``'s switch, none on ``other``'s."""
    legs = observer.callback_legs(task["id"])
    assert sorted(leg.role for leg in legs if leg.answered) == ["customer", "employee"], legs
    assert [leg.name for leg in legs if leg.role == "customer"] == [f"sofia/internal/{number}@127.0.0.1:5074"]
    assert other.callback_legs(task["id"]) == [], other.callback_legs(task["id"])


@pytest.fixture()
def switch2_back(lab2: Lab) -> Iterator[None]:
    """Switch B is running again after the test, whatever it did to it."""
    yield
    assert lab2.switch2 is not None
    try:
        ok = lab2.switch2.esl.ok("status").startswith("UP")
    except Exception:  # noqa: BLE001 - down: start it below
        ok = False
    if not ok:
        start_switch2(lab2.switch2)


def test_each_switch_calls_back_its_own_lost_calls_at_the_same_time(lab2: Lab) -> None:
    lab = lab2
    assert lab.switch2 is not None and lab.observer2 is not None
    on_a, on_b = unique_number(), unique_number()
    cfg = _config(lab)
    setup_group_rule(lab, cfg, endpoints=ANNA, max_concurrent=2)
    lab.run("w1", cfg, links=2)

    calls = [lab.customer(on_a, GROUP_DID, hold_ms=2000, switch=lab.switch),
             lab.customer(on_b, GROUP_DID, hold_ms=2000, switch=lab.switch2)]
    for call in calls:
        assert call.wait(30) == 0, call.out.read_text(errors="replace")
    # each loss happened on its own switch only
    assert lab.observer.customer_legs(on_a) and not lab.observer2.customer_legs(on_a)
    assert lab.observer2.customer_legs(on_b) and not lab.observer.customer_legs(on_b)
    task_a = lab.until("the task of the call lost on A", lambda: lab.task_of(cfg, on_a), 30)
    task_b = lab.until("the task of the call lost on B", lambda: lab.task_of(cfg, on_b), 30)

    # both callbacks up at once, each on its own switch (`show channels` of each)
    lab.until("both callbacks up, each on its own switch", lambda: _up_on(lab.switch, on_a)
              and _up_on(lab.switch2, on_b), 40)
    assert not _up_on(lab.switch, on_b) and not _up_on(lab.switch2, on_a)
    _talk_then_hang_up(lab, lab.switch, lab.observer, task_a["id"])
    _talk_then_hang_up(lab, lab.switch2, lab.observer2, task_b["id"])

    for number in (on_a, on_b):
        done = lab.wait_task_done(cfg, number, 60)
        assert [a["outcome"] for a in done["attempts"]] == ["success"], done
    _called_back_on(lab, lab.observer, lab.observer2, task_a, on_a)
    _called_back_on(lab, lab.observer2, lab.observer, task_b, on_b)
    # at the same time: each callback's employee leg began before the other ended
    (emp_a,), (emp_b,) = lab.observer.callback_legs(task_a["id"], "employee"), \
        lab.observer2.callback_legs(task_b["id"], "employee")
    assert emp_a.created_us < (emp_b.ended_us or 0) and emp_b.created_us < (emp_a.ended_us or 0), (emp_a, emp_b)


@pytest.mark.skipif(not START_SH.exists() or not FS_BIN.exists(),
                    reason=f"stopping switch B needs start.sh and the switch's binary ({FS_BIN})")
@pytest.mark.parametrize("failover", [False, True], ids=["failover_off", "failover_on"])
def test_switch_b_stopped_with_a_callback_waiting(lab2: Lab, switch2_back: None, failover: bool) -> None:
    """Failover off: the callback waits for B (nothing dialled on A) and goes out
    through B once it is back. Failover on: it goes out through A."""
    lab = lab2
    assert lab.switch2 is not None and lab.observer2 is not None
    customer = unique_number()
    cfg = _config(lab, failover_b=failover, workers=1)
    # the first and only attempt 20 s after the loss: time to stop B before it is due
    setup_group_rule(lab, cfg, endpoints=ANNA, intervals="20")
    worker = lab.run("w1", cfg, links=2)

    lab.lost_call(customer, GROUP_DID, ring_ms=2000, switch=lab.switch2)
    task = lab.until("the task of the call lost on B", lambda: lab.task_of(cfg, customer), 30)
    stop_switch2(lab.switch2)
    lab.until("the worker to see B gone", lambda: f"{lab.switch2.port}: link #1 down" in worker.text(), 20)
    assert lab.task_of(cfg, customer)["attempts"] == [], "the attempt was dialled before B stopped"

    if failover:
        _talk_then_hang_up(lab, lab.switch, lab.observer, task["id"])
        done = lab.wait_task_done(cfg, customer, 60)
        assert [a["outcome"] for a in done["attempts"]] == ["success"], done
        _called_back_on(lab, lab.observer, lab.observer2, task, customer)
        assert "failover: origin node 'b' is down" in worker.text()
        return

    lab.until("the callback to wait for B", lambda: "origin node 'b' is down and its failover is off"
              in worker.text(), 40)
    time.sleep(3)  # due, and waiting: nothing may be dialled on A meanwhile
    assert lab.observer.callback_legs(task["id"]) == [], "dialled on A while B was down"
    assert lab.task_of(cfg, customer)["attempts"] == []
    start_switch2(lab.switch2)
    lab.observer2.reconnect()
    _talk_then_hang_up(lab, lab.switch2, lab.observer2, task["id"])
    done = lab.wait_task_done(cfg, customer, 60)
    assert [a["outcome"] for a in done["attempts"]] == ["success"], done
    _called_back_on(lab, lab.observer2, lab.observer, task, customer)
