"""Task-change notifications (PostgreSQL LISTEN/NOTIFY): the channel and a listening
connection. No waiting here: the caller waits for ``fileno()`` to be readable (gevent in
fsworker/service/duewaker.py), then calls ``drain()``.

Migration 0006 installs the triggers that send them: a task inserted pending, made
pending again or given a new due time, or leaving ``active`` (its rule slot frees).
Since migration 0007 the payload is the task's due time (Unix seconds), or empty when
a task left ``active``: a worker sleeping until no later than that due time sleeps on.
Driver errors leave as ``StoreUnavailableError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg2
from sqlalchemy import Engine

from fsworker.store.errors import StoreUnavailableError

CHANNEL = "fsworker_tasks"


@dataclass(frozen=True, slots=True)
class TaskChanges:
    """A batch of notifications: how many, and the earliest due time they announce.
    ``earliest`` is None when any of them names none (a rule slot freed; a payload from
    migration 0006's trigger, or one not understood): claimable now, look at once."""

    count: int = 0
    earliest: datetime | None = None

    def __bool__(self) -> bool:
        return self.count > 0

    @classmethod
    def of(cls, payloads: list[str]) -> TaskChanges:
        dues: list[datetime] = []
        for payload in payloads:
            try:
                dues.append(datetime.fromtimestamp(float(payload), UTC))
            except (ValueError, OverflowError, OSError):
                return cls(count=len(payloads))
        return cls(count=len(payloads), earliest=min(dues) if dues else None)


class TaskNotifications:
    """A connection of its own, outside the pool, with ``LISTEN fsworker_tasks`` in effect."""

    def __init__(self, engine: Engine) -> None:
        self._where = engine.url.render_as_string(hide_password=True)
        dialect = engine.dialect
        cargs, cparams = dialect.create_connect_args(engine.url)
        try:
            self._raw: Any = dialect.loaded_dbapi.connect(*cargs, **cparams)
            self._raw.autocommit = True  # LISTEN takes effect at once
            with self._raw.cursor() as cur:
                cur.execute(f"LISTEN {CHANNEL}")
        except psycopg2.Error as exc:
            raise StoreUnavailableError(self._where, f"LISTEN {CHANNEL}: {str(exc).strip()}") from exc

    def fileno(self) -> int:
        return self._raw.fileno()

    def drain(self) -> TaskChanges:
        """Read what arrived (call when ``fileno()`` is readable)."""
        try:
            self._raw.poll()
        except psycopg2.Error as exc:
            raise StoreUnavailableError(self._where, f"LISTEN {CHANNEL}: {str(exc).strip()}") from exc
        changes = TaskChanges.of([n.payload for n in self._raw.notifies])
        self._raw.notifies.clear()
        return changes

    def close(self) -> None:
        try:
            self._raw.close()
        except psycopg2.Error:
            pass  # closing a connection the server already dropped
