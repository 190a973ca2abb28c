"""Retries (R7, R8) and attempt outcomes (R19), end to end on simulated time.

Retries: the due times the store holds follow the rule's intervals, shifted into the
callback schedule's weekly windows; success stops the task; the fifth failed attempt
ends it attempts_exhausted. Outcomes: each failure mode of an attempt is recognised
from the fake switch's events and recorded. SQLite and PostgreSQL (``harness``).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from fsworker.core.model import Hint, HintKind, Schedule, TimeWindow, WeeklyWindow
from fsworker.core.outcomes import AttemptOutcome, TaskEndReason, TaskStatus
from fsworker.testing.fakeswitch.directory import Behaviour
from tests.e2e.harness import CUSTOMER_EP, START, Harness, callback_legs, take_in


def _skip_to(h: Harness, when: datetime, chunk_s: float = 10.0) -> None:
    """Move simulated time to just before ``when`` in big steps (nothing is in flight)."""
    while h.clock.now() < when - timedelta(seconds=chunk_s):
        h.pbx.advance(chunk_s)
        h.settle(0.005)


def _finished_attempts(h: Harness, task_id: int) -> int:
    return sum(1 for a in h.task(task_id).attempts if a.outcome is not None)


def _wait_attempts(h: Harness, task_id: int, n: int, max_sim_s: float = 200) -> None:
    assert h.run_until(lambda: _finished_attempts(h, task_id) >= n, max_sim_s=max_sim_s), \
        f"attempt {n} did not finish: {h.task(task_id)}"


def test_retries_follow_intervals_and_callback_schedule_until_success(harness) -> None:
    h = harness
    h.add_staff()
    # Monday (UTC) windows: 09:10-09:15 and 10:00-11:00.
    h.repo.add(Schedule(name="work", timezone="UTC", windows=(
        WeeklyWindow(day=0, window=TimeWindow(start=time(9, 10), end=time(9, 15))),
        WeeklyWindow(day=0, window=TimeWindow(start=time(10, 0), end=time(11, 0))),
    )))
    h.add_rule(name="sales", strategy="group", target="sales", intervals=(60, 120, 300, 60, 60),
               callback_schedule="work")
    h.start()
    task_id = take_in(h)
    lost_at = h.service.queue.lost_calls_for_task(task_id)[0].lost_at
    assert lost_at < START + timedelta(minutes=1)
    # attempt 1: lost_at + 60 s is before the window: shifted to 09:10
    assert h.task(task_id).due_at == START.replace(minute=10)
    h.pbx.directory.set("user/101", Behaviour.answers(after=2))
    h.pbx.directory.set(CUSTOMER_EP, Behaviour.busy(after=1))
    _skip_to(h, START.replace(minute=10))
    assert not callback_legs(h.pbx), "nothing may be dialled before the first due time"
    _wait_attempts(h, task_id, 1)

    task = h.task(task_id)
    a1 = task.attempts[0]
    assert a1.outcome is AttemptOutcome.CUSTOMER_BUSY
    assert a1.started_at >= START.replace(minute=10)
    # attempt 2: end of attempt 1 + 120 s, inside the 09:10-09:15 window: unshifted
    assert task.status is TaskStatus.PENDING and task.due_at == a1.ended_at + timedelta(seconds=120)
    _wait_attempts(h, task_id, 2, max_sim_s=200)
    task = h.task(task_id)
    a2 = task.attempts[1]
    assert a2.outcome is AttemptOutcome.CUSTOMER_BUSY
    assert a2.started_at >= a1.ended_at + timedelta(seconds=120)
    # attempt 3: end + 300 s falls after 09:15: shifted to the 10:00 window
    assert a2.ended_at + timedelta(seconds=300) < START.replace(hour=10)
    assert task.due_at == START.replace(hour=10)
    h.pbx.directory.set(CUSTOMER_EP, Behaviour.answers(after=3, hangup_after=30))
    _skip_to(h, START.replace(hour=10))
    assert len(callback_legs(h.pbx, task_id, "customer")) == 2, "attempt 3 ran before its window opened"
    assert h.run_until(lambda: h.task(task_id).status is TaskStatus.DONE, max_sim_s=200)
    task = h.task(task_id)
    assert task.end_reason is TaskEndReason.SUCCESS
    assert [a.outcome for a in task.attempts] == [AttemptOutcome.CUSTOMER_BUSY] * 2 + [AttemptOutcome.SUCCESS]
    assert task.attempts[2].started_at >= START.replace(hour=10)
    assert task.attempts[2].talk_s and task.attempts[2].talk_s >= 29
    assert h.assert_bridged(task_id).talk_us >= 29_000_000
    # the two busy attempts reached nobody: the switch bridged only the third
    assert [len(leg.bridges) for leg in callback_legs(h.pbx, task_id, "customer")] == [0, 0, 1]
    # Success stops the task: two intervals are left, yet nothing more is dialled.
    legs_after_success = len(callback_legs(h.pbx))
    h.run_for(600, step_s=5)
    assert len(callback_legs(h.pbx)) == legs_after_success
    assert len(h.task(task_id).attempts) == 3
    # each attempt's legs carry its number
    customers = callback_legs(h.pbx, task_id, "customer")
    assert [leg.variables["fsw_attempt"] for leg in customers] == ["1", "2", "3"]


def test_attempts_run_out_after_the_fifth(harness) -> None:
    h = harness
    h.add_staff()
    h.add_rule(name="sales", strategy="group", target="sales", intervals=(30, 10, 10, 10, 10))
    h.start()
    task_id = take_in(h)
    h.pbx.directory.set("user/101", Behaviour.answers(after=1))
    h.pbx.directory.set(CUSTOMER_EP, Behaviour.busy(after=1))
    assert h.run_until(lambda: h.task(task_id).status is TaskStatus.DONE, max_sim_s=400)
    task = h.task(task_id)
    assert task.end_reason is TaskEndReason.ATTEMPTS_EXHAUSTED
    assert [a.attempt_no for a in task.attempts] == [1, 2, 3, 4, 5]
    assert [a.outcome for a in task.attempts] == [AttemptOutcome.CUSTOMER_BUSY] * 5
    for prev, nxt in zip(task.attempts, task.attempts[1:]):
        assert nxt.started_at >= prev.ended_at + timedelta(seconds=10)
    h.run_for(120, step_s=2)
    customers = callback_legs(h.pbx, task_id, "customer")
    assert len(customers) == 5, "a sixth attempt was made"
    assert {leg.cause for leg in customers} == {"USER_BUSY"}


# -- outcomes ----------------------------------------------------------------------------
# (customer behaviour, employee behaviour for user/101, expected outcome, customer dialled?)
OUTCOMES = {
    "customer_busy": (Behaviour.busy(after=1), Behaviour.answers(after=2), AttemptOutcome.CUSTOMER_BUSY, True),
    "customer_no_answer": (Behaviour.rings(), Behaviour.answers(after=2), AttemptOutcome.CUSTOMER_NO_ANSWER, True),
    "customer_rejected": (Behaviour.rejects(after=1), Behaviour.answers(after=2),
                          AttemptOutcome.CUSTOMER_REJECTED, True),
    "no_employee_answered": (Behaviour.answers(after=1), Behaviour.rings(),
                             AttemptOutcome.NO_EMPLOYEE_ANSWERED, False),
    "employee_hung_up_during_hint": (Behaviour.answers(after=1), Behaviour.answers(after=1, hangup_after=0.5),
                                     AttemptOutcome.EMPLOYEE_HUNG_UP_DURING_HINT, False),
    # a voicemail picks up and drops at once: bridged, but shorter than min_talk_s (5)
    "customer_short_call": (Behaviour.answers(after=2, hangup_after=1), Behaviour.answers(after=2),
                            AttemptOutcome.CUSTOMER_SHORT_CALL, True),
}


@pytest.mark.parametrize("case", list(OUTCOMES))
def test_attempt_outcome_is_recorded(harness, case: str) -> None:
    customer_b, employee_b, expected, customer_dialled = OUTCOMES[case]
    h = harness
    h.add_staff()
    h.add_rule(name="sales", strategy="employee", target="ivanov", intervals=(60,),
               hint=Hint(kind=HintKind.TEXT, text="Это автоматический перезвон клиенту " * 8))
    h.start()
    task_id = take_in(h)
    h.pbx.directory.set("user/101", employee_b)
    h.pbx.directory.set(CUSTOMER_EP, customer_b)
    assert h.run_until(lambda: h.task(task_id).status is TaskStatus.DONE, max_sim_s=300)
    task = h.task(task_id)
    assert [a.outcome for a in task.attempts] == [expected], task
    # one interval: a failed attempt ends the task; a short call is not a success
    assert task.end_reason is TaskEndReason.ATTEMPTS_EXHAUSTED
    employees = callback_legs(h.pbx, task_id, "employee")
    assert [leg.endpoint for leg in employees] == ["user/101"]
    customers = callback_legs(h.pbx, task_id, "customer")
    assert len(customers) == (1 if customer_dialled else 0), [c.endpoint for c in customers]
    if customer_dialled:
        [customer] = customers
        played = h.pbx.spoken_on(employees[0].uuid)
        assert played and customer.started_at >= played[0][3]
    if case == "employee_hung_up_during_hint":
        played = h.pbx.spoken_on(employees[0].uuid)
        # the hint was cut short by the hangup (it would have taken 2 s)
        assert played and played[0][3] - played[0][2] < 1.0
    if case == "customer_short_call":
        assert task.attempts[0].talk_s is not None and task.attempts[0].talk_s < 5
        # bridged on the switch, but for less than min_talk_s
        [bridge] = customers[0].bridges
        assert bridge.talk_us is not None and 0 < bridge.talk_us < 5_000_000
    elif customer_dialled:
        assert customers[0].bridges == [], "a failed customer leg was bridged"
    if case == "customer_no_answer":
        assert customers[0].cause == "NO_ANSWER"
    # the outcome is final: nothing rings afterwards
    n = len(callback_legs(h.pbx))
    h.run_for(60, step_s=2)
    assert len(callback_legs(h.pbx)) == n


@pytest.mark.parametrize("talk_s, expected", [
    (5.0, AttemptOutcome.SUCCESS),  # exactly min_talk_s: enough
    (4.999999, AttemptOutcome.CUSTOMER_SHORT_CALL),  # one µs short
])
def test_a_talk_of_exactly_min_talk_s_is_a_success(harness, talk_s: float, expected: AttemptOutcome) -> None:
    h = harness
    assert h.config.callback.min_talk_s == 5
    h.add_staff()
    h.add_rule(name="sales", strategy="employee", target="ivanov", intervals=(60,))
    h.start()
    task_id = take_in(h)
    h.pbx.directory.set("user/101", Behaviour.answers(after=2))
    # the customer hangs up talk_s after the switch bridged them, to the µs
    h.pbx.directory.set(CUSTOMER_EP, Behaviour.answers(after=2, bye_after_bridge=talk_s))
    assert h.run_until(lambda: h.task(task_id).status is TaskStatus.DONE, max_sim_s=300)
    task = h.task(task_id)
    [customer] = callback_legs(h.pbx, task_id, "customer")
    [bridge] = customer.bridges
    assert bridge.talk_us == round(talk_s * 1e6)  # the switch's own measure of the talk
    assert task.attempts[0].talk_s == pytest.approx(talk_s, abs=1e-6)
    assert [a.outcome for a in task.attempts] == [expected]


def test_lost_call_time_is_the_base_of_the_first_interval(harness) -> None:
    """R8: attempt 1 is due lost_at + intervals[0] (no schedule: unshifted)."""
    h = harness
    h.add_staff()
    h.add_rule(name="sales", strategy="group", target="sales", intervals=(90,))
    h.start()
    task_id = take_in(h)
    lost = h.service.queue.lost_calls_for_task(task_id)[0]
    assert h.task(task_id).due_at == lost.lost_at + timedelta(seconds=90)
    assert lost.lost_at.tzinfo is not None and lost.lost_at >= START.astimezone(UTC)
