"""Issue 7, faults: SIGTERM during a busy minute. The worker stops claiming, lets
attempts finish within ``shutdown_grace_s``, gives the rest back (not counted) and
exits 0; calls it leaves bridged keep talking and the next worker adopts them; no
attempt is left half-way, nobody is rung twice at once."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from tests.chaos.procs import Db, Lab, wait_for
from tests.chaos.world import KINDS, World, check_world, phase_of, script_switch, settle, setup_db

pytestmark = pytest.mark.chaos

GRACE_S = 8
PER_KIND = 5  # 25 customers, in every phase at once


def test_sigterm_in_a_busy_minute_finishes_or_releases_every_attempt(pg_db_url: str, lab: Lab) -> None:
    db = Db(pg_db_url)
    try:
        run(lab, pg_db_url, db)
    finally:
        db.close()


def run(lab: Lab, db_url: str, db: Db) -> None:
    setup_db(db_url)
    sw = lab.switch()
    script_switch(sw)
    world = World()
    first = lab.worker("first", db_url=db_url, port=sw.port, workers=40, grace_s=GRACE_S)
    for _ in range(PER_KIND):
        for kind in KINDS:
            world.lose(sw, kind)

    def busy() -> bool:
        legs = sw.legs()[1]
        world.observe(legs)
        tasks = db.tasks()
        phases = Counter(phase_of(next((t for t in tasks if t["customer_number"] == c.customer), None), legs)
                         for c in world.calls)
        return len(tasks) == len(world.calls) and all(phases[p] >= 3 for p in ("ringing", "hint", "cust_ring",
                                                                                "bridged"))

    wait_for("calls in every phase", busy, 30, alive=lambda: first.alive)
    legs = sw.legs()[1]
    before = {t["id"]: t for t in db.tasks()}
    phases = [phase_of(next(t for t in before.values() if t["customer_number"] == c.customer), legs)
              for c in world.calls]
    bridged = [g for g in legs if g.up and g.role == "customer" and g.bridged_at]

    sigterm_at = datetime.now(UTC)
    t0 = time.monotonic()
    first.terminate()
    rc = first.popen.wait(timeout=GRACE_S + 20)
    took = time.monotonic() - t0
    print(f"phases at SIGTERM: { {p: phases.count(p) for p in set(phases)} }; exited {rc} after {took:.1f}s")
    assert rc == 0, first.tail()
    assert took <= GRACE_S + 5, f"took {took:.1f}s to stop with a grace of {GRACE_S}s"

    # nothing half-way: every attempt ended or was given back; unfinished tasks pending, free
    attempts = db.attempts()
    assert not [a for a in attempts if a["ended_at"] is None], attempts
    for t in db.tasks():
        assert t["status"] in ("pending", "done"), t
        assert t["lease_owner"] is None, t
        if t["status"] == "pending":
            counted = [a for a in attempts if a["task_id"] == t["id"]]
            # the attempt given back is not counted: no row for the task's current attempt
            # number, unless its customer had been bridged (kept so nobody rings them again)
            assert all(a["attempt_no"] < t["attempt_no"] or (a["bridged_at"] is not None
                                                             and a["outcome"] == "lease_lost")
                       for a in counted), (t, counted)

    # left on the switch: only bridged calls (employee + customer), talking on
    time.sleep(1.0)
    _, legs = sw.legs()
    world.observe(legs)
    up = [g for g in legs if g.up]
    stray = [g for g in up if not g.bridged_to]
    assert not stray, f"legs left up that are not bridged: {[(g.uuid, g.role, g.task_id, g.app) for g in stray]}"
    still = {g.uuid for g in up}
    for g in bridged:
        if g.uuid in still:
            world.bridged_at_fault[g.uuid] = (g.task_id, sigterm_at)
    assert world.bridged_at_fault, "no bridged call was left up for the next worker to adopt"

    second = lab.worker("second", db_url=db_url, port=sw.port, workers=40, grace_s=GRACE_S)
    settle(db, sw, 90, alive=lambda: second.alive)
    notes = check_world(world, db, sw)
    print("\n".join(notes))
    adopted = [n for n in notes if n.endswith("adopted")]
    assert len(adopted) == len(world.bridged_at_fault), notes
    second.terminate()
    assert second.popen.wait(timeout=GRACE_S + 20) == 0, second.tail()
