"""R12 applied to the queue: after rules or schedules change, waiting tasks follow.

Rules: for every pending task, a higher-priority rule that now takes its lost call
takes the task over; the scheduled attempt is re-shifted into the (new) rule's callback
schedule, keeping its number; later attempts follow the current rule anyway (the
dispatcher asks the planner with the rule as it is when the attempt ends). Attempts in
flight are left alone. Decisions are the pure planner's; this module only reads the
tasks and writes the new due times.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from fsworker.core.catalog import Catalog
from fsworker.core.outcomes import TaskStatus
from fsworker.core.planner import ScheduleNeverOpensError, TaskPlanState, replan
from fsworker.core.rules import takeover
from fsworker.store.queue import TaskQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class Replanned:
    task_id: int
    old_rule: str
    new_rule: str
    old_due: datetime
    new_due: datetime


def replan_pending(queue: TaskQueue, catalog: Catalog, now: datetime, *, limit: int = 100_000) -> list[Replanned]:
    changed: list[Replanned] = []
    for task in queue.list_tasks(status=TaskStatus.PENDING, limit=limit):
        current = catalog.rule_by_name.get(task.rule_name)
        if current is None:
            continue  # its rule was deleted: the store cancelled it (R15)
        calls = queue.lost_calls_for_task(task.task_id)
        if not calls:
            continue
        first = min(calls, key=lambda c: c.lost_at)
        new_rule = takeover(catalog, first, task.rule_name) or current
        state = TaskPlanState(attempt_no=task.attempt_no, due_at=task.due_at, rule_name=task.rule_name,
                              lost_at=first.lost_at, task_id=task.task_id)
        try:
            new_state = replan(state, current, new_rule, catalog, now)
        except ScheduleNeverOpensError as exc:
            log.warning("task %s: not re-planned: %s", task.task_id, exc)
            continue
        if new_state.due_at == task.due_at and new_state.rule_name == task.rule_name:
            continue
        rule_name = new_state.rule_name if new_state.rule_name != task.rule_name else None
        if queue.reschedule(task.task_id, new_state.due_at, rule_name=rule_name):
            changed.append(Replanned(task_id=task.task_id, old_rule=task.rule_name, new_rule=new_state.rule_name,
                                     old_due=task.due_at, new_due=new_state.due_at))
    return changed
