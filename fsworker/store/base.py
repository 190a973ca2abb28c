"""What the repository and the queue share: an engine, transactions, error translation.

Rules: every public store method runs in exactly one transaction opened by ``_tx``, so
a method either happens completely or not at all, and driver errors are translated at
this boundary (StoreUnavailableError carries the URL without its password).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine

from fsworker.store.engine import make_engine
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

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Connection]:
        with translate_errors(self.url), self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        """Dispose of the engine if this object created it from a URL."""
        if self._owns_engine:
            self.engine.dispose()
