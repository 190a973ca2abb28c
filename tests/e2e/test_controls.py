"""Operator controls and untrusted input, end to end: blacklist (R18), master switch
(R16), rules disabled (R14) and deleted (R15) while tasks wait, the customer reached
otherwise (R17), and hostile caller IDs that must never reach a dial string (D5).
SQLite and PostgreSQL (``harness``).
"""

from __future__ import annotations

import uuid as uuidlib

import pytest

from fsworker.core.model import BlacklistEntry
from fsworker.core.outcomes import AttemptOutcome, SkipReason, TaskEndReason, TaskStatus
from fsworker.testing.fakeswitch.directory import Behaviour
from tests.e2e.harness import Harness, callback_legs, hostile_inbound_call

CUSTOMER = "79161234567"
OTHER = "79167654321"
DID = "74950000001"


def _ep(number: str) -> str:
    return f"sofia/gateway/pstn/{number}"


def _lost(h: Harness, customer: str = CUSTOMER) -> str:
    uuid = str(uuidlib.uuid4())
    h.lost_call(customer, uuid=uuid)
    return uuid


def _recorded(h: Harness, call_uuid: str) -> bool:
    from fsworker.store.errors import NotFoundError

    try:
        h.service.queue.get_lost_call(call_uuid)
        return True
    except NotFoundError:
        return False


def _skip_reason(h: Harness, call_uuid: str) -> SkipReason | None:
    assert h.run_until(lambda: _recorded(h, call_uuid), max_sim_s=30), f"call {call_uuid} was never taken in"
    h.settle(0.2)  # the skip reason is written right after the record
    return h.service.queue.lost_call_skip_reason(call_uuid)


def _answering_staff(h: Harness) -> None:
    h.pbx.directory.set("user/101", Behaviour.answers(after=2))
    for number in (CUSTOMER, OTHER):
        h.pbx.directory.set(_ep(number), Behaviour.answers(after=3, hangup_after=20))


def _task_of(h: Harness, customer: str):
    tasks = h.service.queue.list_tasks(customer_number=customer)
    return tasks[0] if tasks else None


def test_blacklisted_number_gets_no_task(harness) -> None:
    h = harness
    h.add_staff()
    h.add_rule(name="sales", strategy="group", target="sales", intervals=(10,))
    h.repo.add_blacklist(BlacklistEntry(number=CUSTOMER, reason="spam"), now=h.clock.now())
    h.start()
    blocked = _lost(h, CUSTOMER)
    allowed = _lost(h, OTHER)
    assert _skip_reason(h, blocked) is SkipReason.BLACKLISTED
    assert _skip_reason(h, allowed) is None
    _answering_staff(h)
    assert h.run_until(lambda: (t := _task_of(h, OTHER)) is not None and t.status is TaskStatus.DONE,
                       max_sim_s=120)
    assert _task_of(h, CUSTOMER) is None
    assert _task_of(h, OTHER).end_reason is TaskEndReason.SUCCESS
    h.assert_bridged(_task_of(h, OTHER).task_id)
    assert not [leg for leg in callback_legs(h.pbx) if CUSTOMER in leg.endpoint]
    assert h.service.observer.funnel.get("skipped:blacklisted") == 1


def test_blacklisting_cancels_a_waiting_task(harness) -> None:
    h = harness
    h.add_staff()
    h.add_rule(name="sales", strategy="group", target="sales", intervals=(60,))
    h.start()
    _lost(h)
    assert h.run_until(lambda: _task_of(h, CUSTOMER) is not None, max_sim_s=30)
    _answering_staff(h)
    task_id = _task_of(h, CUSTOMER).task_id
    assert h.repo.add_blacklist(BlacklistEntry(number=CUSTOMER), now=h.clock.now()) == [task_id]
    h.run_for(120, step_s=2)
    task = h.task(task_id)
    assert task.end_reason is TaskEndReason.CANCELLED_BLACKLISTED and not task.attempts
    assert not callback_legs(h.pbx)


def test_master_switch_off_keeps_tasks_and_skips_new_calls_then_on_resumes(harness) -> None:
    h = harness
    h.add_staff()
    h.add_rule(name="sales", strategy="group", target="sales", intervals=(60,))
    h.start()
    _lost(h, CUSTOMER)
    assert h.run_until(lambda: _task_of(h, CUSTOMER) is not None, max_sim_s=30)
    task_id = _task_of(h, CUSTOMER).task_id
    h.repo.set_master_switch(False, now=h.clock.now())
    h.service.catalog.invalidate()
    # Off: a new lost call is skipped ...
    skipped = _lost(h, OTHER)
    assert _skip_reason(h, skipped) is SkipReason.MASTER_SWITCH_OFF
    _answering_staff(h)
    assert _task_of(h, OTHER) is None
    # ... and the queued task, although due, is not claimed but kept (no time limit).
    h.run_for(600, step_s=5)
    task = h.task(task_id)
    assert task.status is TaskStatus.PENDING and not task.attempts
    assert task.due_at <= h.clock.now()
    assert not callback_legs(h.pbx)
    # On: the queued task proceeds.
    h.repo.set_master_switch(True, now=h.clock.now())
    h.service.catalog.invalidate()
    assert h.run_until(lambda: h.task(task_id).status is TaskStatus.DONE, max_sim_s=120)
    assert h.task(task_id).end_reason is TaskEndReason.SUCCESS
    assert len(callback_legs(h.pbx, task_id, "customer")) == 1
    h.assert_bridged(task_id)
    # and new lost calls are taken in again (this one rings nobody who answers)
    again = str(uuidlib.uuid4())
    h.lost_call(OTHER, ring=[["user/103"]], uuid=again)
    assert _skip_reason(h, again) is None
    assert h.run_until(lambda: _task_of(h, OTHER) is not None, max_sim_s=30)


def test_disabled_rule_still_runs_its_tasks_but_takes_no_new_calls(harness) -> None:
    h = harness
    h.add_staff()
    h.add_rule(name="sales", strategy="group", target="sales", intervals=(60,))
    h.start()
    _lost(h, CUSTOMER)
    assert h.run_until(lambda: _task_of(h, CUSTOMER) is not None, max_sim_s=30)
    task_id = _task_of(h, CUSTOMER).task_id
    h.repo.set_rule_enabled("sales", False, now=h.clock.now())
    h.service.catalog.invalidate()
    late = _lost(h, OTHER)
    assert _skip_reason(h, late) is SkipReason.NO_RULE
    _answering_staff(h)
    assert h.run_until(lambda: h.task(task_id).status is TaskStatus.DONE, max_sim_s=200)
    task = h.task(task_id)
    assert task.end_reason is TaskEndReason.SUCCESS
    assert [a.outcome for a in task.attempts] == [AttemptOutcome.SUCCESS]
    h.assert_bridged(task_id)
    assert _task_of(h, OTHER) is None
    assert not [leg for leg in callback_legs(h.pbx) if OTHER in leg.endpoint]


def test_deleted_rule_cancels_its_waiting_tasks(harness) -> None:
    h = harness
    h.add_staff()
    h.add_rule(name="sales", strategy="group", target="sales", intervals=(60,))
    # a lower-priority rule that would match the call: the task must not move to it
    h.add_rule(name="keep", strategy="employee", target="secretary", intervals=(60,))
    h.start()
    _lost(h, CUSTOMER)
    assert h.run_until(lambda: _task_of(h, CUSTOMER) is not None, max_sim_s=30)
    _answering_staff(h)
    task_id = _task_of(h, CUSTOMER).task_id
    assert h.repo.delete_rule("sales", now=h.clock.now()) == [task_id]
    h.service.catalog.invalidate()
    h.run_for(180, step_s=3)
    task = h.task(task_id)
    assert task.status is TaskStatus.DONE
    assert task.end_reason is TaskEndReason.CANCELLED_RULE_DELETED
    assert not task.attempts
    assert not callback_legs(h.pbx), "a call was placed for a task of a deleted rule"


def test_customer_called_in_and_answered_cancels_the_waiting_task(harness) -> None:
    h = harness
    h.add_staff()
    h.add_rule(name="sales", strategy="group", target="sales", intervals=(120,))
    h.start()
    _lost(h, CUSTOMER)
    assert h.run_until(lambda: _task_of(h, CUSTOMER) is not None, max_sim_s=30)
    task_id = _task_of(h, CUSTOMER).task_id
    # The customer calls again; ivanov answers and they talk.
    h.pbx.directory.set("user/101", Behaviour.answers(after=2))
    h.pbx.directory.set(_ep(CUSTOMER), Behaviour.answers(after=1, hangup_after=30))
    h.pbx.inbound_call(CUSTOMER, DID, vars={"fsw_number": DID}, ring=[["user/101"]], leg_timeout=None,
                       customer_hangs_up_after=40)
    assert h.run_until(lambda: h.task(task_id).status is TaskStatus.DONE, max_sim_s=60)
    task = h.task(task_id)
    assert task.end_reason is TaskEndReason.CANCELLED_CONTACT_MADE
    h.run_for(240, step_s=3)
    assert not h.task(task_id).attempts
    assert not callback_legs(h.pbx), "the customer was called back although reached"
    # the answered call made no new task either
    assert [t.task_id for t in h.tasks()] == [task_id]


HOSTILE = [",sofia/gateway/x/900", "}", "79161234567,sofia/gateway/x/900", "7916}{x=1}user/900"]


@pytest.mark.parametrize("caller", HOSTILE, ids=["comma-gateway", "brace", "number-comma", "braces"])
def test_hostile_caller_id_never_reaches_a_dial_string(harness, caller: str) -> None:
    h = harness
    h.add_staff()
    h.add_rule(name="any", strategy="last_attempted", intervals=(0,))
    h.start()
    _answering_staff(h)
    h.pbx.directory.set_pattern(r".*900.*", Behaviour.answers(after=0.1, hangup_after=60))
    uuid = hostile_inbound_call(h.pbx, caller, DID, ring=["user/102"], hangs_up_after=8)
    reason = _skip_reason(h, uuid)
    assert reason is SkipReason.INVALID_NUMBER
    h.run_for(60, step_s=1)
    assert not h.tasks()
    assert not callback_legs(h.pbx)
    rung = [leg.endpoint for leg in h.pbx.legs.outbound()]
    assert rung == ["user/102"], rung  # only the lost call's own leg; nothing towards x/900
    assert not any("900" in leg.endpoint or leg.endpoint.startswith("sofia/gateway/x")
                   for leg in h.pbx.legs.outbound())


@pytest.mark.parametrize("how", ["customer_called_in", "rule_deleted"])
def test_attempt_in_flight_does_not_ring_the_customer_once_cancelled(harness, how: str) -> None:
    """Issue 5, worker pool: a cancellation while the employee leg rings (contact made,
    R17; rule deleted, R15) stops the attempt before the customer is dialled."""
    h = harness
    h.add_staff()
    h.add_rule(name="sales", strategy="employee", target="ivanov", intervals=(30, 60))
    h.start()
    _lost(h, CUSTOMER)
    assert h.run_until(lambda: _task_of(h, CUSTOMER) is not None, max_sim_s=30)
    task_id = _task_of(h, CUSTOMER).task_id
    # ivanov takes 15 s to answer the callback; the customer would answer at once.
    h.pbx.directory.set("user/101", Behaviour.answers(after=15))
    h.pbx.directory.set(_ep(CUSTOMER), Behaviour.answers(after=1, hangup_after=30))
    assert h.run_until(lambda: bool(callback_legs(h.pbx, task_id, "employee")), max_sim_s=60)
    if how == "customer_called_in":
        h.pbx.directory.set("user/102", Behaviour.answers(after=1))
        h.pbx.inbound_call(CUSTOMER, DID, vars={"fsw_number": DID}, ring=[["user/102"]], leg_timeout=None,
                           customer_hangs_up_after=40)
        expected = TaskEndReason.CANCELLED_CONTACT_MADE
    else:
        h.repo.delete_rule("sales", now=h.clock.now())
        h.service.catalog.invalidate()
        expected = TaskEndReason.CANCELLED_RULE_DELETED
    assert h.run_until(lambda: h.task(task_id).status is TaskStatus.DONE
                       and not h.service.dispatcher.active_tasks, max_sim_s=120)
    h.run_for(150, step_s=3)
    task = h.task(task_id)
    assert task.end_reason is expected, task
    assert not callback_legs(h.pbx, task_id, "customer"), "the customer was dialled after the cancellation"
    assert len(callback_legs(h.pbx, task_id, "employee")) == 1, "a further attempt was made"
    assert len(task.attempts) == 1
    assert task.attempts[0].outcome is (
        AttemptOutcome.CONTACT_MADE if how == "customer_called_in" else AttemptOutcome.CANCELLED
    )
