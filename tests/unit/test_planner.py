"""Attempt planning (R7, R8, R12): intervals, callback schedule, time zones, DST, holidays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fsworker.core.catalog import Catalog
from fsworker.core.errors import ValidationError
from fsworker.core.model import Rule, Schedule, StrategyKind
from fsworker.core.outcomes import AttemptOutcome, TaskEndReason
from fsworker.core.planner import (
    RetryPolicy,
    ScheduleNeverOpensError,
    TaskPlanState,
    after_attempt,
    first_due,
    next_due,
    plan,
    replan,
)
from fsworker.core.schedule import parse_exceptions, parse_weekly

MSK = ZoneInfo("Europe/Moscow")
NYC = ZoneInfo("America/New_York")

WORK = Schedule(
    name="work", timezone="Europe/Moscow", windows=parse_weekly("mon-fri 09:00-18:00"),
    exceptions=parse_exceptions("2026-12-31 closed; 2027-01-01 closed"),
)
LATE = Schedule(name="late", timezone="Europe/Moscow", windows=parse_weekly("mon-fri 14:00-20:00"))
ALWAYS_SAT = Schedule(name="weekend", timezone="Europe/Moscow", windows=parse_weekly("mon-sun 00:00-24:00"))
NY_WORK = Schedule(name="ny", timezone="America/New_York", windows=parse_weekly("mon-fri 09:00-17:00"))
PAST_ONLY = Schedule(name="past", timezone="Europe/Moscow", windows=(), exceptions=parse_exceptions("2020-01-01 10:00-11:00"))
CAT = Catalog(schedules=(WORK, LATE, ALWAYS_SAT, NY_WORK, PAST_ONLY))


def rule(name: str = "r", **kw: object) -> Rule:
    base: dict[str, object] = {"name": name, "strategy": StrategyKind.LAST_ATTEMPTED}
    base.update(kw)
    return Rule(**base)  # type: ignore[arg-type]


T0 = datetime(2026, 12, 1, 10, 0, tzinfo=MSK)  # Tue, inside working hours


# --- R8 -------------------------------------------------------------------------------


def test_r8_first_attempt_counted_from_the_loss() -> None:
    assert first_due(rule(intervals=(120,)), CAT, T0) == T0 + timedelta(seconds=120)
    assert first_due(rule(intervals=(0,)), CAT, T0) == T0


def test_r8_next_attempt_counted_from_end_of_previous_failed_attempt() -> None:
    r = rule(intervals=(0, 300, 900))
    ended = T0 + timedelta(seconds=47)  # attempt 1 lasted 47 s
    assert next_due(r, CAT, 1, ended) == ended + timedelta(seconds=300)
    assert next_due(r, CAT, 2, ended) == ended + timedelta(seconds=900)


def test_r8_exhausted_after_the_last_interval() -> None:
    r = rule(intervals=(0, 60))
    assert next_due(r, CAT, 2, T0) is None
    assert after_attempt(r, CAT, 2, AttemptOutcome.CUSTOMER_NO_ANSWER, T0) is TaskEndReason.ATTEMPTS_EXHAUSTED
    assert after_attempt(r, CAT, 1, AttemptOutcome.CUSTOMER_BUSY, T0) == T0 + timedelta(seconds=60)


def test_r8_at_most_five_attempts_planned() -> None:
    r = rule(intervals=(0, 60, 60, 60, 60))
    due = plan(r, CAT, T0, attempt_duration=timedelta(seconds=30))
    assert len(due) == 5
    assert [d - T0 for d in due] == [timedelta(seconds=s) for s in (0, 90, 180, 270, 360)]


def test_r8_success_ends_the_task() -> None:
    r = rule(intervals=(0, 60, 60))
    assert after_attempt(r, CAT, 1, AttemptOutcome.SUCCESS, T0) is TaskEndReason.SUCCESS
    assert after_attempt(r, CAT, 1, AttemptOutcome.CONTACT_MADE, T0) is TaskEndReason.CANCELLED_CONTACT_MADE
    assert after_attempt(r, CAT, 1, AttemptOutcome.NO_EMPLOYEE_CALLS_FOUND, T0) is TaskEndReason.NO_EMPLOYEE_CALLS_FOUND


def test_retry_policy_is_separate_from_applying_it() -> None:
    p = RetryPolicy.from_rule(rule(intervals=(5, 10)))
    assert p.max_attempts == 2
    assert (p.delay_before(1), p.delay_before(2), p.delay_before(3)) == (timedelta(seconds=5), timedelta(seconds=10), None)
    with pytest.raises(ValidationError):
        p.delay_before(0)
    with pytest.raises(ValidationError):
        RetryPolicy(delays=(timedelta(seconds=-1),))


# --- R7: callback schedule ---------------------------------------------------------------


def test_r7_attempt_after_hours_shifted_to_next_working_morning() -> None:
    r = rule(intervals=(60, 600), callback_schedule="work")
    lost = datetime(2026, 12, 4, 19, 0, tzinfo=MSK)  # Fri evening
    assert first_due(r, CAT, lost) == datetime(2026, 12, 7, 9, 0, tzinfo=MSK)
    ended = datetime(2026, 12, 7, 17, 55, tzinfo=MSK)
    assert next_due(r, CAT, 1, ended) == datetime(2026, 12, 8, 9, 0, tzinfo=MSK)


def test_r7_attempt_inside_window_is_not_moved() -> None:
    r = rule(intervals=(60,), callback_schedule="work")
    assert first_due(r, CAT, T0) == T0 + timedelta(seconds=60)


def test_r7_holiday_pushes_attempt_past_it() -> None:
    r = rule(intervals=(600,), callback_schedule="work")
    lost = datetime(2026, 12, 30, 17, 55, tzinfo=MSK)  # +10 min = 18:05, then 31 Dec and 1 Jan closed
    assert first_due(r, CAT, lost) == datetime(2027, 1, 4, 9, 0, tzinfo=MSK)


def test_r7_new_york_schedule_across_spring_forward() -> None:
    r = rule(intervals=(0,), callback_schedule="ny")
    lost = datetime(2026, 3, 6, 20, 0, tzinfo=NYC)  # Fri evening EST
    due = first_due(r, CAT, lost)
    assert due == datetime(2026, 3, 9, 9, 0, tzinfo=NYC)
    assert due == datetime(2026, 3, 9, 13, 0, tzinfo=UTC), "09:00 EDT, not 09:00 EST"
    assert due.tzinfo is UTC


def test_r7_unknown_callback_schedule_is_an_error() -> None:
    with pytest.raises(ValidationError) as ei:
        first_due(rule(callback_schedule="missing"), CAT, T0)
    assert (ei.value.field, ei.value.value) == ("rule.callback_schedule", "missing")


def test_r7_schedule_that_never_opens_cannot_be_planned() -> None:
    with pytest.raises(ScheduleNeverOpensError, match="past"):
        first_due(rule(callback_schedule="past"), CAT, T0)


# --- R12 ---------------------------------------------------------------------------------


def state(**kw: object) -> TaskPlanState:
    base: dict[str, object] = {"attempt_no": 2, "due_at": T0 + timedelta(hours=1), "rule_name": "r", "lost_at": T0}
    base.update(kw)
    return TaskPlanState(**base)  # type: ignore[arg-type]


def test_r12_changed_intervals_do_not_move_the_scheduled_attempt_but_later_ones_follow() -> None:
    old = rule(intervals=(0, 3600, 3600))
    new = old.evolve(intervals=(0, 60, 120, 180))
    s = replan(state(), old, new, CAT, now=T0 + timedelta(minutes=5))
    assert s.due_at == T0 + timedelta(hours=1) and s.attempt_no == 2
    ended = s.due_at + timedelta(seconds=30)
    assert next_due(new, CAT, s.attempt_no, ended) == ended + timedelta(seconds=120)


def test_r12_changed_callback_schedule_reshifts_the_scheduled_attempt() -> None:
    old = rule(intervals=(0, 3600), callback_schedule="work")
    new = old.evolve(callback_schedule="late")
    s = replan(state(), old, new, CAT, now=T0 + timedelta(minutes=5))
    assert s.due_at == datetime(2026, 12, 1, 14, 0, tzinfo=MSK)
    assert s.attempt_no == 2, "keeps its count"


def test_r12_new_schedule_can_bring_a_waiting_attempt_forward() -> None:
    # attempt 2's raw time was Sat 10:00, the working-day schedule put it on Mon 09:00;
    # the new rule calls back at weekends too, so it is due now (Sat 12:00)
    old = rule("old", intervals=(0, 60), callback_schedule="work")
    new = rule("vip", intervals=(0, 60), callback_schedule="weekend")
    raw = datetime(2026, 12, 5, 10, 0, tzinfo=MSK)
    st = state(due_at=datetime(2026, 12, 7, 9, 0, tzinfo=MSK), base_at=raw, rule_name="old")
    now = datetime(2026, 12, 5, 12, 0, tzinfo=MSK)
    s = replan(st, old, new, CAT, now)
    assert s.due_at == now
    assert s.rule_name == "vip"


def test_r12_overdue_attempt_keeps_its_due_time_when_schedule_still_open() -> None:
    old = rule(intervals=(0, 60), callback_schedule="work")
    new = old.evolve(max_concurrent=3)
    st = state(due_at=T0)
    s = replan(st, old, new, CAT, now=T0 + timedelta(minutes=10))
    assert s.due_at == T0


def test_r12_fewer_intervals_scheduled_attempt_runs_then_exhausted() -> None:
    old = rule(intervals=(0, 60, 60, 60))
    new = old.evolve(intervals=(0, 60))
    s = replan(state(attempt_no=3), old, new, CAT, now=T0)
    assert s.attempt_no == 3 and s.due_at == T0 + timedelta(hours=1)
    assert next_due(new, CAT, 3, s.due_at) is None


def test_task_plan_state_first() -> None:
    r = rule(intervals=(60,), callback_schedule="work")
    lost = datetime(2026, 12, 4, 19, 0, tzinfo=MSK)
    s = TaskPlanState.first(r, CAT, lost)
    assert s.attempt_no == 1 and s.rule_name == "r"
    assert s.due_at == datetime(2026, 12, 7, 9, 0, tzinfo=MSK)
    assert s.base_at == lost + timedelta(seconds=60)
    with pytest.raises(ValidationError):
        state(attempt_no=0)
