"""Due work without polling (issue 14), seen from outside: `fsworker run` and
`fsworker fake-switch` as processes, the database read and written as another process.

The workers run with a 30 s poll interval (now only a backstop): a callback that
comes at its due time, or right after another process made its task due, can only
come from the worker sleeping until the due time and being woken up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fsworker.core.calls import LossPlace
from fsworker.core.model import Employee, Rule, VirtualNumber
from fsworker.store import migrate
from fsworker.store.queue import TaskQueue
from fsworker.store.repo import Repository
from tests.chaos.procs import Db, Lab, wait_for

DID = "74950000077"
CUSTOMER = "79160000077"
BACKSTOP_S = 30


@pytest.fixture()
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path)
    try:
        yield lab
    except BaseException:
        print(lab.report())
        raise
    finally:
        lab.close()


def _setup(url: str, intervals: tuple[int, ...]) -> None:
    migrate.upgrade(url)
    repo = Repository(url)
    try:
        repo.add(Employee(name="anna", endpoints=("user/201",)))
        repo.add(VirtualNumber(number=DID))
        repo.add_rule(Rule(name="r", place=LossPlace.NUMBER, place_value=DID, strategy="employee",
                           target="anna", intervals=intervals, min_wait_s=0, max_concurrent=5))
    finally:
        repo.close()


def _start(lab: Lab, url: str):  # noqa: ANN202 - (FakeSwitch, Proc)
    sw = lab.switch()
    sw.endpoint("user/201", "ring")  # the employee never answers: the attempt stays at its originate
    worker = lab.worker("w1", db_url=url, port=sw.port, poll_s=BACKSTOP_S, lease_s=3 * BACKSTOP_S)
    return sw, worker


def _employee_originate(sw) -> float | None:  # noqa: ANN001 - FakeSwitch
    """When the test first saw fsworker's employee leg on the switch (None: not yet)."""
    return time.time() if any(leg.role == "employee" for leg in sw.ours()) else None


def test_a_task_is_dialled_at_its_due_time_not_at_the_next_poll(db_url: str, lab: Lab) -> None:
    _setup(db_url, intervals=(4, 600))
    sw, worker = _start(lab, db_url)
    db = Db(db_url)
    queue = TaskQueue(db_url)
    try:
        sw.call(CUSTOMER, DID, ring="user/299", hangup_after=0.6)
        task = wait_for("the task of the lost call", lambda: db.task_of(CUSTOMER), 15, alive=lambda: worker.alive)
        due = queue.get_task(task["id"]).due_at.timestamp()
        assert due > time.time() + 1, "the task should still be waiting for its due time"
        seen = wait_for("the employee originate", lambda: _employee_originate(sw), 15, every=0.05,
                        alive=lambda: worker.alive)
        # At the due time (plus the test's 50 ms look-ups), never before it, long before the backstop.
        assert due - 0.1 <= seen <= due + 1.5, (seen - due)
    finally:
        queue.close()
        db.close()


def test_a_task_made_due_by_another_process_is_dialled_at_once(db_url: str, lab: Lab) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("across processes only PostgreSQL notifies; SQLite relies on the poll backstop")
    _setup(db_url, intervals=(600, 600))
    sw, worker = _start(lab, db_url)
    db = Db(db_url)
    queue = TaskQueue(db_url)
    try:
        sw.call(CUSTOMER, DID, ring="user/299", hangup_after=0.6)
        task = wait_for("the task of the lost call", lambda: db.task_of(CUSTOMER), 15, alive=lambda: worker.alive)
        time.sleep(1.0)  # the worker has looked, found nothing due, and sleeps (10 min / backstop)
        assert _employee_originate(sw) is None
        moved = time.time()
        assert queue.reschedule(task["id"], datetime.now(UTC) - timedelta(seconds=1))
        seen = wait_for("the employee originate", lambda: _employee_originate(sw), 10, every=0.05,
                        alive=lambda: worker.alive)
        assert seen - moved < 2.0, seen - moved
    finally:
        queue.close()
        db.close()
