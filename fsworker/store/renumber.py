"""Stored numbers rewritten to their identity under a region, and the open tasks that
turn out to be one customer merged (D1). Run by migration 0005 and by ``fsworker db
normalize-numbers`` (after ``[numbers] region`` is set or changed).

Rules:
- One transaction, the caller's: everything or nothing.
- Idempotent: an E.164 number is its own identity, so a second run changes nothing.
- A stored value that is no number of the region (an internal "101", a withheld
  caller's "anonymous") is left as it is: it still names what it named and matches no
  customer.
- Configuration rows that collapse into one (the blacklist's "+7916..." and "8916...",
  two virtual numbers) keep the oldest row.
- Open tasks of one customer: the one a worker holds (active), else the oldest,
  continues with its rule, attempt count and due time, as a second lost call joining
  it would (D1). The others end ``merged``; their lost calls join the continuing task,
  their attempts stay recorded under them, and an attempt still marked in flight
  there ends ``cancelled`` (run it with the workers stopped).
- Lost calls keep their other facts; the numbers inside ``facts`` are rewritten too.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from fsworker.core.numbering import NumberPlan
from fsworker.core.outcomes import AttemptOutcome, TaskEndReason, TaskStatus
from fsworker.store import tables as t

log = logging.getLogger(__name__)

_BATCH = 1000


@dataclass(frozen=True, kw_only=True, slots=True)
class RenumberReport:
    """What a run changed, for the operator."""

    region: str
    rewritten: int = 0  #: rows whose number changed
    duplicates_removed: int = 0  #: blacklist / virtual number rows that were another row's spelling
    tasks_merged: int = 0  #: open tasks ended ``merged`` into another task of the same customer

    def __str__(self) -> str:
        return (f"region {self.region}: {self.rewritten} number(s) rewritten, "
                f"{self.duplicates_removed} duplicate entr(y/ies) removed, {self.tasks_merged} open task(s) merged")


class _Count:
    def __init__(self) -> None:
        self.rewritten = 0
        self.duplicates = 0
        self.merged = 0


def renumber(conn: Connection, plan: NumberPlan, *, now: datetime | None = None) -> RenumberReport:
    """Rewrite every stored number to ``plan``'s identity; see the module rules."""
    if plan.region is None:
        raise ValueError("renumber needs a NumberPlan with a region")
    now = now or datetime.now(UTC)
    count = _Count()
    ident = plan.normalize_or_keep
    _unique_numbers(conn, t.blacklist, ident, count)
    _unique_numbers(conn, t.virtual_numbers, ident, count)
    _column(conn, t.rules, t.rules.c.place_value, ident, count, t.rules.c.place == "number")
    _column(conn, t.rules, t.rules.c.target, ident, count, t.rules.c.strategy == "number")
    _column(conn, t.campaigns, t.campaigns.c.target, ident, count, t.campaigns.c.target_kind == "number")
    _merge_open_tasks(conn, ident, now, count)
    _column(conn, t.tasks, t.tasks.c.customer_number, ident, count)
    _column(conn, t.attempts, t.attempts.c.customer_number, ident, count)
    _column(conn, t.contacts, t.contacts.c.customer_number, ident, count)
    _lost_calls(conn, ident, count)
    report = RenumberReport(region=plan.region, rewritten=count.rewritten,
                            duplicates_removed=count.duplicates, tasks_merged=count.merged)
    log.info("numbers normalised: %s", report)
    return report


def _changed(ident: Any, value: str | None) -> str | None:
    """The new value, or None when it stays."""
    if value is None:
        return None
    new = ident(value)
    return new if new != value else None


def _unique_numbers(conn: Connection, table: Any, ident: Any, count: _Count) -> None:
    rows = conn.execute(select(table.c.id, table.c.number).order_by(table.c.id)).all()
    taken = {r.number for r in rows if _changed(ident, r.number) is None}
    for r in rows:
        new = _changed(ident, r.number)
        if new is None:
            continue
        if new in taken:
            conn.execute(delete(table).where(table.c.id == r.id))
            log.info("%s: %s removed, it is %s", table.name, r.number, new)
            count.duplicates += 1
        else:
            conn.execute(update(table).where(table.c.id == r.id).values(number=new))
            taken.add(new)
            count.rewritten += 1


def _column(conn: Connection, table: Any, column: Any, ident: Any, count: _Count, where: Any = None) -> None:
    last = 0
    while True:
        q = select(table.c.id, column).where(table.c.id > last, column.is_not(None))
        if where is not None:
            q = q.where(where)
        rows = conn.execute(q.order_by(table.c.id).limit(_BATCH)).all()
        if not rows:
            return
        for row_id, value in rows:
            new = _changed(ident, value)
            if new is not None:
                conn.execute(update(table).where(table.c.id == row_id).values({column.name: new}))
                count.rewritten += 1
        last = rows[-1][0]


def _merge_open_tasks(conn: Connection, ident: Any, now: datetime, count: _Count) -> None:
    tasks = t.tasks
    rows = conn.execute(select(tasks.c.id, tasks.c.customer_number, tasks.c.status)
                        .where(tasks.c.status != TaskStatus.DONE.value).order_by(tasks.c.id)).all()
    by_customer: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_customer[ident(r.customer_number)].append(r)
    for customer, group in by_customer.items():
        if len(group) < 2:
            continue
        active = [r for r in group if r.status == TaskStatus.ACTIVE.value]
        keep = (active or group)[0]
        for r in group:
            if r.id != keep.id:
                _merge(conn, r.id, keep.id, now)
                log.info("task %s (%s) merged into task %s: one customer %s (D1)",
                         r.id, r.customer_number, keep.id, customer)
                count.merged += 1


def _merge(conn: Connection, task_id: int, into: int, now: datetime) -> None:
    conn.execute(update(t.lost_calls).where(t.lost_calls.c.task_id == task_id).values(task_id=into))
    conn.execute(update(t.attempts).where(t.attempts.c.task_id == task_id, t.attempts.c.ended_at.is_(None))
                 .values(ended_at=now, outcome=AttemptOutcome.CANCELLED.value,
                         detail=f"task merged into task {into} (one customer)"))
    conn.execute(update(t.tasks).where(t.tasks.c.id == task_id).values(
        status=TaskStatus.DONE.value, end_reason=TaskEndReason.MERGED.value, ended_at=now,
        lease_owner=None, lease_expires_at=None))
    conn.execute(update(t.rule_slots).where(t.rule_slots.c.task_id == task_id).values(task_id=None, attempt_id=None))


def _lost_calls(conn: Connection, ident: Any, count: _Count) -> None:
    lost = t.lost_calls
    last = 0
    while True:
        rows = conn.execute(select(lost.c.id, lost.c.customer_number, lost.c.facts)
                            .where(lost.c.id > last).order_by(lost.c.id).limit(_BATCH)).all()
        if not rows:
            return
        for row_id, number, facts in rows:
            values: dict[str, Any] = {}
            new = _changed(ident, number)
            if new is not None:
                values["customer_number"] = new
            # the call as loaded again (strategies, webhooks) comes from facts
            if isinstance(facts, dict):
                renamed = {key: new_value for key in ("customer_number", "virtual_number")
                           if isinstance(facts.get(key), str)
                           and (new_value := _changed(ident, facts[key])) is not None}
                if renamed:
                    values["facts"] = {**facts, **renamed}
            if values:
                conn.execute(update(lost).where(lost.c.id == row_id).values(values))
                count.rewritten += 1
        last = rows[-1][0]
