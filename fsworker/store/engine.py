"""Database engines for PostgreSQL (production, many workers) and SQLite (one process).

Rules: ``make_engine`` is the only place an engine is created, so every connection gets
the same settings: PostgreSQL in UTC, connections recycled; SQLite in WAL mode with a
busy timeout, foreign keys on, and every transaction opened with ``BEGIN IMMEDIATE`` so
a read-then-write (the claim) cannot be interleaved with another writer; in the gevent
worker its calls run off the hub (``offhub.py``), so a lock held by another process
stalls only the greenlet that waits for it. Passwords never appear in logs or errors:
use ``redact_url``.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from fsworker.core.errors import ValidationError
from fsworker.store import offhub
from fsworker.store.redact import ambiguous_userinfo, redact_db_url

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (even an ambiguous one)."""
    return redact_db_url(url)


#: execution option: this connection only reads (SQLite: no write lock taken at BEGIN)
READ_ONLY = "fsworker_read_only"


def make_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> Engine:
    """An engine for a ``postgresql://`` or ``sqlite:///`` URL."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ValidationError("database.url", redact_url(url), "postgresql://... or sqlite:///path") from exc
    if ambiguous_userinfo(url):
        # make_url would connect to the rest of the password as a host, and the driver
        # would print that host in its error
        raise ValidationError("database.url", redact_url(url), "an '@' in the user name or password must be written %40")
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg2")
        engine = create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            # No pre-ping (a round trip per transaction): a dropped connection fails one
            # call with StoreUnavailableError, SQLAlchemy discards the pool, the next
            # call reconnects. Recycle before server / proxy idle timeouts.
            pool_recycle=300,
            connect_args={"options": "-c timezone=UTC", "connect_timeout": 5},
            echo=echo,
        )
        return engine
    if backend == "sqlite":
        engine = create_engine(parsed, echo=echo, connect_args={"check_same_thread": False})
        if offhub.is_enabled():
            _connect_off_hub(engine)
        _install_sqlite_hooks(engine)
        return engine
    raise ValidationError("database.url", redact_url(url), "postgresql://... or sqlite:///path")


def _connect_off_hub(engine: Engine) -> None:
    @event.listens_for(engine, "do_connect")
    def _do_connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return offhub.connect(dialect.loaded_dbapi.connect, *cargs, **cparams)


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide where transactions start (see "begin").
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: the claim's SELECT and UPDATE then
        # run without another writer in between (SQLite's stand-in for SKIP LOCKED).
        # A connection marked read-only (the health probe) must not wait for writers:
        # in WAL mode a plain BEGIN reads beside them.
        read_only = conn.get_execution_options().get(READ_ONLY)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_psycopg2_green() -> None:
    """Make psycopg2 cooperate with gevent: while a query waits on the server, other
    greenlets run. Process-wide; call once at start-up of a gevent worker."""
    from psycopg2 import extensions

    extensions.set_wait_callback(_gevent_wait_callback)


def _gevent_wait_callback(conn: Any, timeout: float | None = None) -> None:
    # psycopg2 calls this instead of blocking in libpq: poll the connection and yield to
    # the gevent hub until its socket is ready in the direction libpq needs.
    from gevent.socket import wait_read, wait_write
    from psycopg2 import OperationalError, extensions

    while True:
        state = conn.poll()
        if state == extensions.POLL_OK:
            return
        if state == extensions.POLL_READ:
            wait_read(conn.fileno(), timeout=timeout)
        elif state == extensions.POLL_WRITE:
            wait_write(conn.fileno(), timeout=timeout)
        else:
            raise OperationalError(f"unexpected psycopg2 poll state {state!r}")
