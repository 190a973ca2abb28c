"""Queue on SQLite and PostgreSQL: intake, D1, claims, leases, caps (R10), R16, R17."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError

from fsworker.core.calls import Contact, ContactKind
from fsworker.core.errors import InvalidNumberError, ValidationError
from fsworker.core.outcomes import AttemptOutcome, SkipReason, TaskEndReason, TaskStatus
from fsworker.store import tables as t
from fsworker.store.errors import LeaseLostError, StoreUnavailableError
from fsworker.store.queue import TaskQueue
from fsworker.store.repo import Repository
from tests.integration.conftest import T0
from tests.integration.helpers import lost_call, minutes, rule


def test_lost_call_intake_is_idempotent(queue: TaskQueue) -> None:
    call = lost_call("uuid-1")
    assert queue.record_lost_call(call) is True
    assert queue.record_lost_call(call) is False  # a second worker saw the same call
    assert queue.get_lost_call("uuid-1") == call
    assert queue.lost_call_skip_reason("uuid-1") is None
    queue.record_lost_call(lost_call("uuid-2"), skip_reason=SkipReason.WAITED_TOO_LITTLE)
    assert queue.lost_call_skip_reason("uuid-2") is SkipReason.WAITED_TOO_LITTLE
    queue.mark_lost_call_skipped("uuid-1", SkipReason.NO_RULE)
    assert queue.lost_call_skip_reason("uuid-1") is SkipReason.NO_RULE


def test_d1_one_open_task_per_number(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r"))
    for u in ("c1", "c2"):
        queue.record_lost_call(lost_call(u, "+79160000001"))
    first = queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0, lost_call_uuid="c1")
    assert first is not None
    assert queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0) is None
    assert queue.create_or_join_task(customer_number="+79160000001", rule_name="r", due_at=T0,
                                     lost_call_uuid="c2") == (first, False)
    view = queue.get_task(first)
    assert view.lost_call_uuids == ("c1", "c2")
    assert [c.call_uuid for c in queue.lost_calls_for_task(first)] == ["c1", "c2"]
    assert queue.open_task_for("+79160000001").task_id == first
    # The database itself refuses a second open task, whatever the code does.
    with pytest.raises(IntegrityError), queue.engine.begin() as conn:
        conn.execute(insert(t.tasks).values(customer_number="+79160000001", rule_name="r", status="pending",
                                            due_at=T0, created_at=T0))
    # Once the task is done a new one may open.
    queue.cancel_task(first)
    second, created = queue.create_or_join_task(customer_number="+79160000001", rule_name="r", due_at=T0)
    assert created and second != first


def test_d5_task_number_validated(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r"))
    with pytest.raises(InvalidNumberError):
        queue.create_task(customer_number="123;hangup", rule_name="r", due_at=T0)


def test_claim_only_due_tasks_in_due_order(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r", max_concurrent=5))
    late = queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0 + minutes(10))
    b = queue.create_task(customer_number="+79160000002", rule_name="r", due_at=T0 - minutes(1))
    a = queue.create_task(customer_number="+79160000003", rule_name="r", due_at=T0 - minutes(5))
    claimed = queue.claim_due("w1", now=T0, lease_seconds=3600)
    assert [c.task_id for c in claimed] == [a, b]
    assert claimed[0].attempt_no == 1 and claimed[0].lease_expires_at == T0 + timedelta(seconds=3600)
    assert queue.claim_due("w2", now=T0) == []  # a claimed task is not claimed twice
    assert [c.task_id for c in queue.claim_due("w2", now=T0 + minutes(10))] == [late]
    view = queue.get_task(a)
    assert view.status is TaskStatus.ACTIVE and view.lease_owner == "w1"
    assert len(view.attempts) == 1 and view.attempts[0].outcome is None


def test_r10_cap_per_rule_in_one_process(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("capped", max_concurrent=2))
    repo.add_rule(rule("other", max_concurrent=1))
    capped = [queue.create_task(customer_number=f"+7916000000{i}", rule_name="capped", due_at=T0) for i in range(5)]
    other = queue.create_task(customer_number="+79160000099", rule_name="other", due_at=T0 + minutes(1))
    got = queue.claim_due("w1", now=T0 + minutes(2), limit=10)
    # Two of the capped rule (the earliest), and the other rule is not starved by them.
    assert sorted(c.task_id for c in got) == sorted(capped[:2] + [other])
    assert queue.claim_due("w2", now=T0 + minutes(2), limit=10) == []
    assert queue.counts(now=T0 + minutes(2)).active_by_rule == {"capped": 2, "other": 1}
    queue.finish_attempt(got[0].task_id, "w1", outcome=AttemptOutcome.SUCCESS, end_reason=TaskEndReason.SUCCESS)
    assert [c.task_id for c in queue.claim_due("w2", now=T0 + minutes(2), limit=10)] == [capped[2]]


def test_a_full_rule_at_the_head_of_the_queue_starves_no_other_rule(repo: Repository, queue: TaskQueue) -> None:
    """Many due tasks of a rule with one slot, ahead of another rule's: claims go on until
    both are served (each claim walks only a bounded stretch of the due index)."""
    repo.add_rule(rule("narrow", max_concurrent=1))
    repo.add_rule(rule("wide", max_concurrent=5))
    for i in range(60):
        queue.create_task(customer_number=f"+791600001{i:02d}", rule_name="narrow", due_at=T0 + minutes(i / 100))
    wide = [queue.create_task(customer_number=f"+791600002{i:02d}", rule_name="wide", due_at=T0 + minutes(1))
            for i in range(5)]
    claimed: list[int] = []
    for _ in range(5):  # as the dispatcher does: claim again while a claim takes something
        got = queue.claim_due("w", now=T0 + minutes(2), limit=3)
        if not got:
            break
        claimed += [c.task_id for c in got]
    assert len(claimed) == 6 and set(wide) <= set(claimed)  # one narrow, every wide one
    assert queue.counts(now=T0 + minutes(2)).active_by_rule == {"narrow": 1, "wide": 5}


def test_r10_lowering_the_cap_applies_to_new_claims(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r", max_concurrent=5))
    for i in range(4):
        queue.create_task(customer_number=f"+7916000000{i}", rule_name="r", due_at=T0)
    repo.update_rule(rule("r", max_concurrent=1))
    assert len(queue.claim_due("w", now=T0, limit=10)) == 1


def test_r16_master_switch_off_pauses_claiming(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r"))
    task_id = queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0)
    repo.set_master_switch(False)
    assert queue.claim_due("w", now=T0 + timedelta(days=30)) == []
    assert queue.get_task(task_id).status is TaskStatus.PENDING  # kept, without time limit
    repo.set_master_switch(True)
    assert [c.task_id for c in queue.claim_due("w", now=T0 + timedelta(days=30))] == [task_id]


def test_heartbeat_extends_and_unrenewed_lease_comes_back(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r"))
    task_id = queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0)
    [c] = queue.claim_due("w1", now=T0, lease_seconds=30)
    hb = queue.heartbeat("w1", [task_id], lease_seconds=30, now=T0 + timedelta(seconds=20))
    assert hb.renewed == {task_id} and not hb.lost and not hb.cancelled
    # Renewed until T0+50 s: at T0+40 s nobody else may take it.
    assert queue.claim_due("w2", now=T0 + timedelta(seconds=40)) == []
    # w1 dies; not renewed, the lease expires and the task comes back to w2.
    [again] = queue.claim_due("w2", now=T0 + timedelta(seconds=51), lease_seconds=30)
    # The lost attempt may have rung the customer: it keeps its number, the retry is #2.
    assert again.task_id == task_id and again.attempt_no == 2 and again.attempt_id != c.attempt_id
    view = queue.get_task(task_id)
    assert view.lease_owner == "w2"
    assert [a.outcome for a in view.attempts] == [AttemptOutcome.LEASE_LOST, None]
    assert [a.attempt_no for a in view.attempts] == [1, 2]
    # The dead worker, if it wakes up, learns it lost the task and cannot finish it.
    assert queue.heartbeat("w1", [task_id], now=T0 + timedelta(seconds=52)).lost == {task_id}
    with pytest.raises(LeaseLostError):
        queue.finish_attempt(task_id, "w1", outcome=AttemptOutcome.SUCCESS, end_reason=TaskEndReason.SUCCESS)


def test_expired_lease_frees_the_rule_slot(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r", max_concurrent=1))
    t1 = queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0)
    t2 = queue.create_task(customer_number="+79160000002", rule_name="r", due_at=T0 + timedelta(seconds=1))
    assert [c.task_id for c in queue.claim_due("w1", now=T0 + timedelta(seconds=2), lease_seconds=10)] == [t1]
    assert queue.reap_expired(now=T0 + timedelta(seconds=5)) == []
    assert queue.reap_expired(now=T0 + timedelta(seconds=13)) == [t1]
    # t1 is due again at the reap time, t2 since T0+1 s: t2 goes first.
    assert [c.task_id for c in queue.claim_due("w2", now=T0 + timedelta(seconds=13))] == [t2]


def test_finish_schedules_next_attempt_or_ends(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r", intervals=(0, 60)))
    task_id = queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0)
    queue.claim_due("w", now=T0)
    status = queue.finish_attempt(task_id, "w", outcome=AttemptOutcome.CUSTOMER_BUSY, next_due=T0 + minutes(1),
                                  detail="USER_BUSY", employee="alice", call_uuids=["a", "b"], now=T0 + minutes(0.5))
    assert status is TaskStatus.PENDING
    view = queue.get_task(task_id)
    assert view.attempt_no == 2 and view.due_at == T0 + minutes(1) and view.lease_owner is None
    att = view.attempts[0]
    assert (att.outcome, att.detail, att.employee, att.call_uuids) == (
        AttemptOutcome.CUSTOMER_BUSY, "USER_BUSY", "alice", ("a", "b"))
    assert queue.claim_due("w", now=T0 + minutes(0.9)) == []
    [c] = queue.claim_due("w", now=T0 + minutes(1))
    assert c.attempt_no == 2
    status = queue.finish_attempt(task_id, "w", outcome=AttemptOutcome.CUSTOMER_NO_ANSWER,
                                  end_reason=TaskEndReason.ATTEMPTS_EXHAUSTED, now=T0 + minutes(2))
    assert status is TaskStatus.DONE
    view = queue.get_task(task_id)
    assert view.end_reason is TaskEndReason.ATTEMPTS_EXHAUSTED and view.ended_at == T0 + minutes(2)
    assert [a.attempt_no for a in view.attempts] == [1, 2]
    with pytest.raises(ValidationError):
        queue.finish_attempt(task_id, "w", outcome=AttemptOutcome.SUCCESS)


def test_release_gives_back_without_counting(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r", max_concurrent=1))
    task_id = queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0)
    queue.claim_due("w1", now=T0)
    assert queue.release(task_id, "w2") is False
    assert queue.release(task_id, "w1") is True
    view = queue.get_task(task_id)
    assert view.status is TaskStatus.PENDING and view.attempts == () and view.attempt_no == 1
    [c] = queue.claim_due("w2", now=T0)  # slot freed too (cap 1)
    assert c.task_id == task_id and c.attempt_no == 1


def test_attempt_numbers_stay_unique_per_task(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r", intervals=(0, 60)))
    task_id = queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0)
    # Lost twice mid-call (reaped by the next claim, then explicitly), then a release
    # with the customer bridged: every kept attempt has its own number.
    queue.claim_due("w1", now=T0, lease_seconds=10)
    [c2] = queue.claim_due("w2", now=T0 + timedelta(seconds=11), lease_seconds=10)
    assert queue.reap_expired(now=T0 + timedelta(seconds=22)) == [task_id]
    [c3] = queue.claim_due("w3", now=T0 + timedelta(seconds=23))
    assert queue.mark_bridged(task_id, "w3", at=T0 + timedelta(seconds=24))
    assert queue.release(task_id, "w3", now=T0 + timedelta(seconds=25), recover_legs=True)
    [c4] = queue.claim_due("w4", now=T0 + timedelta(seconds=26))
    assert (c2.attempt_no, c3.attempt_no, c4.attempt_no) == (2, 3, 4)
    queue.finish_attempt(task_id, "w4", outcome=AttemptOutcome.CUSTOMER_BUSY, next_due=T0 + minutes(5),
                         now=T0 + minutes(1))
    assert queue.get_task(task_id).attempt_no == 5
    assert [a.attempt_no for a in queue.get_task(task_id).attempts] == [1, 2, 3, 4]
    # The database refuses a second attempt numbered alike, whatever the code does.
    with pytest.raises(IntegrityError), queue.engine.begin() as conn:
        conn.execute(insert(t.attempts).values(task_id=task_id, attempt_no=2, customer_number="+79160000001",
                                               worker="evil", started_at=T0, ended_at=T0, detail=""))


def test_two_attempts_for_one_customer_never_in_flight(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r", max_concurrent=5))
    first = queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0)
    [c] = queue.claim_due("w1", now=T0)
    # Contact made: the task ends while its call is still up...
    assert queue.cancel_for_customer("+79160000001") == [first]
    # ...and a new lost call opens a second task for the same customer.
    second = queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0)
    assert second is not None
    assert queue.claim_due("w2", now=T0) == []  # the first attempt is still in flight
    # Forcing it past the claim: the database refuses a second in-flight attempt.
    with pytest.raises(IntegrityError), queue.engine.begin() as conn:
        conn.execute(insert(t.attempts).values(task_id=second, attempt_no=1, customer_number="+79160000001",
                                               worker="evil", started_at=T0, detail=""))
    # And even marking the second task active by hand does not allow its attempt.
    with queue.engine.begin() as conn:
        conn.execute(update(t.tasks).where(t.tasks.c.id == second).values(status="active", lease_owner="evil"))
    with pytest.raises(IntegrityError), queue.engine.begin() as conn:
        conn.execute(insert(t.attempts).values(task_id=second, attempt_no=1, customer_number="+79160000001",
                                               worker="evil", started_at=T0, detail=""))
    with queue.engine.begin() as conn:
        conn.execute(update(t.tasks).where(t.tasks.c.id == second).values(status="pending", lease_owner=None))
    # The first worker sees the cancel, finishes; the task stays cancelled.
    assert queue.heartbeat("w1", [first], now=T0).cancelled == {first}
    assert queue.finish_attempt(first, "w1", outcome=AttemptOutcome.CONTACT_MADE,
                                end_reason=TaskEndReason.CANCELLED_CONTACT_MADE) is TaskStatus.DONE
    assert queue.get_task(first).end_reason is TaskEndReason.CANCELLED_CONTACT_MADE
    assert [x.task_id for x in queue.claim_due("w2", now=T0)] == [second]
    assert c.task_id == first


def test_r17_record_contact_cancels_open_tasks_once(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r"))
    task_id = queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0 + minutes(5))
    contact = Contact(customer_number="+79160000001", call_uuid="in-2", at=T0 + minutes(1),
                      kind=ContactKind.INBOUND_ANSWERED, employee="alice")
    assert queue.record_contact(contact) == (True, [task_id])
    assert queue.record_contact(contact) == (False, [])
    view = queue.get_task(task_id)
    assert view.end_reason is TaskEndReason.CANCELLED_CONTACT_MADE
    assert queue.contact_since("+79160000001", T0) is True
    assert queue.contact_since("+79160000001", T0 + minutes(2)) is False
    assert queue.claim_due("w", now=T0 + minutes(10)) == []


def test_listing_counts_and_reschedule(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("a", max_concurrent=2))
    repo.add_rule(rule("b"))
    ids = [queue.create_task(customer_number=f"+7916000000{i}", rule_name="a" if i < 3 else "b",
                             due_at=T0 + minutes(i)) for i in range(5)]
    queue.claim_due("w", now=T0 + minutes(1), limit=5)
    counts = queue.counts(now=T0 + minutes(3))
    assert (counts.pending, counts.due, counts.active) == (3, 2, 2)
    assert counts.active_by_rule == {"a": 2}
    assert queue.reschedule(ids[4], T0 + minutes(60), rule_name="a") is True
    assert queue.reschedule(ids[0], T0) is False  # active: not rescheduled
    assert queue.get_task(ids[4]).rule_name == "a"
    assert [v.task_id for v in queue.list_tasks(rule_name="a")] == [ids[4], ids[2], ids[1], ids[0]]
    assert [v.task_id for v in queue.list_tasks(status=TaskStatus.ACTIVE)] == [ids[1], ids[0]]
    assert [v.task_id for v in queue.list_tasks(customer_number="+79160000003")] == [ids[3]]


def test_unreachable_database_is_a_store_error(db_url: str) -> None:
    bad = ("postgresql://fsw:secret@127.0.0.1:1/nope" if db_url.startswith("postgresql")
           else "sqlite:////nonexistent-dir/x/db.sqlite3")
    q = TaskQueue(bad)
    with pytest.raises(StoreUnavailableError) as err:
        q.counts()
    assert "secret" not in str(err.value)
    assert err.value.__cause__ is not None
    q.close()


def test_a_claim_batch_reads_its_lost_calls_and_last_contacts_at_once(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r", max_concurrent=5))
    for uuid, number, at in (("a1", "+79160000001", T0), ("a2", "+79160000001", T0 + minutes(1)),
                             ("b1", "+79160000002", T0)):
        queue.record_lost_call(lost_call(uuid, number, at=at))
    a, _ = queue.create_or_join_task(customer_number="+79160000001", rule_name="r", due_at=T0, lost_call_uuid="a2")
    queue.create_or_join_task(customer_number="+79160000001", rule_name="r", due_at=T0, lost_call_uuid="a1")
    b, _ = queue.create_or_join_task(customer_number="+79160000002", rule_name="r", due_at=T0, lost_call_uuid="b1")
    # customer 2 was reached twice, the last time after the lost call; customer 1 never
    for uuid, at in (("in-1", T0 - minutes(5)), ("in-2", T0 + minutes(2))):
        queue.record_contact(Contact(customer_number="+79160000002", call_uuid=uuid, at=at,
                                     kind=ContactKind.INBOUND_ANSWERED, employee="alice"))
    queue.record_lost_call(lost_call("b2", "+79160000002", at=T0 + minutes(3)))
    b2, _ = queue.create_or_join_task(customer_number="+79160000002", rule_name="r", due_at=T0 + minutes(3),
                                      lost_call_uuid="b2")
    claimed = queue.claim_due("w", now=T0 + minutes(10), limit=10)
    assert {c.task_id for c in claimed} == {a, b2}
    got = queue.attempt_inputs(claimed)
    assert [c.call_uuid for c in got[a].lost_calls] == ["a1", "a2"]  # oldest first, as lost_calls_for_task
    assert got[a].last_contact is None and not got[a].reached_since(T0)
    assert [c.call_uuid for c in got[b2].lost_calls] == ["b2"]
    assert got[b2].last_contact == T0 + minutes(2)
    assert got[b2].reached_since(T0 + minutes(1)) and not got[b2].reached_since(T0 + minutes(3))
    assert b != b2 and queue.attempt_inputs([]) == {}
