"""Shared test fixtures: trace files, PostgreSQL and SQLite databases."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.clirunner import Run, cli_runner
from tests.speedups import split_path  # noqa: F401 - a fixture: both event-split paths

TRACES = Path(__file__).parent / "data" / "esl-traces"


@pytest.fixture(scope="session")
def traces_dir() -> Path:
    return TRACES


def trace_bytes(name: str, side: str = "fs") -> bytes:
    """The bytes of a recorded trace, e.g. trace_bytes('03-lost-call-group-ring')."""
    return (TRACES / f"{name}.{side}.bin").read_bytes()


PG_ADMIN_URL = os.environ.get("FSWORKER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    try:
        import psycopg2

        conn = psycopg2.connect(PG_ADMIN_URL.replace("postgresql://", "postgresql://", 1), connect_timeout=3)
        conn.close()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return str(exc).strip()


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A fresh PostgreSQL database for this test session (dropped at the end).

    Missing server: skipped on a developer's machine, but a failure in CI
    (FSWORKER_REQUIRE_PG=1 or CI=true), never a silent skip there."""
    problem = _pg_available()
    if problem is not None:
        if os.environ.get("FSWORKER_REQUIRE_PG") == "1" or os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL required but unavailable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"PostgreSQL unavailable at {PG_ADMIN_URL}: {problem}")
    import psycopg2

    name = f"fsw_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(PG_ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite URL in this test's folder; the file does not exist yet."""
    return f"sqlite:///{tmp_path / 'fsworker.sqlite3'}"


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file at the newest schema, migrated once per session."""
    from fsworker.store import migrate

    path = tmp_path_factory.mktemp("template") / "migrated.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture()
def migrated_sqlite_url(sqlite_url: str, migrated_sqlite_template: Path) -> str:
    """``sqlite_url`` with the file created at the newest schema, as ``fsworker db
    upgrade`` leaves it (CLI commands other than that one refuse a missing database)."""
    shutil.copyfile(migrated_sqlite_template, sqlite_url[len("sqlite:///"):])
    return sqlite_url


@pytest.fixture()
def run(capsys: pytest.CaptureFixture[str], migrated_sqlite_url: str) -> Run:
    """``run("rules", "list")`` -> Result (tests/clirunner.py), through the real entry
    point, against this test's own SQLite database unless ``db=`` says otherwise."""
    return cli_runner(capsys, migrated_sqlite_url)
