from __future__ import annotations

import pytest

from tests.e2e.harness import Harness


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'e2e.sqlite3'}"
        return
    base = request.getfixturevalue("pg_url")
    # one fresh database per test: the session database gets a schema per test
    import uuid

    import psycopg2

    name = f"e2e_{uuid.uuid4().hex[:10]}"
    admin_url = base.rsplit("/", 1)[0] + "/test"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    url = base.rsplit("/", 1)[0] + f"/{name}"
    yield url
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.close()


@pytest.fixture()
def harness(db_url: str):  # noqa: ANN201
    h = Harness(db_url)
    yield h
    h.close()
