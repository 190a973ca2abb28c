"""The callback funnel from the database: what came in since an instant, and what
became of it. Read-only; one statement per section.

Sections (each a list of (label, count)): lost calls by place, skipped by reason, tasks
created, attempts by outcome, tasks ended by reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from fsworker.store import tables as t
from fsworker.store.errors import translate_errors


def funnel(engine: Engine, since: datetime) -> Mapping[str, list[tuple[str, int]]]:
    with translate_errors(engine.url.render_as_string(hide_password=True)), engine.connect() as conn:
        def grouped(col, table, when) -> list[tuple[str, int]]:  # noqa: ANN001
            q = (select(col, func.count()).select_from(table).where(when >= since, col.is_not(None))
                 .group_by(col).order_by(func.count().desc(), col))
            return [(str(k), int(n)) for k, n in conn.execute(q)]

        lost = grouped(t.lost_calls.c.place, t.lost_calls, t.lost_calls.c.lost_at)
        created = conn.execute(select(func.count()).select_from(t.tasks)
                               .where(t.tasks.c.created_at >= since)).scalar_one()
        return {
            "lost calls": [("all", sum(n for _, n in lost)), *lost],
            "skipped": grouped(t.lost_calls.c.skip_reason, t.lost_calls, t.lost_calls.c.lost_at),
            "tasks": [("created", int(created))],
            "attempts": grouped(t.attempts.c.outcome, t.attempts, t.attempts.c.started_at),
            "tasks ended": grouped(t.tasks.c.end_reason, t.tasks, t.tasks.c.ended_at),
        }
