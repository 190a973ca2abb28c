"""Queue operations: lost-call intake, tasks (D1), claims with leases, attempts, cancels.

Rules: each method is one transaction. Idempotency and exclusivity are the database's
job: ``lost_calls.call_uuid`` is unique (two workers seeing one call take it in once),
one open task per customer number (D1, ``uq_tasks_open_customer``), at most one attempt
in flight per customer number (``uq_attempts_in_flight``), the per-rule cap through
rule slots (R10, see claim.py). A worker acts on a task only while it holds the lease:
finishing without it raises LeaseLostError. Cancelling a task whose attempt is in
flight ends the task at once; the worker sees ``cancelled`` on its next heartbeat and
still finishes the attempt, which frees the rule slot.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, bindparam, exists, func, select, text, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite

from fsworker.core.calls import Contact, LostCall
from fsworker.core.errors import ValidationError
from fsworker.core.numbers import validate_number
from fsworker.core.outcomes import AttemptOutcome, SkipReason, TaskEndReason, TaskStatus
from fsworker.store import tables as t
from fsworker.store.base import StoreBase, aware
from fsworker.store.claim import (
    ClaimedTask,
    claim_pg,
    claim_stepwise,
    finish_pg,
    reap_expired,
    skip_used_attempt_numbers,
)
from fsworker.store.codec import lost_call_from_json, lost_call_to_json
from fsworker.store.errors import LeaseLostError, NotFoundError, translate_errors
from fsworker.store.repo_rules import cancel_open_tasks

log = logging.getLogger(__name__)

__all__ = ["AttemptView", "ClaimedTask", "Heartbeat", "QueueCounts", "TaskQueue", "TaskView"]


@dataclass(frozen=True, slots=True)
class TakeIn:
    """What ``take_in_new_task_pg`` did."""

    won: bool  #: the call was stored now (False: another worker had it: a duplicate)
    task_id: int | None  #: the task created for it, if the facts allowed
    facts: tuple[int | None, str | None, bool]  #: open task id, its rule, reached since the loss


@dataclass(frozen=True, slots=True)
class AttemptInputs:
    """Read for a claimed task in its claim batch (TaskQueue.attempt_inputs)."""

    lost_calls: list[LostCall]
    last_contact: datetime | None  #: when the customer was last reached by any means (R17)

    def reached_since(self, since: datetime) -> bool:
        return self.last_contact is not None and self.last_contact >= aware(since)


@dataclass(frozen=True, kw_only=True, slots=True)
class AttemptView:
    attempt_id: int
    task_id: int
    attempt_no: int
    customer_number: str
    worker: str
    started_at: datetime
    ended_at: datetime | None
    outcome: AttemptOutcome | None  #: None while in flight
    detail: str
    employee: str | None
    call_uuids: tuple[str, ...]
    talk_s: float | None


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskView:
    task_id: int
    customer_number: str
    rule_name: str
    status: TaskStatus
    attempt_no: int
    due_at: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    end_reason: TaskEndReason | None
    created_at: datetime
    ended_at: datetime | None
    lost_call_uuids: tuple[str, ...] = ()
    attempts: tuple[AttemptView, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Heartbeat:
    renewed: frozenset[int]  #: leases extended
    cancelled: frozenset[int]  #: still ours, but the task was cancelled: stop the call
    lost: frozenset[int]  #: no longer ours (expired and reaped): stop, do not finish


@dataclass(frozen=True, kw_only=True, slots=True)
class QueueCounts:
    pending: int  #: waiting for an attempt
    due: int  #: pending and due now
    active: int  #: an attempt in flight
    active_by_rule: dict[str, int] = field(default_factory=dict)


class TaskQueue(StoreBase):
    """The queue over one database. Construct with an Engine or a URL.

    ``claim_due`` reaps expired leases first, at most every ``reap_interval_s`` of the
    ``now`` it is given (so a busy worker does not pay for it on every claim)."""

    def __init__(self, engine: Engine | str, *, reap_interval_s: float = 1.0) -> None:
        super().__init__(engine)
        self._reap_every = timedelta(seconds=reap_interval_s)
        self._last_reap: datetime | None = None

    # ---- intake -----------------------------------------------------------------------
    def record_lost_call(
        self,
        call: LostCall,
        *,
        skip_reason: SkipReason | None = None,
        rule_name: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Store a lost call once per call UUID. True if this caller stored it (won);
        False if another worker / process already had (skip it: ``duplicate``)."""
        values = _lost_call_values(call, skip_reason, rule_name, now)
        with self._tx() as conn:
            won = conn.execute(_STATEMENTS.record_lost_call[self.is_postgresql], values).first() is not None
        if not won:
            log.info("lost call %s already recorded by another worker", call.call_uuid)
        return won

    def record_lost_call_and_facts(
        self, call: LostCall, *, now: datetime | None = None
    ) -> tuple[bool, tuple[int | None, str | None, bool]]:
        """``record_lost_call`` and, for its customer at its loss time, ``intake_facts``:
        one round trip on PostgreSQL instead of two (intake at 100 lost calls/s)."""
        if not self.is_postgresql:
            won = self.record_lost_call(call, now=now)
            return won, self.intake_facts(call.customer_number, call.lost_at) if won else (None, None, False)
        values = _lost_call_values(call, None, None, now)
        with self._tx() as conn:
            row = conn.execute(_STATEMENTS.record_with_facts_pg, {**values, "since": aware(call.lost_at)}).one()
        if row.won is None:
            log.info("lost call %s already recorded by another worker", call.call_uuid)
        return row.won is not None, (row.open_id, row.open_rule, bool(row.reached))

    def take_in_new_task_pg(
        self, call: LostCall, *, rule_name: str, due_at: datetime, now: datetime | None = None
    ) -> TakeIn:
        """PostgreSQL only: store the lost call and, when the customer has no open task
        and was not reached since the loss (the facts ``rule_name`` was decided under),
        create its task, in one round trip (migration 0009's ``fsworker_take_in``, one
        transaction). Otherwise only the call is stored; ``facts`` says why, for the
        caller to decide again (as an intake with ``recorded=True``)."""
        if not self.is_postgresql:
            raise ValidationError("database", self.url, "PostgreSQL (fsworker_take_in)")
        validate_number(call.customer_number, "task.customer_number")
        values = _lost_call_values(call, None, None, now)
        with translate_errors(self.url), self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # the function is the transaction
            row = conn.execute(_STATEMENTS.take_in_pg, {
                **values, "rule": rule_name, "due_at": aware(due_at)}).one()
        if not row.o_won:
            log.info("lost call %s already recorded by another worker", call.call_uuid)
        elif row.o_task_id is not None:
            log.info("task %s created for %s by rule %r (lost call %s), due %s",
                     row.o_task_id, call.customer_number, rule_name, call.call_uuid, due_at)
        return TakeIn(won=bool(row.o_won), task_id=row.o_task_id,
                      facts=(row.o_open_id, row.o_open_rule, bool(row.o_reached)))

    def mark_lost_call_skipped(self, call_uuid: str, reason: SkipReason) -> None:
        with self._tx() as conn:
            conn.execute(update(t.lost_calls).where(t.lost_calls.c.call_uuid == call_uuid)
                         .values(skip_reason=reason.value))

    def get_lost_call(self, call_uuid: str) -> LostCall:
        with self._tx() as conn:
            facts = conn.execute(select(t.lost_calls.c.facts).where(t.lost_calls.c.call_uuid == call_uuid)).scalar()
        if facts is None:
            raise NotFoundError("lost call", call_uuid)
        return lost_call_from_json(facts)

    def lost_call_task(self, call_uuid: str) -> int | None:
        """The task a lost call belongs to (None: skipped, or not taken in)."""
        with self._tx() as conn:
            return conn.execute(select(t.lost_calls.c.task_id).where(t.lost_calls.c.call_uuid == call_uuid)).scalar()

    def lost_call_skip_reason(self, call_uuid: str) -> SkipReason | None:
        with self._tx() as conn:
            r = conn.execute(select(t.lost_calls.c.skip_reason).where(t.lost_calls.c.call_uuid == call_uuid)).scalar()
        return SkipReason(r) if r else None

    def intake_facts(self, customer_number: str, since: datetime) -> tuple[int | None, str | None, bool]:
        """What the rule engine needs to know about a lost call's customer, in one
        statement: their open task (id, rule) if any (D1), and whether they were reached
        (R17) at or after ``since``."""
        with self._tx() as conn:
            row = conn.execute(_STATEMENTS.intake_facts, {"customer": customer_number, "since": aware(since)}).one()
        return row[0], row[1], bool(row[2])

    def create_task(
        self,
        *,
        customer_number: str,
        rule_name: str,
        due_at: datetime,
        lost_call_uuid: str | None = None,
        now: datetime | None = None,
    ) -> int | None:
        """A new pending task; None if the number already has an open task (D1) — then
        ``join_task``. InvalidNumberError for a number that cannot be dialled (D5)."""
        validate_number(customer_number, "task.customer_number")
        now = aware(now)
        if self.is_postgresql:
            task_id = self._create_task_pg(customer_number, rule_name, aware(due_at), lost_call_uuid, now)
            if task_id is not None:
                log.info("task %s created for %s by rule %r (lost call %s), due %s",
                         task_id, customer_number, rule_name, lost_call_uuid, due_at)
            return task_id
        with self._tx() as conn:
            rule_id = conn.execute(_STATEMENTS.rule_id, {"name": rule_name}).scalar()
            if rule_id is None:
                raise NotFoundError("rule", rule_name)
            task_id = conn.execute(_STATEMENTS.insert_task_sqlite, {
                "customer_number": customer_number, "rule_id": rule_id, "rule_name": rule_name,
                "status": TaskStatus.PENDING.value, "attempt_no": 1, "due_at": aware(due_at), "created_at": now,
            }).scalar()
            if task_id is not None and lost_call_uuid:
                _attach(conn, lost_call_uuid, task_id, rule_name)
        if task_id is not None:
            log.info("task %s created for %s by rule %r (lost call %s), due %s",
                     task_id, customer_number, rule_name, lost_call_uuid, due_at)
        return task_id

    def _create_task_pg(self, customer_number: str, rule_name: str, due_at: datetime,
                        lost_call_uuid: str | None, now: datetime) -> int | None:
        """create_task as one statement: a round trip, not three (intake at 100 calls/s)."""
        with self._tx() as conn:
            row = conn.execute(_PG_CREATE_TASK, {
                "customer": customer_number, "rule_name": rule_name, "due_at": due_at, "now": now,
                "call_uuid": lost_call_uuid,
            }).one()
        if row.rule_id is None:
            raise NotFoundError("rule", rule_name)
        return row.task_id

    def join_task(self, customer_number: str, lost_call_uuid: str | None = None) -> int | None:
        """D1: attach a lost call to the number's open task; None if it has none."""
        with self._tx() as conn:
            row = conn.execute(select(t.tasks.c.id, t.tasks.c.rule_name).where(
                t.tasks.c.customer_number == customer_number, t.tasks.c.status != TaskStatus.DONE.value)).first()
            if row is None:
                return None
            if lost_call_uuid:
                _attach(conn, lost_call_uuid, row.id, row.rule_name)
        log.info("lost call %s joined open task %s of %s", lost_call_uuid, row.id, customer_number)
        return int(row.id)

    def create_or_join_task(
        self, *, customer_number: str, rule_name: str, due_at: datetime,
        lost_call_uuid: str | None = None, now: datetime | None = None,
    ) -> tuple[int, bool]:
        """(task id, created?) — creates a task, or joins the open one (D1)."""
        for _ in range(5):  # the open task may end between the two steps; try again
            task_id = self.create_task(customer_number=customer_number, rule_name=rule_name, due_at=due_at,
                                       lost_call_uuid=lost_call_uuid, now=now)
            if task_id is not None:
                return task_id, True
            joined = self.join_task(customer_number, lost_call_uuid)
            if joined is not None:
                return joined, False
        raise RuntimeError(f"could not create or join a task for {customer_number}")

    def open_task_for(self, customer_number: str) -> TaskView | None:
        with self._tx() as conn:
            task_id = conn.execute(select(t.tasks.c.id).where(
                t.tasks.c.customer_number == customer_number, t.tasks.c.status != TaskStatus.DONE.value)).scalar()
            return None if task_id is None else self._views(conn, [task_id])[0]

    # ---- workers ----------------------------------------------------------------------
    def claim_due(
        self, worker_id: str, *, now: datetime | None = None, limit: int = 10, lease_seconds: float = 60.0
    ) -> list[ClaimedTask]:
        """Lease up to ``limit`` due tasks to ``worker_id``, each with a new attempt in
        flight. Never while the master switch is off (R16); never beyond a rule's cap
        (R10); never a second attempt for one customer."""
        if limit < 1 or lease_seconds <= 0:
            raise ValidationError("claim", (limit, lease_seconds), "limit >= 1 and lease_seconds > 0")
        now = aware(now)
        if self._last_reap is None or not self._last_reap <= now < self._last_reap + self._reap_every:
            with self._tx() as conn:
                reap_expired(conn, now)
            self._last_reap = now
        with self._tx() as conn:
            if self.is_postgresql:
                claimed = claim_pg(conn, worker_id, now, limit, lease_seconds)
            else:
                claimed = claim_stepwise(conn, worker_id, now, limit, lease_seconds)
        for c in claimed:
            log.debug("task %s attempt %s (#%d) claimed by %s", c.task_id, c.attempt_id, c.attempt_no, worker_id)
        return claimed

    def next_due_at(self, now: datetime) -> datetime | None:
        """The earliest moment after ``now`` a task may become claimable: a pending
        task falls due, or an active task's lease expires (then it is reaped). None when
        nothing is scheduled (only a new or changed task can make work then)."""
        now = aware(now)
        due = (select(func.min(t.tasks.c.due_at))
               .where(t.tasks.c.status == TaskStatus.PENDING.value, t.tasks.c.due_at > now).scalar_subquery())
        expiry = (select(func.min(t.tasks.c.lease_expires_at))
                  .where(t.tasks.c.status == TaskStatus.ACTIVE.value, t.tasks.c.lease_expires_at > now)
                  .scalar_subquery())
        with self._tx() as conn:
            row = conn.execute(select(type_coerce(due, t.UTCDateTime()), type_coerce(expiry, t.UTCDateTime()))).one()
        times = [w for w in row if w is not None]
        return min(times) if times else None

    def reap_expired(self, *, now: datetime | None = None) -> list[int]:
        """Return expired leases now (claim_due also does it); the task ids."""
        with self._tx() as conn:
            return reap_expired(conn, aware(now))

    def heartbeat(
        self, worker_id: str, task_ids: Iterable[int], *, lease_seconds: float = 60.0, now: datetime | None = None
    ) -> Heartbeat:
        ids = set(task_ids)
        if not ids:
            return Heartbeat(renewed=frozenset(), cancelled=frozenset(), lost=frozenset())
        expires = aware(now) + timedelta(seconds=lease_seconds)
        with self._tx() as conn:
            rows = conn.execute(
                update(t.tasks).where(t.tasks.c.id.in_(ids), t.tasks.c.lease_owner == worker_id)
                .values(lease_expires_at=expires).returning(t.tasks.c.id, t.tasks.c.status)
            ).all()
        renewed = frozenset(r.id for r in rows)
        hb = Heartbeat(
            renewed=renewed,
            cancelled=frozenset(r.id for r in rows if r.status == TaskStatus.DONE.value),
            lost=frozenset(ids - renewed),
        )
        if hb.lost:
            log.warning("worker %s lost leases of tasks %s", worker_id, sorted(hb.lost))
        return hb

    def finish_attempt(
        self,
        task_id: int,
        worker_id: str,
        *,
        outcome: AttemptOutcome,
        next_due: datetime | None = None,
        end_reason: TaskEndReason | None = None,
        detail: str = "",
        employee: str | None = None,
        call_uuids: Sequence[str] = (),
        talk_s: float | None = None,
        now: datetime | None = None,
        recover_legs: bool = False,
    ) -> TaskStatus:
        """Record the in-flight attempt's outcome and free its rule slot; then either
        schedule the next attempt (``next_due``) or end the task (``end_reason``).
        A task cancelled meanwhile stays ended. ``recover_legs``: the attempt ended on a
        switch error, so a leg of it may still be up: the next claimer looks first.
        Returns the task's new status."""
        if (next_due is None) == (end_reason is None):
            raise ValidationError("finish_attempt", (next_due, end_reason), "exactly one of next_due / end_reason")
        now = aware(now)
        outcome = AttemptOutcome(outcome)
        if self.is_postgresql:
            params = {"task_id": task_id, "worker": worker_id, "now": now, "outcome": outcome.value,
                      "detail": detail[:2000], "employee": employee, "call_uuids": json.dumps(list(call_uuids)),
                      "talk_s": talk_s, "next_due": aware(next_due) if next_due is not None else None,
                      "end_reason": TaskEndReason(end_reason).value if end_reason is not None else None,
                      "recover_legs": recover_legs}
            with self._tx() as conn:
                new_status = finish_pg(conn, params)
                if new_status is None:
                    self._leased(conn, task_id, worker_id)  # raises NotFoundError / LeaseLostError
                    raise LeaseLostError(task_id, worker_id)
            status = TaskStatus(new_status)
            log.info("task %s by %s: attempt %s -> task %s%s", task_id, worker_id, outcome.value, status.value,
                     f" ({end_reason})" if end_reason else f" next due {next_due}" if next_due else "")
            return status
        with self._tx() as conn:
            task = self._leased(conn, task_id, worker_id)
            attempt_id = conn.execute(
                update(t.attempts)
                .where(t.attempts.c.task_id == task_id, t.attempts.c.ended_at.is_(None))
                .values(ended_at=now, outcome=AttemptOutcome(outcome).value, detail=detail[:2000],
                        employee=employee, call_uuids=list(call_uuids), talk_s=talk_s)
                .returning(t.attempts.c.id)
            ).scalar()
            if attempt_id is not None:
                conn.execute(update(t.rule_slots).where(t.rule_slots.c.attempt_id == attempt_id)
                             .values(attempt_id=None, task_id=None))
            values: dict[str, object] = {"lease_owner": None, "lease_expires_at": None, "recover_legs": recover_legs}
            status = TaskStatus(task.status)
            if status is not TaskStatus.DONE:
                if next_due is not None:
                    status = TaskStatus.PENDING
                    values.update(status=status.value, due_at=aware(next_due), attempt_no=task.attempt_no + 1)
                else:
                    assert end_reason is not None
                    status = TaskStatus.DONE
                    values.update(status=status.value, end_reason=TaskEndReason(end_reason).value, ended_at=now)
            conn.execute(update(t.tasks).where(t.tasks.c.id == task_id).values(values))
        log.info("task %s attempt %s by %s: %s -> task %s%s", task_id, task.attempt_no, worker_id,
                 AttemptOutcome(outcome).value, status.value,
                 f" ({end_reason})" if end_reason else f" next due {next_due}" if next_due else "")
        return status

    def mark_bridged(self, task_id: int, worker_id: str, *, at: datetime | None = None) -> bool:
        """The in-flight attempt's customer is now bridged with an employee: written as
        it happens, so the fact survives the worker. False if the lease is gone."""
        with self._tx() as conn:
            done = conn.execute(
                update(t.attempts)
                .where(t.attempts.c.task_id == task_id, t.attempts.c.worker == worker_id,
                       t.attempts.c.ended_at.is_(None))
                .values(bridged_at=aware(at))
            ).rowcount
        return bool(done)

    def bridged_unaccounted(self, task_id: int) -> datetime | None:
        """When a customer of this open task was bridged by an attempt that never
        recorded its outcome (its worker died or shut down mid-call); None if none."""
        with self._tx() as conn:
            return conn.execute(
                select(t.attempts.c.bridged_at)
                .where(t.attempts.c.task_id == task_id, t.attempts.c.bridged_at.is_not(None),
                       t.attempts.c.outcome == AttemptOutcome.LEASE_LOST.value)
                .order_by(t.attempts.c.id.desc()).limit(1)
            ).scalar()

    def release(self, task_id: int, worker_id: str, *, now: datetime | None = None,
                recover_legs: bool = False) -> bool:
        """Give a leased task back without counting an attempt (graceful shutdown).
        ``recover_legs``: legs of the attempt may still be up (a bridged call left to
        talk), so the next claimer adopts them. False if the worker no longer held it."""
        with self._tx() as conn:
            try:
                task = self._leased(conn, task_id, worker_id)
            except LeaseLostError:
                return False
            rows = conn.execute(
                select(t.attempts.c.id, t.attempts.c.bridged_at)
                .where(t.attempts.c.task_id == task_id, t.attempts.c.ended_at.is_(None))
            ).all()
            attempt_ids = [r.id for r in rows]
            if attempt_ids:
                conn.execute(update(t.rule_slots).where(t.rule_slots.c.attempt_id.in_(attempt_ids))
                             .values(attempt_id=None, task_id=None))
                # Not counted, so not kept, unless the customer was bridged: that fact
                # must reach the next worker (the call may end before it looks).
                talked = [r.id for r in rows if r.bridged_at is not None]
                if talked:
                    conn.execute(update(t.attempts).where(t.attempts.c.id.in_(talked)).values(
                        ended_at=aware(now), outcome=AttemptOutcome.LEASE_LOST.value,
                        detail="released at shutdown with the customer bridged"))
                conn.execute(t.attempts.delete().where(t.attempts.c.id.in_(
                    [i for i in attempt_ids if i not in talked])))
                if talked:
                    skip_used_attempt_numbers(conn, [task_id])
            values: dict[str, object] = {"lease_owner": None, "lease_expires_at": None}
            if recover_legs:
                values["recover_legs"] = True
            if task.status == TaskStatus.ACTIVE.value:
                values["status"] = TaskStatus.PENDING.value
            conn.execute(update(t.tasks).where(t.tasks.c.id == task_id).values(values))
        log.info("task %s released by %s", task_id, worker_id)
        return True

    # ---- cancels, contacts --------------------------------------------------------------
    def cancel_task(
        self, task_id: int, reason: TaskEndReason = TaskEndReason.CANCELLED_BY_OPERATOR, *, now: datetime | None = None
    ) -> bool:
        with self._tx() as conn:
            return bool(cancel_open_tasks(conn, t.tasks.c.id == task_id, reason, aware(now)))

    def cancel_for_customer(
        self, customer_number: str, reason: TaskEndReason = TaskEndReason.CANCELLED_CONTACT_MADE,
        *, now: datetime | None = None,
    ) -> list[int]:
        """R17: end the customer's open tasks; returns their ids."""
        with self._tx() as conn:
            return cancel_open_tasks(conn, t.tasks.c.customer_number == customer_number, reason, aware(now))

    def record_contact(self, contact: Contact) -> tuple[bool, list[int]]:
        """R17: log a contact (once per call UUID) and cancel the customer's open tasks.
        Returns (newly recorded?, cancelled task ids)."""
        with self._tx() as conn:
            stmt = self._insert(t.contacts).values(
                call_uuid=contact.call_uuid, customer_number=contact.customer_number[:200], at=contact.at,
                kind=contact.kind.value, employee=contact.employee, node=contact.node, extra=dict(contact.extra),
                cancelled_tasks=[],
            ).on_conflict_do_nothing(index_elements=["call_uuid"])
            contact_id = conn.execute(stmt.returning(t.contacts.c.id)).scalar()
            if contact_id is None:
                return False, []
            cancelled = cancel_open_tasks(conn, t.tasks.c.customer_number == contact.customer_number,
                                          TaskEndReason.CANCELLED_CONTACT_MADE, contact.at)
            conn.execute(update(t.contacts).where(t.contacts.c.id == contact_id).values(cancelled_tasks=cancelled))
        log.info("contact %s with %s recorded, cancelled tasks %s", contact.call_uuid, contact.customer_number, cancelled)
        return True, cancelled

    def contact_since(self, customer_number: str, since: datetime) -> bool:
        """Was the customer reached (R17) at or after ``since``? For the rule engine."""
        with self._tx() as conn:
            return conn.execute(select(t.contacts.c.id).where(
                t.contacts.c.customer_number == customer_number, t.contacts.c.at >= aware(since)).limit(1)).first() \
                is not None

    def reschedule(self, task_id: int, due_at: datetime, *, rule_name: str | None = None) -> bool:
        """R12: move a pending task's next attempt (and optionally hand it to another
        rule). False if the task is not pending."""
        values: dict[str, object] = {"due_at": aware(due_at)}
        with self._tx() as conn:
            if rule_name is not None:
                rule_id = conn.execute(select(t.rules.c.id).where(t.rules.c.name == rule_name)).scalar()
                if rule_id is None:
                    raise NotFoundError("rule", rule_name)
                values.update(rule_id=rule_id, rule_name=rule_name)
            return conn.execute(update(t.tasks).where(t.tasks.c.id == task_id,
                                t.tasks.c.status == TaskStatus.PENDING.value).values(values)).rowcount > 0

    # ---- reading ------------------------------------------------------------------------
    def get_task(self, task_id: int) -> TaskView:
        with self._tx() as conn:
            views = self._views(conn, [task_id])
        if not views:
            raise NotFoundError("task", task_id)
        return views[0]

    def list_tasks(
        self, *, status: TaskStatus | None = None, customer_number: str | None = None,
        rule_name: str | None = None, limit: int = 100, end_reason: TaskEndReason | None = None,
        created_since: datetime | None = None, created_until: datetime | None = None,
    ) -> list[TaskView]:
        """Tasks with their attempts, newest first; ``created_since`` inclusive,
        ``created_until`` exclusive."""
        q = select(t.tasks.c.id).order_by(t.tasks.c.id.desc()).limit(limit)
        if end_reason is not None:
            q = q.where(t.tasks.c.end_reason == TaskEndReason(end_reason).value)
        if created_since is not None:
            q = q.where(t.tasks.c.created_at >= aware(created_since))
        if created_until is not None:
            q = q.where(t.tasks.c.created_at < aware(created_until))
        if status is not None:
            q = q.where(t.tasks.c.status == TaskStatus(status).value)
        if customer_number is not None:
            q = q.where(t.tasks.c.customer_number == customer_number)
        if rule_name is not None:
            q = q.where(t.tasks.c.rule_name == rule_name)
        with self._tx() as conn:
            return self._views(conn, list(conn.execute(q).scalars()))

    def lost_calls_for_task(self, task_id: int) -> list[LostCall]:
        """The lost calls a task serves (D1: several), oldest first."""
        with self._tx() as conn:
            rows = conn.execute(select(t.lost_calls.c.facts).where(t.lost_calls.c.task_id == task_id)
                                .order_by(t.lost_calls.c.lost_at, t.lost_calls.c.id)).scalars()
            return [lost_call_from_json(f) for f in rows]

    def attempt_inputs(self, tasks: Sequence[ClaimedTask]) -> dict[int, AttemptInputs]:
        """What a batch of freshly claimed tasks needs before dialling, in two statements
        instead of two per task: their lost calls, and when each customer was last reached
        (R17). 1,000 tasks due at once otherwise wait for each other's round trips."""
        ids = [c.task_id for c in tasks]
        if not ids:
            return {}
        lost: dict[int, list[LostCall]] = {i: [] for i in ids}
        with self._tx() as conn:
            for task_id, facts in conn.execute(
                    select(t.lost_calls.c.task_id, t.lost_calls.c.facts).where(t.lost_calls.c.task_id.in_(ids))
                    .order_by(t.lost_calls.c.task_id, t.lost_calls.c.lost_at, t.lost_calls.c.id)):
                lost[task_id].append(lost_call_from_json(facts))
            numbers = sorted({c.customer_number for c in tasks})
            reached = {n: aware(at) for n, at in conn.execute(
                select(t.contacts.c.customer_number, func.max(t.contacts.c.at))
                .where(t.contacts.c.customer_number.in_(numbers)).group_by(t.contacts.c.customer_number))}
        return {c.task_id: AttemptInputs(lost_calls=lost[c.task_id], last_contact=reached.get(c.customer_number))
                for c in tasks}

    def counts(self, *, now: datetime | None = None) -> QueueCounts:
        """For metrics: pending, due, active tasks, and attempts in flight per rule."""
        now = aware(now)
        with self._tx() as conn:
            pending = conn.execute(select(func.count()).select_from(t.tasks)
                                   .where(t.tasks.c.status == TaskStatus.PENDING.value)).scalar_one()
            due = conn.execute(select(func.count()).select_from(t.tasks)
                               .where(t.tasks.c.status == TaskStatus.PENDING.value, t.tasks.c.due_at <= now)).scalar_one()
            by_rule = {r.name: int(r.n) for r in conn.execute(
                select(t.rules.c.name, func.count().label("n")).join(t.rule_slots)
                .where(t.rule_slots.c.attempt_id.is_not(None)).group_by(t.rules.c.name))}
            active = conn.execute(select(func.count()).select_from(t.tasks)
                                  .where(t.tasks.c.status == TaskStatus.ACTIVE.value)).scalar_one()
        return QueueCounts(pending=int(pending), due=int(due), active=int(active), active_by_rule=by_rule)

    # ---- internals ----------------------------------------------------------------------
    def _insert(self, table: t.Table):  # type: ignore[no-untyped-def]
        return (postgresql.insert if self.is_postgresql else sqlite.insert)(table)

    def _leased(self, conn: Connection, task_id: int, worker_id: str):  # type: ignore[no-untyped-def]
        task = conn.execute(select(t.tasks).where(t.tasks.c.id == task_id).with_for_update()).first()
        if task is None:
            raise NotFoundError("task", task_id)
        if task.lease_owner != worker_id:
            raise LeaseLostError(task_id, worker_id)
        return task

    def _views(self, conn: Connection, ids: list[int]) -> list[TaskView]:
        if not ids:
            return []
        attempts: dict[int, list[AttemptView]] = {}
        for a in conn.execute(select(t.attempts).where(t.attempts.c.task_id.in_(ids))
                              .order_by(t.attempts.c.started_at, t.attempts.c.id)).mappings():
            attempts.setdefault(a["task_id"], []).append(AttemptView(
                attempt_id=a["id"], task_id=a["task_id"], attempt_no=a["attempt_no"],
                customer_number=a["customer_number"], worker=a["worker"], started_at=a["started_at"],
                ended_at=a["ended_at"], outcome=AttemptOutcome(a["outcome"]) if a["outcome"] else None,
                detail=a["detail"], employee=a["employee"], call_uuids=tuple(a["call_uuids"] or ()),
                talk_s=a["talk_s"]))
        calls: dict[int, list[str]] = {}
        for c in conn.execute(select(t.lost_calls.c.task_id, t.lost_calls.c.call_uuid)
                              .where(t.lost_calls.c.task_id.in_(ids)).order_by(t.lost_calls.c.id)):
            calls.setdefault(c.task_id, []).append(c.call_uuid)
        rows = {r["id"]: r for r in conn.execute(select(t.tasks).where(t.tasks.c.id.in_(ids))).mappings()}
        return [TaskView(
            task_id=r["id"], customer_number=r["customer_number"], rule_name=r["rule_name"],
            status=TaskStatus(r["status"]), attempt_no=r["attempt_no"], due_at=r["due_at"],
            lease_owner=r["lease_owner"], lease_expires_at=r["lease_expires_at"],
            end_reason=TaskEndReason(r["end_reason"]) if r["end_reason"] else None,
            created_at=r["created_at"], ended_at=r["ended_at"],
            lost_call_uuids=tuple(calls.get(r["id"], ())), attempts=tuple(attempts.get(r["id"], ())),
        ) for i in ids if (r := rows.get(i)) is not None]


# create_task on PostgreSQL: the rule looked up, the task inserted unless the number
# already has an open one (D1, the partial unique index), the lost call attached.
_PG_CREATE_TASK = text(
    """
WITH r AS (SELECT id FROM rules WHERE name = :rule_name),
ins AS (
    INSERT INTO tasks (customer_number, rule_id, rule_name, status, attempt_no, due_at, created_at)
    SELECT :customer, r.id, :rule_name, 'pending', 1, :due_at, :now FROM r
    ON CONFLICT (customer_number) WHERE status <> 'done' DO NOTHING
    RETURNING id
),
att AS (
    UPDATE lost_calls SET task_id = ins.id, rule_name = :rule_name
    FROM ins WHERE lost_calls.call_uuid = :call_uuid
    RETURNING lost_calls.id
)
SELECT (SELECT id FROM r) AS rule_id, (SELECT id FROM ins) AS task_id, (SELECT count(*) FROM att) AS attached
"""
).bindparams(bindparam("due_at", type_=t.UTCDateTime()), bindparam("now", type_=t.UTCDateTime()))


def _lost_call_values(call: LostCall, skip_reason: SkipReason | None, rule_name: str | None,
                      now: datetime | None) -> dict[str, object]:
    return {
        "call_uuid": call.call_uuid,
        "customer_number": call.customer_number[:200],
        "lost_at": call.lost_at,
        "waited_s": call.waited_s,
        "place": call.place.value,
        "node": call.node,
        "facts": lost_call_to_json(call),
        "skip_reason": skip_reason.value if skip_reason else None,
        "rule_name": rule_name,
        "recorded_at": aware(now),
    }


def _attach(conn: Connection, call_uuid: str, task_id: int, rule_name: str) -> None:
    conn.execute(_STATEMENTS.attach, {"b_uuid": call_uuid, "b_task": task_id, "b_rule": rule_name})


class _IntakeStatements:
    """The statements every lost call runs, built once. Building a Core statement and its
    cache key costs more CPU than SQLite takes to run it (~0.1-0.2 ms each, four or five
    per lost call at 100 calls/s); a prebuilt one is looked up in the compiled cache
    by identity. Parameters go in as bound values, never into the SQL."""

    def __init__(self) -> None:
        open_task = (t.tasks.c.customer_number == bindparam("customer")) & (t.tasks.c.status != TaskStatus.DONE.value)
        self.intake_facts = select(
            select(t.tasks.c.id).where(open_task).limit(1).scalar_subquery(),
            select(t.tasks.c.rule_name).where(open_task).limit(1).scalar_subquery(),
            exists().where(t.contacts.c.customer_number == bindparam("customer"), t.contacts.c.at >= bindparam("since")),
        )
        #: by is_postgresql
        self.record_lost_call = {
            pg: (postgresql.insert if pg else sqlite.insert)(t.lost_calls)
            .on_conflict_do_nothing(index_elements=["call_uuid"]).returning(t.lost_calls.c.id)
            for pg in (False, True)
        }
        self.rule_id = select(t.rules.c.id).where(t.rules.c.name == bindparam("name"))
        self.insert_task_sqlite = (
            sqlite.insert(t.tasks)
            .on_conflict_do_nothing(index_elements=["customer_number"], index_where=t.tasks.c.status != "done")
            .returning(t.tasks.c.id)
        )
        self.record_with_facts_pg = text("""
WITH ins AS (
    INSERT INTO lost_calls (call_uuid, customer_number, lost_at, waited_s, place, node, facts, skip_reason,
                            rule_name, recorded_at)
    VALUES (:call_uuid, :customer_number, :lost_at, :waited_s, :place, :node, :facts, :skip_reason,
            :rule_name, :recorded_at)
    ON CONFLICT (call_uuid) DO NOTHING
    RETURNING id
)
SELECT (SELECT id FROM ins) AS won,
       (SELECT id FROM tasks WHERE customer_number = :customer_number AND status <> 'done' LIMIT 1) AS open_id,
       (SELECT rule_name FROM tasks WHERE customer_number = :customer_number AND status <> 'done' LIMIT 1)
           AS open_rule,
       EXISTS (SELECT 1 FROM contacts WHERE customer_number = :customer_number AND at >= :since) AS reached
""").bindparams(bindparam("facts", type_=t.lost_calls.c.facts.type),
                bindparam("lost_at", type_=t.lost_calls.c.lost_at.type),
                bindparam("recorded_at", type_=t.lost_calls.c.recorded_at.type),
                bindparam("since", type_=t.contacts.c.at.type))
        self.take_in_pg = text(
            "SELECT * FROM fsworker_take_in(:call_uuid, :customer_number, :lost_at, :waited_s, :place, :node, "
            "CAST(:facts AS json), :recorded_at, :rule, :due_at)"
        ).bindparams(bindparam("facts", type_=t.lost_calls.c.facts.type),
                     bindparam("lost_at", type_=t.lost_calls.c.lost_at.type),
                     bindparam("recorded_at", type_=t.lost_calls.c.recorded_at.type),
                     bindparam("due_at", type_=t.tasks.c.due_at.type))
        self.attach = (update(t.lost_calls).where(t.lost_calls.c.call_uuid == bindparam("b_uuid"))
                       .values(task_id=bindparam("b_task"), rule_name=bindparam("b_rule")))


_STATEMENTS = _IntakeStatements()


