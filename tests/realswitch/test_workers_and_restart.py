"""Several fsworker processes on one real switch, and the switch restarting under a
running worker. Both are asserted from the switch's events: who was dialled, how often,
when."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.realswitch.harness import Lab, unique_number
from tests.realswitch.switchctl import FS_BIN, restart_switch1
from tests.realswitch.test_callbacks import GROUP_DID, _sqlite, setup_group_rule


def hang_up_bridged_calls(lab: Lab, cfg: Path, numbers: list[str], *, talk_s: float, timeout: float) -> None:
    """Every callback customer leg of these numbers is hung up ``talk_s`` after its bridge,
    until each number's task has ended (SIPp phones never hang up by themselves)."""
    first_bridged: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    next_check = 0.0
    while time.monotonic() < deadline:
        for leg in filter(lab.observer.ours, lab.observer.legs()):
            if leg.role == "customer" and not leg.ended and leg.bridged_to is not None:
                first_bridged.setdefault(leg.uuid, time.monotonic())
            partner_bridged = leg.role == "employee" and leg.bridged_to
            if partner_bridged:
                first_bridged.setdefault(str(leg.bridged_to), time.monotonic())
        for uuid, since in list(first_bridged.items()):
            if time.monotonic() - since >= talk_s:
                lab.switch.esl.api("uuid_kill", uuid)
                first_bridged[uuid] = float("inf")
        if time.monotonic() >= next_check:  # the CLI takes a while: ask now and then
            next_check = time.monotonic() + 2
            tasks = [lab.task_of(cfg, n) for n in numbers]
            if all(t is not None and t["status"] == "done" for t in tasks):
                return
        time.sleep(0.3)
    raise AssertionError(f"tasks not done in {timeout}s: {[lab.task_of(cfg, n) for n in numbers]}")


def test_two_workers_on_one_switch_call_each_customer_back_once(lab: Lab, pg_url: str) -> None:
    customers = [unique_number() for _ in range(3)]
    cfg1 = lab.config("w1", db_url=pg_url, workers=1)
    cfg2 = lab.config("w2", db_url=pg_url, workers=1)
    setup_group_rule(lab, cfg1, endpoints={"Anna": "sofia/internal/101@127.0.0.1:5071"}, max_concurrent=3)
    lab.run("w1", cfg1)
    lab.run("w2", cfg2)

    calls = [lab.customer(n, GROUP_DID, hold_ms=2000) for n in customers]
    for call in calls:
        assert call.wait(30) == 0, call.out.read_text(errors="replace")
    hang_up_bridged_calls(lab, cfg1, customers, talk_s=2.5, timeout=120)

    workers = set()
    for number in customers:
        task = lab.task_of(cfg1, number)
        assert task is not None and task["end_reason"] == "success", task
        # both workers saw the lost call; it made one task, called back once
        assert len(task["lost_calls"]) == 1 and len(task["attempts"]) == 1, task
        workers.add(task["attempts"][0]["worker"])
        legs = lab.observer.callback_legs(task["id"])
        assert sorted(leg.role for leg in legs) == ["customer", "employee"], legs
        dialled = [leg for leg in lab.observer.legs() if leg.task_id is not None
                   and leg.name == f"sofia/internal/{number}@127.0.0.1:5074"]
        assert len(dialled) == 1, dialled
    assert len([t for t in lab.tasks(cfg1) if t["customer_number"] in customers]) == 3
    assert workers == {"w1", "w2"}, workers


@pytest.mark.skipif(not FS_BIN.exists(),
                    reason=f"restarting the switch needs its binary here ({FS_BIN}; FSWORKER_REAL_SWITCH_BIN)")
def test_switch_restart_with_a_call_up_and_tasks_waiting(lab: Lab) -> None:
    up, waiting = unique_number(), unique_number()
    cfg = lab.config("w1", db_url=_sqlite(lab), workers=1)
    setup_group_rule(lab, cfg, endpoints={"Anna": "sofia/internal/101@127.0.0.1:5071"}, intervals="0")
    worker = lab.run("w1", cfg)

    # one callback bridged and talking; the only worker is busy, so the second task waits
    lab.lost_call(up, GROUP_DID, ring_ms=2000)
    lab.until("the first callback to be bridged", lambda: any(
        leg.bridged_to for leg in lab.observer.legs() if leg.task_id is not None and leg.role == "employee"), 40)
    lab.lost_call(waiting, GROUP_DID, ring_ms=2000)
    lab.until("the second task", lambda: lab.task_of(cfg, waiting), 20)
    time.sleep(3)  # talk longer than min_talk_s before the switch goes away
    assert lab.task_of(cfg, waiting)["attempts"] == []

    stopped = restart_switch1(lab.switch)
    lab.observer.reconnect()
    lab.until("the worker's second ESL link", lambda: "link #2 up" in worker.text(), 60)

    hang_up_bridged_calls(lab, cfg, [waiting], talk_s=2.5, timeout=90)
    first, second = lab.task_of(cfg, up), lab.task_of(cfg, waiting)
    # the call cut by the restart (SYSTEM_SHUTDOWN) had talked past min_talk_s: a success,
    # and that customer is not dialled again
    assert first["status"] == "done" and first["end_reason"] == "success", first
    assert len(first["attempts"]) == 1, first
    assert [leg.cause for leg in lab.observer.callback_legs(first["id"])] == ["SYSTEM_SHUTDOWN"] * 2
    # the waiting task is called back on the restarted switch, on its one and only attempt:
    # `freeswitch -stop` hangs up every call, then keeps the Event Socket open ~2 s more
    # while originates fail at once with DESTINATION_OUT_OF_ORDER; the worker freed by the
    # cut call dials the waiting task in that window, and that attempt must not count
    # (the worker gives the task back; esl-traces/NOTES.md)
    assert second["end_reason"] == "success", second
    assert [a["outcome"] for a in second["attempts"]] == ["success"], second
    talked = [leg for leg in lab.observer.callback_legs(second["id"]) if leg.answered]
    assert sorted(leg.role for leg in talked) == ["customer", "employee"], talked
    assert all(leg.created_us / 1e6 > stopped - 1 for leg in talked), (stopped, [leg.created_us for leg in talked])
