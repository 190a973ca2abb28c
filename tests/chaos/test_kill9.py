"""Issue 7, faults: a worker killed with SIGKILL at any point of an attempt loses
nothing, never rings a customer twice at once, and the next worker adopts or finishes
the calls it left on the switch (found by their ``fsw_task_id``), not dialling again.

Each run starts a worker, loses four calls that reach four different phases (employee
ringing, hint, customer ringing, bridged), then a fifth, and kills the worker with
SIGKILL the moment the fifth's task is claimed: every kill hits all five phases (and
whatever the worker had taken over from the ones killed before). Each run's calls go
to a lane of rules of their own, so the rules' caps (R10) do not hold them up behind
the dead workers' tasks. The next run's worker is the "fresh worker": it takes over
the dead one's tasks when their leases run out, while new calls arrive, and is killed
in its turn, sometimes in the middle of a recovery. A last worker is left to finish;
then the invariants of ``world.check_world`` must hold.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from tests.chaos.procs import Db, Lab, wait_for
from tests.chaos.world import KINDS, World, check_world, phase_of, script_switch, settle, setup_db

pytestmark = pytest.mark.chaos

#: kills per database (CHAOS_KILL_RUNS overrides, e.g. for a quick local try)
RUNS = {"postgresql": 20, "sqlite": 5}
LONG = ("ringing", "hint", "cust_ring", "bridged")
#: how long the bridged kind's customers talk here: a call bridged at a kill must still be
#: up when a worker takes its task over, a lease (10 s) after the kill or later. With the
#: kind's 16 s the last run's call had ~7 s to spare before the final worker adopted it
#: (6.8-7.7 s measured), and one SQLite run found no call to adopt at all.
BRIDGED_TALK_S = 30


def test_kill9_at_every_phase_loses_nothing_and_rings_no_one_twice(
        db_url: str, db: Db, lab: Lab) -> None:
    runs = int(os.environ.get("CHAOS_KILL_RUNS") or RUNS["sqlite" if db_url.startswith("sqlite") else "postgresql"])
    setup_db(db_url)
    sw = lab.switch()
    script_switch(sw)
    world = World()
    seen: Counter[str] = Counter()
    started = time.monotonic()

    for run in range(runs):
        name = f"w{run:02d}"
        t_run = time.monotonic()
        worker = lab.worker(name, db_url=db_url, port=sw.port)
        t_up = time.monotonic()
        # new calls on the next lane (rule) of each kind: the dead workers' tasks, taken
        # over when their leases run out, do not hold up this run's calls by the rules' caps
        batch = [world.lose(sw, kind, lane=run, talk_s=BRIDGED_TALK_S if kind == "bridged" else None)
                 for kind in LONG]

        def in_phase() -> bool:
            legs = sw.legs()[1]
            world.observe(legs)
            return all(phase_of(db.task_of(c.customer), legs) == c.kind for c in batch)  # noqa: B023

        wait_for(f"run {run}: the new calls in their phases", in_phase, 30, every=0.1,
                 alive=lambda w=worker: w.alive)
        claim = world.lose(sw, "claim", lane=run)
        wait_for(f"run {run}: the last call's task claimed",
                 lambda: (t := db.task_of(claim.customer)) is not None and t["status"] == "active",  # noqa: B023
                 20, every=0.02, alive=lambda w=worker: w.alive)
        worker.kill9()
        fault_at = datetime.now(UTC)

        # what the dead worker left behind, by phase
        legs = sw.legs()[1]
        world.observe(legs)
        for task in db.tasks():
            if task["lease_owner"] != name:
                continue
            phase = "claim" if task["customer_number"] == claim.customer else phase_of(task, legs)
            seen[phase or "claimed, nothing on the switch"] += 1
            if phase == "claim" and any(g.task_id == task["id"] for g in legs):
                seen["claim, employee leg already created"] += 1
            if phase == "bridged":
                cust = next(g for g in legs if g.task_id == task["id"] and g.role == "customer"
                            and g.up and g.bridged_at)
                world.bridged_at_fault.setdefault(cust.uuid, (task["id"], fault_at))
        print(f"run {run}: {name} up in {t_up - t_run:.1f}s, killed {time.monotonic() - t_up:.1f}s later; "
              f"{len(db.tasks())} tasks so far")

    final = lab.worker("final", db_url=db_url, port=sw.port)
    t_final = time.monotonic()
    settle(db, sw, 150, alive=lambda: final.alive)
    # A customer rung in several killed attempts can run out of attempts (they count).
    notes = check_world(world, db, sw, reasons=frozenset({"success", "attempts_exhausted"}))
    print(f"settled {time.monotonic() - t_final:.0f}s after the last worker started")
    print(f"{runs} kills in {time.monotonic() - started:.0f}s; phases at the kills: {dict(seen)}")
    adopted = sum(n.endswith("adopted") for n in notes)
    unwatched = sum("no worker watched" in n for n in notes)
    print(f"bridged calls at the kills: {adopted} adopted, {unwatched} ended while no worker was alive "
          f"to watch them (then dialled again, by design); {notes[-1]}")
    # each kill meant to hit all five; timing may move a call on by one phase now and then
    assert all(seen[kind] >= runs for kind in KINDS), f"phases hit by the kills: {dict(seen)}"
    assert adopted, "no bridged call was adopted"
    final.terminate()
    assert final.popen.wait(timeout=30) == 0, final.tail()


