"""SQLite calls off the gevent hub, for the gevent worker (``fsworker run``).

Rules:
- sqlite3 blocks in C: a statement that meets another process's lock (a CLI import, a
  backup holding ``BEGIN EXCLUSIVE``) waits up to the busy timeout inside the call.
  Made on the hub, that wait froze every greenlet: ESL reading, call flows, /metrics.
  Here every DB-API call that can wait on a lock (connect, execute, fetch, commit,
  rollback) runs in gevent's threadpool; the calling greenlet waits for it, every other
  greenlet runs. sqlite3 releases the GIL while it steps a statement or waits on a lock.
- A connection is used by one greenlet at a time (SQLAlchemy's pool checks it out), so
  calls on it never overlap, whichever pool thread runs them (``check_same_thread``
  is off for that reason).
- Process-wide and opt-in (``run_sqlite_off_hub``), like ``make_psycopg2_green``: the
  CLI and the tests call SQLite directly, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

R = TypeVar("R")

_enabled = False


def run_sqlite_off_hub(enabled: bool = True) -> None:
    """Make SQLite engines created from now on run their calls in gevent's threadpool."""
    global _enabled
    _enabled = enabled


def is_enabled() -> bool:
    return _enabled


def _off_hub(fn: Callable[..., R], *args: Any) -> R:
    import gevent

    hub = gevent.get_hub()
    if gevent.getcurrent() is hub:  # a callback of the loop itself may not wait: run it here
        return fn(*args)
    return hub.threadpool.apply(fn, args)


class OffHubCursor:
    """A sqlite3 cursor whose waiting calls run off the hub."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: Any) -> None:
        object.__setattr__(self, "_cursor", cursor)

    def execute(self, *args: Any) -> OffHubCursor:
        _off_hub(self._cursor.execute, *args)
        return self

    def executemany(self, *args: Any) -> OffHubCursor:
        _off_hub(self._cursor.executemany, *args)
        return self

    def fetchone(self) -> Any:
        return _off_hub(self._cursor.fetchone)

    def fetchmany(self, *args: Any) -> list[Any]:
        return _off_hub(self._cursor.fetchmany, *args)

    def fetchall(self) -> list[Any]:
        return _off_hub(self._cursor.fetchall)

    def __iter__(self) -> OffHubCursor:
        return self

    def __next__(self) -> Any:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    def __getattr__(self, name: str) -> Any:  # description, rowcount, lastrowid, close...
        return getattr(self._cursor, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._cursor, name, value)


class OffHubConnection:
    """A sqlite3 connection whose waiting calls run off the hub."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Any) -> None:
        object.__setattr__(self, "_conn", conn)

    def cursor(self, *args: Any) -> OffHubCursor:
        return OffHubCursor(self._conn.cursor(*args))

    def execute(self, *args: Any) -> OffHubCursor:
        return OffHubCursor(_off_hub(self._conn.execute, *args))

    def commit(self) -> None:
        _off_hub(self._conn.commit)

    def rollback(self) -> None:
        _off_hub(self._conn.rollback)

    def __getattr__(self, name: str) -> Any:  # close, create_function, isolation_level, ...
        return getattr(self._conn, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._conn, name, value)


def connect(dbapi_connect: Callable[..., Any], *args: Any, **kwargs: Any) -> OffHubConnection:
    """``dbapi_connect(*args, **kwargs)`` off the hub, wrapped."""
    return OffHubConnection(_off_hub(lambda: dbapi_connect(*args, **kwargs)))
