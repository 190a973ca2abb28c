"""Issue 7, faults: the switch goes away under a running worker.

(a) The fake switch process is killed mid-call (every leg vanishes, as when FreeSWITCH
    restarts) and a new one starts on the same port: the worker reconnects and
    re-subscribes (a new lost call is detected and called back), its attempts in flight
    end at once instead of waiting for the hint / call timeouts, and their tasks are
    retried by the rules' schedules.
(b) The link is cut in the middle of a frame (a proxy forwards half a chunk, then
    drops both sides) while calls are up: the worker reconnects through the proxy,
    follows the legs that are still up, and every callback completes; nothing is lost.
"""

from __future__ import annotations

import time

import pytest

from tests.chaos.procs import CuttingProxy, Db, Lab, wait_for
from tests.chaos.world import CUSTOMER, KINDS, World, check_world, phase_of, script_switch, settle, setup_db

pytestmark = pytest.mark.chaos

LONG = ("ringing", "hint", "cust_ring", "bridged")


def _all_in_phase(world: World, sw, db: Db) -> bool:  # noqa: ANN001
    legs = sw.legs()[1]
    world.observe(legs)
    return all(phase_of(db.task_of(c.customer), legs) == c.kind for c in world.calls)


def test_switch_killed_mid_call_and_restarted_on_the_same_port(pg_db_url: str, lab: Lab) -> None:
    db = Db(pg_db_url)
    try:
        setup_db(pg_db_url)
        sw = lab.switch()
        script_switch(sw)
        world = World()
        worker = lab.worker("w", db_url=pg_db_url, port=sw.port)
        for kind in LONG:
            world.lose(sw, kind)
        wait_for("calls in every phase", lambda: _all_in_phase(world, sw, db), 30, alive=lambda: worker.alive)
        in_flight = [a for a in db.attempts() if a["ended_at"] is None]
        assert len(in_flight) == len(LONG), in_flight

        sw.proc.kill9()
        t_down = time.monotonic()
        sw2 = lab.switch(sw.port)
        script_switch(sw2)
        for call in world.calls:  # the new switch knows nobody: the customers answer as before
            sw2.endpoint(call.customer, "answer", **CUSTOMER[call.kind])
        wait_for("the worker's second link", lambda: "link #2 up" in worker.text(), 20, alive=lambda: worker.alive)

        # the attempts whose legs vanished end now, not after hint_timeout / max_call
        ids = [a["id"] for a in in_flight]
        ended = wait_for("the attempts in flight to end", lambda: [
            a for a in db.attempts() if a["id"] in ids and a["ended_at"] is not None] if all(
            a["ended_at"] is not None for a in db.attempts() if a["id"] in ids) else None, 15)
        print(f"attempts ended {time.monotonic() - t_down:.1f}s after the switch died: "
              f"{[(a['task_id'], a['outcome'], a['detail']) for a in ended]}")
        # legs that vanished end the attempt as a switch error, retried by the rule's schedule
        # (checked last, so that a wrong outcome does not hide what follows)
        wrong = [(a["task_id"], a["outcome"], a["detail"]) for a in ended if a["outcome"] != "switch_error"]

        # events flow again: a call lost on the new switch is detected and called back
        fresh = world.lose(sw2, "claim")
        wait_for("the new lost call called back", lambda: (t := db.task_of(fresh.customer)) is not None
                 and t["status"] == "done", 30, alive=lambda: worker.alive)

        # the interrupted tasks were retried on the new switch and completed
        settle(db, sw2, 60, alive=lambda: worker.alive)
        print("\n".join(check_world(world, db, sw2)))
        retried = {g.task_id for g in sw2.ours()}
        assert {t["id"] for t in db.tasks()} <= retried, "every task dialled again on the new switch"
        assert worker.alive
        worker.terminate()
        assert worker.popen.wait(timeout=30) == 0, worker.tail()
        assert not wrong, f"attempts whose legs vanished with the switch did not end switch_error: {wrong}"
    finally:
        db.close()


def test_link_cut_in_the_middle_of_a_frame(pg_db_url: str, lab: Lab) -> None:
    db = Db(pg_db_url)
    proxy: CuttingProxy | None = None
    try:
        setup_db(pg_db_url)
        sw = lab.switch()
        script_switch(sw)
        proxy = CuttingProxy(sw.port)
        world = World()
        worker = lab.worker("w", db_url=pg_db_url, port=proxy.port)
        for kind in LONG:
            world.lose(sw, kind)
        wait_for("calls in every phase", lambda: _all_in_phase(world, sw, db), 30, alive=lambda: worker.alive)

        for n in (2, 3):
            proxy.cut_mid_frame()
            wait_for(f"cut {n - 1}", lambda: proxy.cuts >= n - 1, 10)  # noqa: B023
            wait_for(f"the worker's link #{n}", lambda: f"link #{n} up" in worker.text(), 20,  # noqa: B023
                     alive=lambda: worker.alive)
            world.lose(sw, "claim")  # events must flow on the new link
            time.sleep(2.0)

        settle(db, sw, 60, alive=lambda: worker.alive)
        print("\n".join(check_world(world, db, sw)))
        assert len(db.tasks()) == len(world.calls) == len(LONG) + 2
        # the legs that survived the cut were followed, not dialled again: a cut on a
        # command in flight for the customer's leg (its originate, its uuid_bridge) is
        # settled on the next link (the job's result waits for it; both legs are
        # re-checked and bridged again), so every customer was rung exactly once.
        for kind in ("bridged", "cust_ring"):
            call = next(c for c in world.calls if c.kind == kind)
            task = db.task_of(call.customer)
            assert task is not None
            cust = [g for g in sw.ours() if g.task_id == task["id"] and g.role == "customer"]
            assert len(cust) == 1, (kind, cust)
        assert worker.alive
        worker.terminate()
        assert worker.popen.wait(timeout=30) == 0, worker.tail()
    finally:
        if proxy is not None:
            proxy.close()
        db.close()


assert set(LONG) < set(KINDS)
