"""R12 through the CLI: waiting tasks follow a new higher-priority rule and a changed
callback schedule; the attempt keeps its number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from fsworker.core.calls import LossPlace, LostCall
from fsworker.store.queue import TaskQueue
from fsworker.store.repo import Repository


def _pending_task(db: str, lost_at: datetime, due: datetime) -> int:
    q = TaskQueue(db)
    call = LostCall(call_uuid="c-1", customer_number="79161234567", virtual_number="74950000001",
                    scenario="sales", place=LossPlace.SCENARIO, lost_at=lost_at, waited_s=12.0)
    assert q.record_lost_call(call)
    task_id = q.create_task(customer_number="79161234567", rule_name="general", due_at=due, lost_call_uuid="c-1")
    assert task_id is not None
    q.close()
    return task_id


def test_new_higher_priority_rule_takes_over_waiting_task(run, sqlite_url) -> None:  # noqa: ANN001
    db = ["--db", sqlite_url]
    assert run(*db, "employees", "add", "anna", "--endpoint", "user/101").code == 0
    assert run(*db, "rules", "add", "general", "--strategy", "employee", "--target", "anna",
               "--intervals", "3600").code == 0
    now = datetime.now(UTC)
    task_id = _pending_task(sqlite_url, now - timedelta(minutes=1), now + timedelta(hours=1))
    assert run(*db, "scenarios", "add", "sales", "--extension", "5000").code == 0
    r = run(*db, "rules", "add", "sales first", "--place", "scenario", "--place-value", "sales",
            "--strategy", "employee", "--target", "anna", "--intervals", "60", "--position", "0")
    assert r.code == 0, r.err
    assert f"task {task_id} re-planned: rule 'general' -> 'sales first'" in r.out
    task = TaskQueue(sqlite_url).get_task(task_id)
    assert task.rule_name == "sales first" and task.attempt_no == 1


def test_changed_callback_schedule_moves_the_scheduled_attempt(run, sqlite_url) -> None:  # noqa: ANN001
    db = ["--db", sqlite_url]
    assert run(*db, "employees", "add", "anna", "--endpoint", "user/101").code == 0
    assert run(*db, "schedules", "add", "office", "--tz", "Europe/Moscow", "--weekly", "daily 00:00-24:00").code == 0
    assert run(*db, "rules", "add", "general", "--strategy", "employee", "--target", "anna",
               "--intervals", "3600", "--callback-schedule", "office").code == 0
    now = datetime.now(UTC)
    due = now + timedelta(days=2)
    task_id = _pending_task(sqlite_url, now, due)
    # Only one weekday open now: the attempt moves into that day's window.
    day = (due.astimezone(timezone(timedelta(hours=3))).weekday() + 1) % 7
    name = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day]
    r = run(*db, "schedules", "edit", "office", "--weekly", f"{name} 10:00-11:00")
    assert r.code == 0, r.err
    assert f"task {task_id} re-planned" in r.out
    task = TaskQueue(sqlite_url).get_task(task_id)
    local = task.due_at.astimezone(timezone(timedelta(hours=3)))
    assert local.weekday() == day and local.hour == 10 and task.due_at > due
    assert Repository(sqlite_url).get_rule("general").callback_schedule == "office"
