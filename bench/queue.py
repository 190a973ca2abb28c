"""Benchmark: task claims per second on PostgreSQL with 1, 2 and 4 worker processes, at
1,000 and at 100,000 pending tasks. Run: ``python bench/queue.py`` (``make bench``).

Each worker runs the real loop: ``claim_due(limit=10)`` then ``finish_attempt`` for
every claimed task (which frees its rule slot: 50 rules x cap 5). A run claims CLAIMS
tasks in total; claims/s = CLAIMS / (last worker's end - common start). The database is
created for the run and dropped after. Last line: ``claims_per_s_4proc: X`` (the lower
of the 1k and 100k four-process figures). Targets: X >= 2000, 100k within 30% of 1k.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is called queue.py: drop its directory from the path before anything
# imports the standard library's ``queue`` (multiprocessing does).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import multiprocessing  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402
from itertools import repeat  # noqa: E402

sys.path.insert(0, str(_HERE.parent))

import psycopg2  # noqa: E402
from sqlalchemy import text  # noqa: E402

from fsworker.model import Rule, StrategyKind  # noqa: E402
from fsworker.outcomes import AttemptOutcome, TaskEndReason  # noqa: E402
from fsworker.store import migrate  # noqa: E402
from fsworker.store.engine import make_engine  # noqa: E402
from fsworker.store.queue import TaskQueue  # noqa: E402
from fsworker.store.repo import Repository  # noqa: E402

ADMIN_URL = os.environ.get("FSWORKER_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
RULES = 50
CLAIMS = 900
SIZES = (1_000, 100_000)
PROCS = (1, 2, 4)


def worker(url: str, worker_id: str, start_at: float, quota: int) -> tuple[int, float]:
    queue = TaskQueue(url)
    queue.counts()  # connect before the start
    done = 0
    while time.time() < start_at:
        time.sleep(0.001)
    while done < quota:
        claimed = queue.claim_due(worker_id, now=datetime.now(timezone.utc), limit=min(10, quota - done),
                                  lease_seconds=300)
        for c in claimed:
            queue.finish_attempt(c.task_id, worker_id, outcome=AttemptOutcome.SUCCESS,
                                 end_reason=TaskEndReason.SUCCESS)
        done += len(claimed)
        if not claimed:
            time.sleep(0.001)
    end = time.time()
    queue.close()
    return done, end


def seed(url: str, pending: int) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE attempts, lost_calls, tasks RESTART IDENTITY CASCADE"))
        conn.execute(text("UPDATE rule_slots SET attempt_id = NULL, task_id = NULL"))
        due = datetime.now(timezone.utc) - timedelta(hours=1)
        conn.execute(text(
            """
            INSERT INTO tasks (customer_number, rule_id, rule_name, status, attempt_no, due_at, created_at)
            SELECT '+7900' || lpad(g::text, 7, '0'), r.id, r.name, 'pending', 1,
                   :due + (g || ' milliseconds')::interval, :due
            FROM generate_series(1, :n) AS g
            JOIN rules r ON r.position = g % :rules
            """), {"due": due, "n": pending, "rules": RULES})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE tasks"))
        conn.execute(text("VACUUM ANALYZE rule_slots"))
    engine.dispose()


def run(url: str, procs: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    quota = CLAIMS // procs
    with ctx.Pool(procs) as pool:
        start_at = time.time() + 2.0
        results = pool.starmap(worker, zip(repeat(url), [f"bench-{i}" for i in range(procs)],
                                           repeat(start_at), repeat(quota)))
    total = sum(n for n, _ in results)
    elapsed = max(end for _, end in results) - start_at
    return total / elapsed


def main() -> int:
    name = f"fsw_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = psycopg2.connect(ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    figures: dict[tuple[int, int], float] = {}
    try:
        migrate.upgrade(url)
        repo = Repository(url)
        for i in range(RULES):
            repo.add_rule(Rule(name=f"bench-{i:02d}", strategy=StrategyKind.LAST_ATTEMPTED, max_concurrent=5))
        repo.close()
        for pending in SIZES:
            for procs in PROCS:
                seed(url, pending)
                figures[(pending, procs)] = rate = run(url, procs)
                print(f"pending={pending:>6} procs={procs} claims={CLAIMS} claims_per_s={rate:8.0f}", flush=True)
        for procs in PROCS:
            small, big = figures[(SIZES[0], procs)], figures[(SIZES[1], procs)]
            print(f"procs={procs} 100k/1k ratio: {big / small:.2f}")
        print(f"claims_per_s_4proc: {min(figures[(s, 4)] for s in SIZES):.0f}")
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
