"""Migrations: from empty to head, schema == tables.py, downgrade / upgrade keep data."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from fsworker.store import migrate
from fsworker.store.engine import make_engine
from fsworker.store.queue import TaskQueue
from fsworker.store.repo import Repository
from fsworker.store.tables import metadata
from tests.integration.conftest import T0
from tests.integration.helpers import lost_call, rule


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("fresh_pg_url")
    return f"sqlite:///{tmp_path / 'empty.sqlite3'}"


def test_upgrade_from_empty_matches_tables(empty_url: str) -> None:
    assert migrate.current(empty_url) is None
    migrate.upgrade(empty_url)
    assert migrate.current(empty_url) == migrate.head()
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
        assert conn.execute(text("SELECT enabled FROM settings WHERE id = 1")).scalar() in (True, 1)
    engine.dispose()
    assert diff == [], f"migrations and fsworker/store/tables.py disagree: {diff}"


def test_downgrade_upgrade_keeps_tasks(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    repo, queue = Repository(empty_url), TaskQueue(empty_url)
    repo.add_rule(rule("r"))
    queue.record_lost_call(lost_call("c1", "+79160000001"))
    task_id = queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0, lost_call_uuid="c1")
    repo.close()
    queue.close()

    migrate.downgrade(empty_url, "0001")
    assert migrate.current(empty_url) == "0001"
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT customer_number FROM tasks")).scalars().all() == ["+79160000001"]
    engine.dispose()

    migrate.upgrade(empty_url)
    queue = TaskQueue(empty_url)
    view = queue.get_task(task_id)
    assert view.customer_number == "+79160000001" and view.lost_call_uuids == ("c1",)
    assert [c.task_id for c in queue.claim_due("w", now=T0)] == [task_id]
    queue.close()


def test_upgrade_renumbers_attempts_numbered_alike(empty_url: str) -> None:
    """Before 0004 a lost lease retried under the same number; the upgrade renumbers
    such attempts in the order they were made and moves the task's next number on."""
    migrate.upgrade(empty_url, "0003")
    engine = make_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tasks (id, customer_number, rule_name, status, attempt_no, due_at, created_at)"
                          " VALUES (1, '+79160000001', 'r', 'pending', 1, :t, :t),"
                          " (2, '+79160000002', 'r', 'pending', 2, :t, :t)"), {"t": T0})
        for aid, task, no, outcome in ((1, 1, 1, "lease_lost"), (2, 1, 1, "lease_lost"), (3, 2, 1, "customer_busy")):
            conn.execute(text("INSERT INTO attempts (id, task_id, attempt_no, customer_number, worker, started_at,"
                              " ended_at, outcome, detail) VALUES (:id, :task, :no, '+7', 'w', :t, :t, :o, '')"),
                         {"id": aid, "task": task, "no": no, "t": T0, "o": outcome})
    engine.dispose()
    migrate.upgrade(empty_url)
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, attempt_no FROM attempts ORDER BY id")).all()
        tasks = conn.execute(text("SELECT id, attempt_no FROM tasks ORDER BY id")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, 1), (2, 2), (3, 1)]
    assert [tuple(r) for r in tasks] == [(1, 3), (2, 2)]
