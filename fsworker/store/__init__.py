"""The task store: tables, migrations, the configuration repository and the queue.

Rules: everything that touches the database lives in this package; callers get
fsworker value objects and fsworker errors, never SQLAlchemy rows or driver errors.
"""

from __future__ import annotations

from fsworker.store.engine import make_engine, make_psycopg2_green, redact_url
from fsworker.store.errors import (
    AlreadyExistsError,
    EntityInUseError,
    LeaseLostError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
)

__all__ = [
    "AlreadyExistsError",
    "EntityInUseError",
    "LeaseLostError",
    "NotFoundError",
    "StoreError",
    "StoreUnavailableError",
    "make_engine",
    "make_psycopg2_green",
    "redact_url",
]
