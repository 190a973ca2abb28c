"""What the repository and the queue share: an engine, transactions, error translation.

Rules: every public store method runs in exactly one transaction opened by ``_tx``, so
a method either happens completely or not at all, and driver errors are translated at
this boundary (StoreUnavailableError carries the URL without its password).
``transaction()`` lets one greenlet run several methods in ONE transaction (intake:
record the call, look at the customer's task and contacts, create the task — one
commit instead of four); other greenlets are not affected.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

import gevent
from sqlalchemy import Connection, Engine

from fsworker.store.engine import READ_ONLY, make_engine
from fsworker.store.errors import translate_errors


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(when: datetime | None) -> datetime:
    """``when`` (or now) as an aware UTC datetime; naive datetimes are a bug."""
    if when is None:
        return utcnow()
    if when.tzinfo is None:
        raise ValueError(f"{when!r}: times given to the store must be timezone-aware")
    return when.astimezone(UTC)


class StoreBase:
    def __init__(self, engine: Engine | str) -> None:
        self._owns_engine = isinstance(engine, str)
        self.engine = make_engine(engine) if isinstance(engine, str) else engine
        self.url = self.engine.url.render_as_string(hide_password=True)
        self._current: dict[object, Connection] = {}  #: greenlet -> its open transaction()

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Connection]:
        conn = self._current.get(gevent.getcurrent())
        if conn is not None:  # inside this greenlet's transaction(): part of it
            with translate_errors(self.url):
                yield conn
            return
        with translate_errors(self.url), self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the store methods this greenlet calls inside the block in one transaction:
        all of them happen, or none. Not re-entrant."""
        me = gevent.getcurrent()
        if me in self._current:
            raise RuntimeError("store transaction() is not re-entrant")
        with translate_errors(self.url), self.engine.begin() as conn:
            self._current[me] = conn
            try:
                yield
            finally:
                del self._current[me]

    def ping(self, timeout_s: float = 2.0) -> None:
        """Read the schema's settings row, waiting for no writer and (PostgreSQL) for at
        most ``timeout_s`` on the server: for health probes, which must answer quickly
        whatever the workers are writing. StoreError when the database does not answer."""
        with translate_errors(self.url), self.engine.connect() as conn:
            conn.execution_options(**{READ_ONLY: True})
            with conn.begin():
                if self.is_postgresql:
                    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}")
                conn.exec_driver_sql("SELECT enabled FROM settings WHERE id = 1").all()

    def close(self) -> None:
        """Dispose of the engine if this object created it from a URL."""
        if self._owns_engine:
            self.engine.dispose()
