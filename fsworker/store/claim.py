"""Claiming due tasks and reaping expired leases: the heart of multi-worker safety.

Rules (D3, R10, R16):
- PostgreSQL claims in ONE statement: candidates are locked ``FOR UPDATE SKIP LOCKED``
  in due order (walking the partial index ``ix_tasks_due``), each is paired with a free
  slot of its rule, itself locked ``FOR UPDATE SKIP LOCKED``, then the tasks, a new
  in-flight attempt and the slots are written and returned. A slot that another claimer
  took after our snapshot is re-checked by PostgreSQL when locked (attempt_id IS NULL
  no longer holds), so two claimers can never take the same slot: the per-rule cap
  holds across processes without a count that could be stale.
- SQLite runs the same steps one after another inside ``BEGIN IMMEDIATE`` (engine.py),
  which excludes every other writer: correct for one process (and for several, slowly);
  its writes are set-based, one statement per step for the whole batch.
- Nothing is claimed while the master switch is off; disabled rules still are (R14).
- A task whose customer has an attempt in flight is not claimed; the unique index
  ``uq_attempts_in_flight`` makes that a database guarantee, not just a filter.
- Expired leases are reaped first: the in-flight attempt ends ``lease_lost``, its slot
  is freed and an active task becomes due again at once, under the next attempt
  number: a number an attempt row holds is never handed out again
  (``uq_attempts_task_no``; history and webhooks identify attempts by it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, bindparam, exists, func, insert, not_, select, text, update
from sqlalchemy.exc import IntegrityError

from fsworker.core.outcomes import AttemptOutcome, TaskStatus
from fsworker.store import tables as t

log = logging.getLogger(__name__)

REAP_BATCH = 100


@dataclass(frozen=True, kw_only=True, slots=True)
class ClaimedTask:
    """A task leased to one worker, with the attempt row created for it."""

    task_id: int
    attempt_id: int
    customer_number: str
    rule_id: int | None
    rule_name: str
    attempt_no: int  #: 1-based number of the attempt now in flight
    due_at: datetime
    created_at: datetime
    lease_expires_at: datetime
    #: an earlier worker lost this task mid-attempt: look for its legs before dialling
    recover_legs: bool = False


_PG_CLAIM = text(
    """
WITH cand AS (
    SELECT t.id, t.rule_id, t.due_at
    FROM tasks t
    WHERE t.status = 'pending' AND t.due_at <= :now
      AND NOT EXISTS (SELECT 1 FROM settings s WHERE s.id = 1 AND NOT s.enabled)
      AND EXISTS (
          SELECT 1 FROM rule_slots rs JOIN rules r ON r.id = rs.rule_id
          WHERE rs.rule_id = t.rule_id AND rs.attempt_id IS NULL AND rs.slot < r.max_concurrent)
      AND NOT EXISTS (
          SELECT 1 FROM attempts a WHERE a.customer_number = t.customer_number AND a.ended_at IS NULL)
    ORDER BY t.due_at, t.id
    LIMIT :limit
    FOR UPDATE OF t SKIP LOCKED
),
per_rule AS (
    SELECT rule_id, count(*) AS n FROM cand GROUP BY rule_id
),
slots AS (
    SELECT p.rule_id, s.slot, row_number() OVER (PARTITION BY p.rule_id ORDER BY s.slot) AS rn
    FROM per_rule p
    CROSS JOIN LATERAL (
        SELECT rs.slot
        FROM rule_slots rs JOIN rules r ON r.id = rs.rule_id
        WHERE rs.rule_id = p.rule_id AND rs.attempt_id IS NULL AND rs.slot < r.max_concurrent
        ORDER BY rs.slot
        LIMIT p.n
        FOR UPDATE OF rs SKIP LOCKED
    ) s
),
numbered AS (
    SELECT c.id, c.rule_id, row_number() OVER (PARTITION BY c.rule_id ORDER BY c.due_at, c.id) AS rn FROM cand c
),
pairs AS (
    SELECT n.id, n.rule_id, s.slot FROM numbered n JOIN slots s ON s.rule_id = n.rule_id AND s.rn = n.rn
),
claimed AS (
    UPDATE tasks t
    SET status = 'active', lease_owner = :worker, lease_expires_at = :expires
    FROM pairs p
    WHERE t.id = p.id
    RETURNING t.id, t.customer_number, t.rule_id, t.rule_name, t.attempt_no, t.due_at, t.created_at,
              t.lease_expires_at, t.recover_legs, p.slot
),
att AS (
    INSERT INTO attempts (task_id, attempt_no, customer_number, worker, started_at, detail)
    SELECT c.id, c.attempt_no, c.customer_number, :worker, :now, '' FROM claimed c
    RETURNING id, task_id
),
taken AS (
    UPDATE rule_slots rs
    SET attempt_id = a.id, task_id = c.id
    FROM att a JOIN claimed c ON c.id = a.task_id
    WHERE rs.rule_id = c.rule_id AND rs.slot = c.slot
    RETURNING rs.rule_id
)
SELECT c.id AS task_id, a.id AS attempt_id, c.customer_number, c.rule_id, c.rule_name, c.attempt_no,
       c.due_at, c.created_at, c.lease_expires_at, c.recover_legs
FROM claimed c JOIN att a ON a.task_id = c.id
ORDER BY c.due_at, c.id
"""
).columns(due_at=t.UTCDateTime(), created_at=t.UTCDateTime(), lease_expires_at=t.UTCDateTime())


def claim_pg(conn: Connection, worker_id: str, now: datetime, limit: int, lease_seconds: float) -> list[ClaimedTask]:
    params = {"now": now, "worker": worker_id, "limit": limit, "expires": now + timedelta(seconds=lease_seconds)}
    try:
        with conn.begin_nested():
            rows = conn.execute(_PG_CLAIM, params).mappings().all()
    except IntegrityError as exc:
        # Two claimers raced for one customer's second task (the first one's attempt
        # was still in flight): uq_attempts_in_flight refused the second. Nothing was
        # written; the task stays pending for a later claim.
        log.info("claim by %s refused by a uniqueness guard, retry later: %s", worker_id, exc.orig)
        return []
    return [_claimed(r) for r in rows]


def claim_stepwise(
    conn: Connection, worker_id: str, now: datetime, limit: int, lease_seconds: float
) -> list[ClaimedTask]:
    """The claim as separate statements; correct only inside a transaction that
    excludes other writers (SQLite's BEGIN IMMEDIATE)."""
    switch_off = exists().where(t.settings.c.id == 1, not_(t.settings.c.enabled))
    in_flight = exists().where(
        t.attempts.c.customer_number == t.tasks.c.customer_number, t.attempts.c.ended_at.is_(None)
    )
    has_slot = exists().where(
        t.rule_slots.c.rule_id == t.tasks.c.rule_id,
        t.rule_slots.c.attempt_id.is_(None),
        t.rules.c.id == t.rule_slots.c.rule_id,
        t.rule_slots.c.slot < t.rules.c.max_concurrent,
    )
    # Bounded: a rule whose slots run out during this claim is skipped row by row. The
    # walk of the due index stops at the limit, and SQLite blocks the whole process
    # while it walks: twice the batch is enough (a rule whose last slot goes to one
    # candidate leaves its other tasks to the next claim, which no longer sees them).
    cand = conn.execute(
        select(t.tasks.c.id, t.tasks.c.rule_id)
        .where(t.tasks.c.status == TaskStatus.PENDING.value, t.tasks.c.due_at <= now, not_(switch_off),
               not_(in_flight), has_slot)
        .order_by(t.tasks.c.due_at, t.tasks.c.id)
        .limit(limit * 2 + 20)
    ).all()
    if not cand:
        return []
    # Every free slot of the candidates' rules in one look-up, then set-based writes:
    # a statement per batch, not three per task (~1 ms a task that blocked the process).
    free: dict[int, list[int]] = {}
    for rule_id, slot in conn.execute(
        select(t.rule_slots.c.rule_id, t.rule_slots.c.slot)
        .join(t.rules, t.rules.c.id == t.rule_slots.c.rule_id)
        .where(t.rule_slots.c.rule_id.in_({row.rule_id for row in cand}), t.rule_slots.c.attempt_id.is_(None),
               t.rule_slots.c.slot < t.rules.c.max_concurrent)
        .order_by(t.rule_slots.c.rule_id, t.rule_slots.c.slot)
    ):
        free.setdefault(rule_id, []).append(slot)
    chosen: list[tuple[int, int, int]] = []  # (task, rule, slot)
    for row in cand:
        if len(chosen) >= limit:
            break
        slots = free.get(row.rule_id)
        if slots:
            chosen.append((row.id, row.rule_id, slots.pop(0)))
    if not chosen:
        return []
    expires = now + timedelta(seconds=lease_seconds)
    tasks = {
        r["id"]: r
        for r in conn.execute(
            update(t.tasks)
            .where(t.tasks.c.id.in_([task_id for task_id, _, _ in chosen]))
            .values(status=TaskStatus.ACTIVE.value, lease_owner=worker_id, lease_expires_at=expires)
            .returning(t.tasks)
        ).mappings()
    }
    attempt_of = {
        r.task_id: r.id
        for r in conn.execute(
            insert(t.attempts).returning(t.attempts.c.id, t.attempts.c.task_id),
            [{"task_id": task_id, "attempt_no": tasks[task_id]["attempt_no"],
              "customer_number": tasks[task_id]["customer_number"], "worker": worker_id, "started_at": now,
              "detail": ""} for task_id, _, _ in chosen],
        )
    }
    conn.execute(
        update(t.rule_slots)
        .where(t.rule_slots.c.rule_id == bindparam("b_rule"), t.rule_slots.c.slot == bindparam("b_slot"))
        .values(attempt_id=bindparam("b_attempt"), task_id=bindparam("b_task")),
        [{"b_rule": rule_id, "b_slot": slot, "b_attempt": attempt_of[task_id], "b_task": task_id}
         for task_id, rule_id, slot in chosen],
    )
    return [_claimed({**tasks[task_id], "task_id": task_id, "attempt_id": attempt_of[task_id]})
            for task_id, _, _ in chosen]


_PG_FINISH = text(
    """
WITH task AS (
    SELECT id, status FROM tasks WHERE id = :task_id AND lease_owner = :worker FOR UPDATE
),
att AS (
    UPDATE attempts a
    SET ended_at = :now, outcome = :outcome, detail = :detail, employee = :employee,
        call_uuids = CAST(:call_uuids AS json), talk_s = :talk_s
    FROM task
    WHERE a.task_id = task.id AND a.ended_at IS NULL
    RETURNING a.id
),
freed AS (
    UPDATE rule_slots rs SET attempt_id = NULL, task_id = NULL FROM att WHERE rs.attempt_id = att.id
    RETURNING rs.rule_id
),
upd AS (
    UPDATE tasks t
    SET lease_owner = NULL, lease_expires_at = NULL, recover_legs = :recover_legs,
        status = CASE WHEN task.status = 'done' THEN 'done'
                      WHEN CAST(:next_due AS timestamptz) IS NOT NULL THEN 'pending' ELSE 'done' END,
        due_at = CASE WHEN task.status <> 'done' AND CAST(:next_due AS timestamptz) IS NOT NULL
                      THEN CAST(:next_due AS timestamptz) ELSE t.due_at END,
        attempt_no = CASE WHEN task.status <> 'done' AND CAST(:next_due AS timestamptz) IS NOT NULL
                          THEN t.attempt_no + 1 ELSE t.attempt_no END,
        end_reason = CASE WHEN task.status = 'done' THEN t.end_reason
                          WHEN CAST(:next_due AS timestamptz) IS NULL THEN :end_reason END,
        ended_at = CASE WHEN task.status = 'done' THEN t.ended_at
                        WHEN CAST(:next_due AS timestamptz) IS NULL THEN CAST(:now AS timestamptz) END
    FROM task
    WHERE t.id = task.id
    RETURNING t.status
)
SELECT status FROM upd
"""
)


def finish_pg(conn: Connection, params: dict[str, object]) -> str | None:
    """finish_attempt in one statement; the task's new status, None if not leased."""
    return conn.execute(_PG_FINISH, params).scalar()


def reap_expired(conn: Connection, now: datetime) -> list[int]:
    """End attempts whose lease expired (``lease_lost``), free their slots, and make
    their tasks due again. Returns the task ids. Runs in the caller's transaction."""
    ids = list(
        conn.execute(
            select(t.tasks.c.id)
            .where(t.tasks.c.lease_owner.is_not(None), t.tasks.c.lease_expires_at < now)
            .order_by(t.tasks.c.lease_expires_at)
            .limit(REAP_BATCH)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not ids:
        return []
    attempt_ids = list(
        conn.execute(
            update(t.attempts)
            .where(t.attempts.c.task_id.in_(ids), t.attempts.c.ended_at.is_(None))
            .values(ended_at=now, outcome=AttemptOutcome.LEASE_LOST.value, detail="lease expired")
            .returning(t.attempts.c.id)
        ).scalars()
    )
    if attempt_ids:
        conn.execute(
            update(t.rule_slots).where(t.rule_slots.c.attempt_id.in_(attempt_ids)).values(attempt_id=None, task_id=None)
        )
    skip_used_attempt_numbers(conn, ids)
    active = t.tasks.c.status == TaskStatus.ACTIVE.value
    conn.execute(
        update(t.tasks)
        .where(t.tasks.c.id.in_(ids))
        # The dead worker's legs may still ring or talk: the next claimer looks first.
        .values(lease_owner=None, lease_expires_at=None, recover_legs=True)
    )
    conn.execute(
        update(t.tasks).where(and_(t.tasks.c.id.in_(ids), active)).values(status=TaskStatus.PENDING.value, due_at=now)
    )
    for task_id in ids:
        log.warning("task %s: lease expired, attempt ended lease_lost, task due again", task_id)
    return ids


def skip_used_attempt_numbers(conn: Connection, task_ids: list[int]) -> None:
    """Move each open task's next attempt number past the numbers its kept attempt
    rows hold. An attempt that ended without the task being finished (a lost lease, a
    release with the customer bridged) has used its number: it may have rung or
    reached the customer, so it counts as an attempt, and the retry comes as the next."""
    used = (
        select(func.max(t.attempts.c.attempt_no))
        .where(t.attempts.c.task_id == t.tasks.c.id)
        .scalar_subquery()
    )
    conn.execute(
        update(t.tasks)
        .where(t.tasks.c.id.in_(task_ids), t.tasks.c.status != TaskStatus.DONE.value, used >= t.tasks.c.attempt_no)
        .values(attempt_no=used + 1)
    )


def _claimed(r: dict) -> ClaimedTask:  # type: ignore[type-arg]
    return ClaimedTask(
        task_id=int(r["task_id"]),
        attempt_id=int(r["attempt_id"]),
        customer_number=r["customer_number"],
        rule_id=r["rule_id"],
        rule_name=r["rule_name"],
        attempt_no=int(r["attempt_no"]),
        due_at=r["due_at"],
        created_at=r["created_at"],
        lease_expires_at=r["lease_expires_at"],
        recover_legs=bool(r.get("recover_legs", False)),
    )
