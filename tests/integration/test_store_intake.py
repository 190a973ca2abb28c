"""The intake's store calls in few round trips (issue 14): the facts for the rule engine
in one statement, a task created (and its lost call attached) in one on PostgreSQL,
with the same answers as the statement-by-statement path on SQLite."""

from __future__ import annotations

import pytest

from fsworker.core.calls import Contact, ContactKind
from fsworker.core.outcomes import TaskStatus
from fsworker.store.errors import NotFoundError
from fsworker.store.queue import TaskQueue
from fsworker.store.repo import Repository
from tests.integration.conftest import T0
from tests.integration.helpers import lost_call, minutes, rule

NUMBER = "+79160000001"


def test_intake_facts_name_the_open_task_and_a_contact_since_the_loss(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r", max_concurrent=5))
    assert queue.intake_facts(NUMBER, T0) == (None, None, False)
    task = queue.create_task(customer_number=NUMBER, rule_name="r", due_at=T0)
    assert queue.intake_facts(NUMBER, T0) == (task, "r", False)
    queue.record_contact(Contact(customer_number=NUMBER, call_uuid="c-1", at=T0 + minutes(1),
                                 kind=ContactKind.INBOUND_ANSWERED))
    assert queue.intake_facts(NUMBER, T0)[2] is True
    assert queue.intake_facts(NUMBER, T0 + minutes(2))[2] is False  # reached before this loss
    assert queue.intake_facts("+79160000002", T0) == (None, None, False)


def test_create_task_attaches_its_lost_call_and_keeps_one_open_task(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r", max_concurrent=5))
    queue.record_lost_call(lost_call("uuid-1", NUMBER))
    task = queue.create_task(customer_number=NUMBER, rule_name="r", due_at=T0, lost_call_uuid="uuid-1", now=T0)
    assert task is not None
    view = queue.get_task(task)
    assert view.status is TaskStatus.PENDING and view.rule_name == "r" and view.due_at == T0
    assert view.lost_call_uuids == ("uuid-1",)
    queue.record_lost_call(lost_call("uuid-2", NUMBER))
    assert queue.create_task(customer_number=NUMBER, rule_name="r", due_at=T0, lost_call_uuid="uuid-2") is None
    assert queue.get_task(task).lost_call_uuids == ("uuid-1",)  # joining is join_task's job
    with pytest.raises(NotFoundError):
        queue.create_task(customer_number="+79160000002", rule_name="no such rule", due_at=T0)


def test_a_usual_call_is_taken_in_with_one_round_trip_on_postgresql(repo: Repository, queue: TaskQueue) -> None:
    if not queue.is_postgresql:
        pytest.skip("migration 0009's fsworker_take_in is PostgreSQL's; SQLite's intake stays in-process")
    from sqlalchemy import event

    repo.add_rule(rule("r"))
    sent: list[str] = []
    event.listen(queue.engine, "before_cursor_execute", lambda c, cur, stmt, *a: sent.append(stmt.split()[0]))
    took = queue.take_in_new_task_pg(lost_call("a1", "+79160000001"), rule_name="r", due_at=T0 + minutes(5), now=T0)
    assert sent == ["SELECT"]  # one statement in autocommit: no BEGIN, no COMMIT round trip
    assert took.won and took.task_id is not None and took.facts == (None, None, False)
    view = queue.get_task(took.task_id)
    assert (view.status, view.rule_name, view.lost_call_uuids, view.due_at) == (
        TaskStatus.PENDING, "r", ("a1",), T0 + minutes(5))
    # the same call again: a duplicate, nothing written
    again = queue.take_in_new_task_pg(lost_call("a1", "+79160000001"), rule_name="r", due_at=T0, now=T0)
    assert (again.won, again.task_id) == (False, None)
    # the customer's next call finds the open task: stored, no task, the facts say why (D1)
    joined = queue.take_in_new_task_pg(lost_call("a2", "+79160000001", at=T0 + minutes(1)), rule_name="r",
                                       due_at=T0, now=T0)
    assert joined.won and joined.task_id is None and joined.facts == (took.task_id, "r", False)
    assert queue.lost_call_task("a2") is None
    # a customer reached since the loss: stored, no task (R17)
    queue.record_contact(Contact(customer_number="+79160000002", call_uuid="in-1", at=T0 + minutes(1),
                                 kind=ContactKind.INBOUND_ANSWERED, employee="alice"))
    reached = queue.take_in_new_task_pg(lost_call("b1", "+79160000002"), rule_name="r", due_at=T0, now=T0)
    assert reached.won and reached.task_id is None and reached.facts == (None, None, True)
    # a rule deleted meanwhile: stored, no task; the caller decides again
    gone = queue.take_in_new_task_pg(lost_call("c1", "+79160000003"), rule_name="nosuch", due_at=T0, now=T0)
    assert gone.won and gone.task_id is None and queue.open_task_for("+79160000003") is None
