"""Fixtures of the hostile-input suite: the end-to-end database matrix (SQLite and
PostgreSQL, from tests/e2e) and a Harness with enough workers for many callbacks at once.
The CLI runner (``run``) is the one of every folder: tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import db_url  # noqa: F401 - re-exported fixture
from tests.e2e.harness import Harness


@pytest.fixture()
def harness(db_url: str) -> Iterator[Harness]:  # noqa: F811 - the fixture above
    h = Harness(db_url, workers=4)
    yield h
    h.close()
