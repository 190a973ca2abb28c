"""Fixtures of the chaos tests: a ``Lab`` of processes, a fresh database per test
(PostgreSQL first: it is production), and the logs of every process on failure."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.procs import Db, Lab
from tests.conftest import PG_ADMIN_URL, _pg_available


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: slow fault-injection tests (make chaos)")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture()
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(lab.report())


def _fresh_pg(request: pytest.FixtureRequest) -> Iterator[str]:
    # Not the session's pg_url fixture: its admin connection would not survive the
    # PostgreSQL restart test. The same rule: skipped on a workstation, failed in CI.
    problem = _pg_available()
    if problem is not None:
        if os.environ.get("FSWORKER_REQUIRE_PG") == "1" or os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL required but unavailable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL unavailable at {PG_ADMIN_URL}: {problem}")
    import psycopg2

    base = PG_ADMIN_URL
    name = f"chaos_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    yield base.rsplit("/", 1)[0] + f"/{name}"
    try:
        admin = psycopg2.connect(PG_ADMIN_URL, connect_timeout=10)
    except psycopg2.Error:
        return  # PostgreSQL down after a failed restart test: the name is unique anyway
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'chaos.sqlite3'}"
    else:
        yield from _fresh_pg(request)


@pytest.fixture()
def pg_db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from _fresh_pg(request)


@pytest.fixture()
def db(db_url: str) -> Iterator[Db]:
    d = Db(db_url)
    yield d
    d.close()
