"""Task-change notifications (PostgreSQL LISTEN/NOTIFY): the channel and a listening
connection. No waiting here: the caller waits for ``fileno()`` to be readable (gevent in
fsworker/service/duewaker.py), then calls ``drain()``.

Migration 0004 installs the trigger that sends them: a task inserted pending, made
pending again or given a new due time, or leaving ``active`` (its rule slot frees).
Driver errors leave as ``StoreUnavailableError``.
"""

from __future__ import annotations

from typing import Any

import psycopg2
from sqlalchemy import Engine

from fsworker.store.errors import StoreUnavailableError

CHANNEL = "fsworker_tasks"


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

    def drain(self) -> int:
        """Read what arrived (call when ``fileno()`` is readable); how many notifications."""
        try:
            self._raw.poll()
        except psycopg2.Error as exc:
            raise StoreUnavailableError(self._where, f"LISTEN {CHANNEL}: {str(exc).strip()}") from exc
        n = len(self._raw.notifies)
        self._raw.notifies.clear()
        return n

    def close(self) -> None:
        try:
            self._raw.close()
        except psycopg2.Error:
            pass  # closing a connection the server already dropped
