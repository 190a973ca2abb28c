"""Benchmark: task claims per second on PostgreSQL with 1, 2 and 4 worker processes, at
1,000 and at 100,000 pending tasks. Run: ``python bench/queue.py`` (``make bench``).

Two loops, each claiming CLAIMS tasks in total per run (claims/s = CLAIMS / (last
worker's end - common start); every figure is the median of REPEATS runs):
- ``claim``: workers only call ``claim_due(limit=10)`` — the claim statement's rate.
  200 rules x cap 5 give 1,000 slots, so the cap (R10) never runs out during a run.
- ``cycle``: the real worker loop: claim, then ``finish_attempt`` for every task (one
  transaction, one commit each), which frees the rule slot again.
The database is created for the run and dropped after. Last line:
``claims_per_s_4proc: X`` = the lower of the 1k and 100k four-process ``claim``
figures. Targets: X >= 2000, and 100k within 30% of 1k.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is called queue.py: drop its directory from the path before anything
# imports the standard library's ``queue`` (multiprocessing does).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import multiprocessing
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from itertools import repeat

sys.path.insert(0, str(_HERE.parent))

import psycopg2
from sqlalchemy import text

from fsworker.core.model import Rule, StrategyKind
from fsworker.core.outcomes import AttemptOutcome, TaskEndReason
from fsworker.store import migrate
from fsworker.store.engine import make_engine
from fsworker.store.queue import TaskQueue
from fsworker.store.repo import Repository

ADMIN_URL = os.environ.get("FSWORKER_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
RULES = 200
MODES = ("claim", "cycle")
CLAIMS = 900
#: runs per figure; the figure is their median. One run of 900 claims lasts well under a
#: second, so one scheduling hiccup on a shared machine moved a single run by +-40%.
REPEATS = 3
SIZES = (1_000, 100_000)
PROCS = (1, 2, 4)


def worker(url: str, worker_id: str, start_at: float, quota: int, mode: str) -> tuple[int, float]:
    queue = TaskQueue(url)
    queue.counts()  # connect before the start
    done = 0
    while time.time() < start_at:
        time.sleep(0.001)
    while done < quota:
        claimed = queue.claim_due(worker_id, now=datetime.now(UTC), limit=min(10, quota - done),
                                  lease_seconds=300)
        for c in claimed if mode == "cycle" else ():
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
        # rule_slots refers to attempts, so it is emptied with them and rebuilt.
        conn.execute(text("TRUNCATE attempts, lost_calls, tasks, rule_slots RESTART IDENTITY"))
        conn.execute(text("INSERT INTO rule_slots (rule_id, slot) "
                          "SELECT r.id, s FROM rules r CROSS JOIN generate_series(0, 4) AS s"))
        due = datetime.now(UTC) - timedelta(hours=1)
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


def run(url: str, procs: int, mode: str) -> float:
    ctx = multiprocessing.get_context("spawn")
    quota = CLAIMS // procs
    with ctx.Pool(procs) as pool:
        start_at = time.time() + 2.0
        results = pool.starmap(worker, zip(repeat(url), [f"bench-{i}" for i in range(procs)],
                                           repeat(start_at), repeat(quota), repeat(mode)))
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
    figures: dict[tuple[str, int, int], float] = {}
    try:
        migrate.upgrade(url)
        repo = Repository(url)
        for i in range(RULES):
            repo.add_rule(Rule(name=f"bench-{i:02d}", strategy=StrategyKind.LAST_ATTEMPTED, max_concurrent=5))
        repo.close()
        for mode in MODES:
            for pending in SIZES:
                for procs in PROCS:
                    rates = []
                    for _ in range(REPEATS):
                        seed(url, pending)
                        rates.append(run(url, procs, mode))
                    figures[(mode, pending, procs)] = rate = statistics.median(rates)
                    print(f"{mode:5} pending={pending:>6} procs={procs} claims={CLAIMS} "
                          f"claims_per_s={rate:8.0f} (median of {' '.join(f'{r:.0f}' for r in rates)})", flush=True)
        for mode in MODES:
            for procs in PROCS:
                small, big = figures[(mode, SIZES[0], procs)], figures[(mode, SIZES[1], procs)]
                print(f"{mode:5} procs={procs} 100k/1k ratio: {big / small:.2f}")
        print(f"claims_per_s_4proc: {min(figures[('claim', s, 4)] for s in SIZES):.0f}")
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
