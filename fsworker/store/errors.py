"""Errors the store raises, and the one place driver errors are translated.

Rules: no psycopg2 / sqlite3 / SQLAlchemy exception leaves fsworker.store; each is
translated here with ``raise ... from exc``. Messages carry the database URL only with
its password removed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from sqlalchemy import exc as sa_exc

from fsworker.core.errors import FsworkerError, ValidationError, with_article


class StoreError(FsworkerError):
    """Something went wrong in the store that the caller can report."""


class StoreUnavailableError(StoreError):
    """The database cannot be reached (down, restarting, wrong URL). Retry later."""

    exit_code = 4

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(f"database unavailable at {url}: {detail}")


class NotFoundError(StoreError):
    """The named entity, rule or task does not exist."""

    exit_code = 3

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")


class AlreadyExistsError(ValidationError):
    """An entity with this name (number) already exists."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind}.name", key, f"must be unique: {with_article(kind)} with this name already exists")


class EntityInUseError(StoreError):
    """R13: deleting an entity that rules (or groups, campaigns) still use is refused."""

    def __init__(self, kind: str, name: str, rules: Sequence[str], others: Sequence[str] = ()) -> None:
        self.kind = kind
        self.name = name
        self.rules = tuple(rules)
        self.others = tuple(others)
        parts = []
        if self.rules:
            parts.append("rule(s) " + ", ".join(repr(r) for r in self.rules))
        if self.others:
            parts.append(", ".join(self.others))
        super().__init__(f"cannot delete {kind} {name!r}: used by " + "; ".join(parts))


class LeaseLostError(StoreError):
    """The worker no longer holds the task's lease (it expired and was reclaimed)."""

    def __init__(self, task_id: int, worker_id: str) -> None:
        self.task_id = task_id
        self.worker_id = worker_id
        super().__init__(f"task {task_id}: worker {worker_id!r} no longer holds its lease")


@contextlib.contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn "the database went away" into StoreUnavailableError (``url`` already redacted).

    Integrity errors are left to the caller, which knows what the constraint means."""
    try:
        yield
    except sa_exc.IntegrityError:
        raise
    except sa_exc.DBAPIError as exc:
        if exc.connection_invalidated or isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            raise StoreUnavailableError(url, str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)) from exc
        raise StoreError(f"database error at {url}: {str(exc.orig or exc).strip()}") from exc
    except sa_exc.TimeoutError as exc:
        raise StoreUnavailableError(url, f"connection pool timeout: {exc}") from exc
