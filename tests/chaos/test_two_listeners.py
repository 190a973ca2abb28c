"""Issue 17, item 4: two listeners on one switch miss no lost call across a worker's death.

A lost call is seen only by the workers listening to the switch at the moment it ends:
with one `fsworker run`, every call lost while it restarts is missed for good. Two
workers on the same switch and one PostgreSQL database both see every call; the
database takes each lost call in once (its call UUID is unique), so it becomes exactly
one task whichever worker, or both, reported it.

Here a burst of lost calls arrives at two workers; one is killed with SIGKILL in the
middle of the burst and is not restarted. Afterwards every lost call is exactly one
task, every task ended in success, no customer was rung by two legs at once, and only
a customer whose callback the dead worker was running can have been rung a second time
(its interrupted attempt counts, the next follows the rule) — never one it was not.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.chaos.procs import Db, Lab, wait_for
from tests.chaos.world import LANES, World, check_world, script_switch, settle, setup_db

pytestmark = pytest.mark.chaos

BURST = 60  #: lost calls in the burst
KILL_AT = 20  #: the first worker dies after this many
GAP_S = 0.1  #: between two lost calls


def test_two_workers_one_killed_mid_burst_every_lost_call_one_task(pg_db_url: str, lab: Lab) -> None:
    db = Db(pg_db_url)
    try:
        setup_db(pg_db_url)
        sw = lab.switch()
        script_switch(sw)
        first = lab.worker("first", db_url=pg_db_url, port=sw.port)
        second = lab.worker("second", db_url=pg_db_url, port=sw.port)
        world = World()
        held_by_first: set[int] = set()
        for i in range(BURST):
            if i == KILL_AT:
                first.kill9()
                held_by_first = {t["id"] for t in db.tasks() if t["lease_owner"] == "first"}
                print(f"killed 'first' after {i} lost calls; it held tasks {sorted(held_by_first)}")
            # the "claim" kind: the employee answers at once, the customer too and talks 3 s
            world.lose(sw, "claim", lane=i % LANES)
            time.sleep(GAP_S)
        wait_for("every lost call of the burst recorded", lambda: len(db.lost_calls()) >= BURST, 20,
                 alive=lambda: second.alive)
        settle(db, sw, 120, alive=lambda: second.alive)
        notes = check_world(world, db, sw)

        lost = {r["call_uuid"]: r for r in db.lost_calls()}
        assert sorted(lost) == sorted(c.uuid for c in world.calls), "a lost call was missed or invented"
        tasks_per_call = Counter(lost[c.uuid]["task_id"] for c in world.calls)
        assert len(tasks_per_call) == BURST and set(tasks_per_call.values()) == {1}, tasks_per_call

        # who was rung how often: twice only where the dead worker's attempt was interrupted
        legs = [leg for leg in sw.legs()[1] if leg.role == "customer"]
        rung = Counter(leg.task_id for leg in legs)
        twice = {task for task, n in rung.items() if n > 1}
        assert twice <= held_by_first, (f"rung more than once though 'first' never held them: "
                                        f"{sorted(twice - held_by_first)}")
        workers = Counter(a["worker"] for a in db.attempts())
        print(f"{BURST} lost calls, attempts by worker {dict(workers)}, rung twice after the kill: "
              f"{sorted(twice)}; {notes[-1]}")
        assert workers["second"] > 0 and workers["first"] > 0, workers
        second.terminate()
        assert second.popen.wait(timeout=30) == 0, second.tail()
    finally:
        db.close()
