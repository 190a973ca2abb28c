"""PostgreSQL only (D3, R10): several processes claiming from one database at once."""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from itertools import repeat

from sqlalchemy import insert, text

from fsworker.store import tables as t
from fsworker.store.engine import make_engine
from fsworker.store.repo import Repository
from tests.integration.conftest import _empty_pg
from tests.integration.helpers import rule
from tests.integration.workers import claim_all, hold_and_record

PROCESSES = 4


def _seed(url: str, rules: dict[str, int], per_rule: int) -> list[int]:
    """Rules {name: cap} with ``per_rule`` due tasks each; returns the task ids."""
    _empty_pg(url)
    engine = make_engine(url)
    repo = Repository(engine)
    for name, cap in rules.items():
        repo.add_rule(rule(name, max_concurrent=cap))
    past = datetime.now(UTC) - timedelta(minutes=1)
    with engine.begin() as conn:
        rule_ids = dict(conn.execute(text("SELECT name, id FROM rules")).all())
        n = 0
        for name in rules:
            conn.execute(insert(t.tasks), [
                {"customer_number": f"+7900{(n := n + 1):07d}", "rule_id": rule_ids[name], "rule_name": name,
                 "status": "pending", "attempt_no": 1, "due_at": past, "created_at": past}
                for _ in range(per_rule)
            ])
        ids = [r[0] for r in conn.execute(text("SELECT id FROM tasks"))]
    engine.dispose()
    return ids


def test_four_processes_claim_2000_tasks_each_exactly_once(pg_migrated: str) -> None:
    ids = _seed(pg_migrated, {f"r{i}": 5 for i in range(20)}, per_rule=100)
    assert len(ids) == 2000
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0  # let every process import and connect first
    with ctx.Pool(PROCESSES) as pool:
        results = pool.starmap(claim_all, zip(repeat(pg_migrated), [f"w{i}" for i in range(PROCESSES)],
                                              repeat(start_at), repeat(10)))
    claimed = [task_id for r in results for task_id in r]
    assert len(claimed) == len(set(claimed)), "a task was claimed twice"
    assert sorted(claimed) == sorted(ids)
    assert sum(1 for r in results if r) >= 2, "the workers did not actually run concurrently"
    engine = make_engine(pg_migrated)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM attempts")).scalar() == 2000
        assert conn.execute(text("SELECT count(*) FROM tasks WHERE status <> 'done'")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM rule_slots WHERE attempt_id IS NOT NULL")).scalar() == 0
    engine.dispose()


def test_cap_of_two_holds_across_four_processes(pg_migrated: str) -> None:
    ids = _seed(pg_migrated, {"capped": 2}, per_rule=120)
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0
    engine = make_engine(pg_migrated)
    samples: list[int] = []
    with ctx.Pool(PROCESSES) as pool:
        pending = pool.starmap_async(hold_and_record, zip(repeat(pg_migrated), [f"w{i}" for i in range(PROCESSES)],
                                                          repeat(start_at), repeat(0.01)))
        # Sample the database while the workers run.
        with engine.connect() as conn:
            while not pending.ready():
                samples.append(conn.execute(text("SELECT count(*) FROM tasks WHERE status = 'active'")).scalar())
                conn.commit()
                time.sleep(0.001)
        results = pending.get()
    engine.dispose()
    intervals = [iv for r in results for iv in r]
    assert sorted(task for task, _, _ in intervals) == sorted(ids)
    assert max(samples) <= 2, f"the database showed {max(samples)} simultaneous leases of a rule capped at 2"
    # Sweep the intervals each worker recorded: never more than 2 overlap.
    events = sorted([(s, 1) for _, s, _ in intervals] + [(e, -1) for _, _, e in intervals], key=lambda x: (x[0], x[1]))
    live = peak = 0
    for _, d in events:
        live += d
        peak = max(peak, live)
    assert peak <= 2, f"{peak} leases of a rule capped at 2 overlapped in time"
    assert max(samples) == 2 or peak == 2, "the cap was never reached: the test did not exercise it"
