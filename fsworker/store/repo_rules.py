"""Rules in the store: add, edit, order (R11), enable / disable (R14), delete (R15).

Rules: positions are kept contiguous (0 = first) and rewritten in one transaction
with the rule rows locked, so two operators moving rules at once cannot interleave.
Each rule owns MAX_CONCURRENCY slot rows (see tables.py) that the claim uses for its
cap (R10). Disabling a rule only stops intake: its tasks are still claimed. Deleting a
rule cancels every open task it created (``cancelled_rule_deleted``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)

from fsworker.core.errors import ValidationError
from fsworker.core.model import MAX_CONCURRENCY, STRATEGY_TARGET, LossPlace, Rule
from fsworker.core.outcomes import TaskEndReason, TaskStatus
from fsworker.core.validation import check_rule_strategy
from fsworker.store import tables as t
from fsworker.store.base import StoreBase, aware
from fsworker.store.codec import rule_from_row, rule_to_row
from fsworker.store.errors import AlreadyExistsError, NotFoundError

log = logging.getLogger(__name__)

ENTITY_TABLES: dict[str, tuple[Table, str]] = {
    "employee": (t.employees, "name"),
    "group": (t.employee_groups, "name"),
    "campaign": (t.campaigns, "name"),
    "scenario": (t.scenarios, "name"),
    "virtual_number": (t.virtual_numbers, "number"),
    "site": (t.sites, "name"),
    "schedule": (t.schedules, "name"),
}
_PLACE_KIND = {LossPlace.NUMBER: "virtual_number", LossPlace.SCENARIO: "scenario", LossPlace.SITE: "site"}


def check_reference(conn: Connection, kind: str, name: str, field: str) -> None:
    """ValidationError naming ``field`` unless entity ``kind`` called ``name`` exists."""
    table, col = ENTITY_TABLES[kind]
    if conn.execute(select(table.c.id).where(table.c[col] == name)).first() is None:
        raise ValidationError(field, name, f"no {kind.replace('_', ' ')} with this name exists")


def rule_references(rule: Rule) -> list[tuple[str, str, str]]:
    """(entity kind, name, rule field) for every entity ``rule`` refers to."""
    refs: list[tuple[str, str, str]] = []
    if rule.place in _PLACE_KIND and rule.place_value:
        refs.append((_PLACE_KIND[rule.place], rule.place_value, "rule.place_value"))
    kind = STRATEGY_TARGET.get(rule.strategy)
    if kind in ("group", "employee", "scenario") and rule.target:
        refs.append((kind, rule.target, "rule.target"))
    if rule.callback_schedule:
        refs.append(("schedule", rule.callback_schedule, "rule.callback_schedule"))
    if rule.applies_schedule:
        refs.append(("schedule", rule.applies_schedule, "rule.applies_schedule"))
    return refs


def cancel_open_tasks(
    conn: Connection, where: ColumnElement[bool], reason: TaskEndReason, now: datetime
) -> list[int]:
    """End every open task matching ``where`` with ``reason``; returns their ids.

    An attempt already in flight keeps its lease and rule slot until its worker
    finishes it (the call is still up); the worker learns of the cancel on heartbeat."""
    rows = conn.execute(
        update(t.tasks)
        .where(where, t.tasks.c.status != TaskStatus.DONE.value)
        .values(status=TaskStatus.DONE.value, end_reason=reason.value, ended_at=now)
        .returning(t.tasks.c.id)
    )
    ids = sorted(r.id for r in rows)
    for task_id in ids:
        log.info("task %s cancelled: %s", task_id, reason.value)
    return ids


class RuleOps(StoreBase):
    def add_rule(self, rule: Rule, *, at: int | None = None, now: datetime | None = None) -> Rule:
        """Insert ``rule`` at position ``at`` (default: last); returns it with its position.
        ``rule.position`` is ignored: order is managed here (R11)."""
        now = aware(now)
        with self._tx() as conn:
            names = self._locked_order(conn)
            at = len(names) if at is None else max(0, min(at, len(names)))
            names.insert(at, rule.name)
            stored = self._insert_rule(conn, rule.evolve(position=at), now)
            self._write_order(conn, names)
        log.info("rule %r added at position %d", rule.name, at)
        return stored

    def update_rule(self, rule: Rule, *, now: datetime | None = None) -> Rule:
        """Replace the rule with this name, keeping its position. Its tasks follow the
        new settings from their next attempt on (R12; the planner re-plans them)."""
        now = aware(now)
        with self._tx() as conn:
            row = conn.execute(select(t.rules.c.id, t.rules.c.position).where(t.rules.c.name == rule.name)).first()
            if row is None:
                raise NotFoundError("rule", rule.name)
            check_rule_strategy(rule)
            for kind, name, field in rule_references(rule):
                check_reference(conn, kind, name, field)
            values = {**rule_to_row(rule), "position": row.position, "updated_at": now}
            conn.execute(update(t.rules).where(t.rules.c.id == row.id).values(values))
            return rule.evolve(position=row.position)

    def delete_rule(self, name: str, *, now: datetime | None = None) -> list[int]:
        """Delete a rule and cancel its open tasks (R15); returns the cancelled task ids."""
        now = aware(now)
        with self._tx() as conn:
            names = self._locked_order(conn)
            row = conn.execute(select(t.rules.c.id).where(t.rules.c.name == name)).first()
            if row is None:
                raise NotFoundError("rule", name)
            cancelled = self._delete_rule_row(conn, row.id, name, now)
            names.remove(name)
            self._write_order(conn, names)
        log.info("rule %r deleted, cancelled tasks %s", name, cancelled)
        return cancelled

    def rename_rule(self, name: str, new_name: str, *, now: datetime | None = None) -> None:
        """Give a rule a new name; its tasks (and their lost calls) follow it.
        (Added for ``fsworker rules edit --rename``.)"""
        now = aware(now)
        with self._tx() as conn:
            row = conn.execute(select(t.rules.c.id).where(t.rules.c.name == name)).first()
            if row is None:
                raise NotFoundError("rule", name)
            if conn.execute(select(t.rules.c.id).where(t.rules.c.name == new_name)).first() is not None:
                raise AlreadyExistsError("rule", new_name)
            conn.execute(update(t.rules).where(t.rules.c.id == row.id).values(name=new_name, updated_at=now))
            conn.execute(update(t.tasks).where(t.tasks.c.rule_id == row.id).values(rule_name=new_name))
            conn.execute(update(t.lost_calls).where(t.lost_calls.c.rule_name == name).values(rule_name=new_name))
        log.info("rule %r renamed to %r", name, new_name)

    def set_rule_enabled(self, name: str, enabled: bool, *, now: datetime | None = None) -> None:
        """R14: a disabled rule takes no new lost calls but still processes its tasks."""
        with self._tx() as conn:
            n = conn.execute(
                update(t.rules).where(t.rules.c.name == name).values(enabled=enabled, updated_at=aware(now))
            ).rowcount
            if n == 0:
                raise NotFoundError("rule", name)
        log.info("rule %r %s", name, "enabled" if enabled else "disabled")

    def move_rule_up(self, name: str) -> list[str]:
        return self._move(name, lambda i, n: i - 1)

    def move_rule_down(self, name: str) -> list[str]:
        return self._move(name, lambda i, n: i + 1)

    def move_rule_to(self, name: str, position: int) -> list[str]:
        """Move a rule to ``position`` (0 = first, clamped); returns the new order."""
        return self._move(name, lambda i, n: position)

    def get_rule(self, name: str) -> Rule:
        with self._tx() as conn:
            row = conn.execute(select(t.rules).where(t.rules.c.name == name)).mappings().first()
            if row is None:
                raise NotFoundError("rule", name)
            return rule_from_row(row)

    def list_rules(self) -> list[Rule]:
        """All rules in priority order (R11)."""
        with self._tx() as conn:
            return self._read_rules(conn)

    # ---- internals ---------------------------------------------------------------------
    def _move(self, name: str, where_to: Any) -> list[str]:
        with self._tx() as conn:
            names = self._locked_order(conn)
            if name not in names:
                raise NotFoundError("rule", name)
            i = names.index(name)
            j = max(0, min(int(where_to(i, len(names))), len(names) - 1))
            names.insert(j, names.pop(i))
            self._write_order(conn, names)
        log.info("rule %r moved from position %d to %d", name, i, j)
        return names

    def _locked_order(self, conn: Connection) -> list[str]:
        # FOR UPDATE on every rule row: concurrent reorderings queue up instead of
        # interleaving (SQLite: BEGIN IMMEDIATE already serialises writers).
        q = select(t.rules.c.name).order_by(t.rules.c.position, t.rules.c.id).with_for_update()
        return list(conn.execute(q).scalars())

    def _write_order(self, conn: Connection, names: list[str]) -> None:
        current = {r.name: r.position for r in conn.execute(select(t.rules.c.name, t.rules.c.position))}
        for pos, name in enumerate(names):
            if current.get(name) != pos:
                conn.execute(update(t.rules).where(t.rules.c.name == name).values(position=pos))

    def _insert_rule(self, conn: Connection, rule: Rule, now: datetime) -> Rule:
        check_rule_strategy(rule)
        for kind, name, field in rule_references(rule):
            check_reference(conn, kind, name, field)
        if conn.execute(select(t.rules.c.id).where(t.rules.c.name == rule.name)).first() is not None:
            raise AlreadyExistsError("rule", rule.name)
        rule_id = conn.execute(
            insert(t.rules).values({**rule_to_row(rule), "updated_at": now}).returning(t.rules.c.id)
        ).scalar_one()
        conn.execute(insert(t.rule_slots), [{"rule_id": rule_id, "slot": s} for s in range(MAX_CONCURRENCY)])
        return rule

    def _write_rules(self, conn: Connection, rules: list[Rule], now: datetime) -> None:
        """Import: upsert ``rules`` by name in this order (positions 0..n-1)."""
        existing = {r.name: r.id for r in conn.execute(select(t.rules.c.id, t.rules.c.name))}
        for pos, rule in enumerate(rules):
            rule = rule.evolve(position=pos)
            if rule.name in existing:
                check_rule_strategy(rule)
                for kind, name, field in rule_references(rule):
                    check_reference(conn, kind, name, field)
                conn.execute(update(t.rules).where(t.rules.c.id == existing[rule.name])
                             .values({**rule_to_row(rule), "updated_at": now}))
            else:
                self._insert_rule(conn, rule, now)

    def _delete_rule_row(self, conn: Connection, rule_id: int, name: str, now: datetime) -> list[int]:
        cancelled = cancel_open_tasks(conn, t.tasks.c.rule_id == rule_id, TaskEndReason.CANCELLED_RULE_DELETED, now)
        conn.execute(delete(t.rules).where(t.rules.c.id == rule_id))
        return cancelled

    def _read_rules(self, conn: Connection) -> list[Rule]:
        rows = conn.execute(select(t.rules).order_by(t.rules.c.position, t.rules.c.id)).mappings()
        return [rule_from_row(r) for r in rows]

    def rule_count(self) -> int:
        with self._tx() as conn:
            return int(conn.execute(select(func.count()).select_from(t.rules)).scalar_one())
