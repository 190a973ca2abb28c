"""The funnel of a period read from the database (``fsworker stats``, the demo's table).

Rules: read-only, one transaction, a handful of grouped counts (no row per call is
loaded except the successful tasks' times). Each stage is counted by the time it
happened: lost calls by ``lost_at``, tasks created by ``created_at``, attempts and
ended tasks by ``ended_at``; loss -> successful callback runs from the task's first
lost call to the end of its successful attempt, as the
``fsworker_loss_to_callback_seconds`` histogram measures it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import aliased

from fsworker.core.funnel import Funnel
from fsworker.core.outcomes import AttemptOutcome
from fsworker.store import tables as t
from fsworker.store.base import StoreBase, aware


def _window(column: Any, since: datetime | None, until: datetime | None) -> ColumnElement[bool]:
    conds = [column.is_not(None)]
    if since is not None:
        conds.append(column >= aware(since))
    if until is not None:
        conds.append(column < aware(until))
    return and_(*conds)


class FunnelReader(StoreBase):
    def funnel(self, *, since: datetime | None = None, until: datetime | None = None) -> Funnel:
        lc, tk, at = t.lost_calls.c, t.tasks.c, t.attempts.c
        with self._tx() as conn:
            in_window = _window(lc.lost_at, since, until)
            by_place = dict(conn.execute(select(lc.place, func.count()).where(in_window).group_by(lc.place)).all())
            skipped = dict(conn.execute(select(lc.skip_reason, func.count())
                                        .where(in_window, lc.skip_reason.is_not(None))
                                        .group_by(lc.skip_reason)).all())
            earlier = aliased(t.lost_calls)
            joined = conn.execute(select(func.count()).select_from(t.lost_calls).where(
                in_window, lc.task_id.is_not(None),
                select(earlier.c.id).where(earlier.c.task_id == lc.task_id, earlier.c.id < lc.id).exists(),
            )).scalar_one()
            created = conn.execute(select(func.count()).select_from(t.tasks)
                                   .where(_window(tk.created_at, since, until))).scalar_one()
            outcomes = dict(conn.execute(select(at.outcome, func.count())
                                         .where(_window(at.ended_at, since, until), at.outcome.is_not(None))
                                         .group_by(at.outcome)).all())
            ended = dict(conn.execute(select(tk.end_reason, func.count())
                                      .where(_window(tk.ended_at, since, until), tk.end_reason.is_not(None))
                                      .group_by(tk.end_reason)).all())
            first_loss = (select(lc.task_id, func.min(lc.lost_at).label("lost_at"))
                          .where(lc.task_id.is_not(None)).group_by(lc.task_id).subquery())
            pairs = conn.execute(select(first_loss.c.lost_at, at.ended_at)
                                 .join(first_loss, first_loss.c.task_id == at.task_id)
                                 .where(_window(at.ended_at, since, until),
                                        at.outcome == AttemptOutcome.SUCCESS.value)).all()
        return Funnel(
            since=since, until=until, lost_by_place=by_place, skipped_by_reason=skipped,
            tasks_created=int(created), tasks_joined=int(joined), attempts_by_outcome=outcomes,
            tasks_ended_by_reason=ended,
            loss_to_success_s=tuple(max(0.0, (aware(end) - aware(lost)).total_seconds()) for lost, end in pairs),
        )
