"""When work falls due (issue 14): ``next_due_at`` for the sleeping claimer, and the
PostgreSQL notifications that wake claimers in other processes (migration 0006)."""

from __future__ import annotations

import select
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from fsworker.core.outcomes import AttemptOutcome
from fsworker.store.notify import TaskNotifications
from fsworker.store.queue import TaskQueue
from fsworker.store.repo import Repository
from tests.integration.conftest import T0
from tests.integration.helpers import minutes, rule


def test_next_due_at_is_the_earliest_future_due_time_or_lease_expiry(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r", max_concurrent=5))
    assert queue.next_due_at(T0) is None
    queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0 + minutes(10))
    queue.create_task(customer_number="+79160000002", rule_name="r", due_at=T0 + minutes(3))
    # Already due (blocked by a cap, say) is not "next": the claimer would never sleep.
    queue.create_task(customer_number="+79160000003", rule_name="r", due_at=T0 - minutes(1))
    assert queue.next_due_at(T0) == T0 + minutes(3)
    [claimed] = queue.claim_due("w1", now=T0, limit=1, lease_seconds=60)
    assert claimed.customer_number == "+79160000003"
    assert queue.next_due_at(T0) == T0 + timedelta(seconds=60)  # its lease runs out first
    assert queue.next_due_at(T0 + minutes(5)) == T0 + minutes(10)


def _received(notes: TaskNotifications, wait_s: float = 0.5) -> int:
    return len(_payloads(notes, wait_s))


def _payloads(notes: TaskNotifications, wait_s: float = 0.5) -> list[datetime | None]:
    """The earliest due time of each batch drained (None: "look now")."""
    got: list[datetime | None] = []
    while select.select([notes.fileno()], [], [], wait_s)[0]:
        changes = notes.drain()
        got += [changes.earliest] * changes.count
        wait_s = 0.05
    return got


def test_task_changes_notify_other_processes_and_claims_do_not(
    db_url: str, engine: Engine, repo: Repository, queue: TaskQueue
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("NOTIFY is PostgreSQL's; SQLite wakes in-process only")
    repo.add_rule(rule("r", max_concurrent=5))
    notes = TaskNotifications(engine)
    try:
        task = queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0 + minutes(10))
        assert _payloads(notes) == [T0 + minutes(10)]  # a new pending task, and when it falls due
        assert queue.reschedule(task, T0)
        assert _payloads(notes) == [T0]  # a new due time
        [claimed] = queue.claim_due("w1", now=T0, lease_seconds=60)
        queue.heartbeat("w1", [task], lease_seconds=60, now=T0)
        assert _received(notes) == 0  # claims and heartbeats wake nobody: no wake-up storms
        queue.finish_attempt(task, "w1", outcome=AttemptOutcome.CUSTOMER_NO_ANSWER, next_due=T0 + minutes(5),
                             end_reason=None, detail="", now=T0)
        assert _payloads(notes) == [None]  # the rule slot is free (the task pending again): look now
    finally:
        notes.close()
