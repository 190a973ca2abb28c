"""Worker processes for the multi-process store tests (spawned: importable, picklable)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fsworker.core.outcomes import AttemptOutcome, TaskEndReason
from fsworker.store.queue import TaskQueue


def _wait_until(start_at: float) -> None:
    while time.time() < start_at:
        time.sleep(0.005)


def claim_all(url: str, worker_id: str, start_at: float, limit: int) -> list[int]:
    """Claim and finish until nothing is pending; returns the task ids claimed."""
    queue = TaskQueue(url)
    got: list[int] = []
    _wait_until(start_at)
    try:
        while True:
            claimed = queue.claim_due(worker_id, now=datetime.now(UTC), limit=limit, lease_seconds=600)
            if not claimed:
                if queue.counts().pending == 0:
                    return got
                time.sleep(0.002)
                continue
            for c in claimed:
                got.append(c.task_id)
                queue.finish_attempt(c.task_id, worker_id, outcome=AttemptOutcome.SUCCESS,
                                     end_reason=TaskEndReason.SUCCESS)
    finally:
        queue.close()


def hold_and_record(url: str, worker_id: str, start_at: float, hold_s: float) -> list[tuple[int, float, float]]:
    """Claim, hold each task ``hold_s`` (a call), finish; returns (task, start, end)
    where the interval lies inside the time the lease was really held."""
    queue = TaskQueue(url)
    out: list[tuple[int, float, float]] = []
    _wait_until(start_at)
    try:
        while True:
            claimed = queue.claim_due(worker_id, now=datetime.now(UTC), limit=5, lease_seconds=600)
            t_claimed = time.time()
            if not claimed:
                if queue.counts().pending == 0:
                    return out
                time.sleep(0.002)
                continue
            time.sleep(hold_s)
            for c in claimed:
                out.append((c.task_id, t_claimed, time.time()))
                queue.finish_attempt(c.task_id, worker_id, outcome=AttemptOutcome.SUCCESS,
                                     end_reason=TaskEndReason.SUCCESS)
    finally:
        queue.close()
