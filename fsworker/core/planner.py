"""Attempt planning: when each callback attempt of a task is due (R7, R8, R12).

Rules: pure — functions of (rule, catalog, times); no I/O, no clock. The retry *policy*
(``RetryPolicy``: which delay comes before attempt k, and when attempts run out) is
kept apart from *applying* it (shifting the raw time into the rule's callback
schedule). Every returned time is timezone-aware UTC.

R8: attempt 1 is due at lost_at + intervals[0]; attempt k > 1 at the end of attempt
k-1 + intervals[k-1]; each raw time is shifted to the callback schedule's next open
instant (unchanged if the schedule is open then or the rule has none). After the last
interval there is no next attempt: the task ends attempts_exhausted.

R12 (``replan``): the attempt already scheduled keeps its number and only picks up a
change of the callback schedule (its raw time is shifted again into the new rule's
schedule); the later attempts need no stored plan — ``next_due`` is asked with the
rule as it is when the scheduled attempt ends, so they follow the new rule. If the
new rule has fewer intervals than the scheduled attempt's number, that attempt still
runs and the task then ends attempts_exhausted.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fsworker.core.catalog import Catalog
from fsworker.core.errors import FsworkerError, ValidationError
from fsworker.core.model import Rule, Schedule
from fsworker.core.outcomes import AttemptOutcome, TaskEndReason
from fsworker.core.schedule import HORIZON_DAYS, is_open, next_open

log = logging.getLogger(__name__)


class ScheduleNeverOpensError(FsworkerError):
    """A callback schedule has no open window within the search horizon; the task
    cannot be planned (the caller ends or parks it and says why)."""

    def __init__(self, schedule: str, after: datetime) -> None:
        self.schedule = schedule
        self.after = after
        super().__init__(
            f"callback schedule {schedule!r} does not open within {HORIZON_DAYS} days after {after.isoformat()}"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """Which delay precedes each attempt (R8): ``delays[k-1]`` before attempt k."""

    delays: tuple[timedelta, ...]

    def __post_init__(self) -> None:
        if not self.delays:
            raise ValidationError("retry.delays", self.delays, "at least one delay")
        if any(d < timedelta(0) for d in self.delays):
            raise ValidationError("retry.delays", self.delays, "delays must not be negative")

    @classmethod
    def from_rule(cls, rule: Rule) -> RetryPolicy:
        return cls(delays=tuple(timedelta(seconds=s) for s in rule.intervals))

    @property
    def max_attempts(self) -> int:
        return len(self.delays)

    def delay_before(self, attempt_no: int) -> timedelta | None:
        """The delay before attempt ``attempt_no`` (1-based), None past the last one."""
        if attempt_no < 1:
            raise ValidationError("attempt_no", attempt_no, ">= 1")
        return self.delays[attempt_no - 1] if attempt_no <= len(self.delays) else None


def callback_schedule(rule: Rule, catalog: Catalog) -> Schedule | None:
    if rule.callback_schedule is None:
        return None
    schedule = catalog.schedule_by_name.get(rule.callback_schedule)
    if schedule is None:
        raise ValidationError("rule.callback_schedule", rule.callback_schedule, "an existing schedule")
    return schedule


def shift(schedule: Schedule | None, raw: datetime) -> datetime:
    """``raw`` moved to the schedule's next open instant (R7)."""
    if raw.tzinfo is None:
        raise ValidationError("due time", raw, "a timezone-aware datetime")
    raw = raw.astimezone(UTC)
    if schedule is None:
        return raw
    due = next_open(schedule, raw)
    if due is None:
        raise ScheduleNeverOpensError(schedule.name, raw)
    return due.astimezone(UTC)


def first_due(rule: Rule, catalog: Catalog, lost_at: datetime) -> datetime:
    """When attempt 1 is due: lost_at + intervals[0], shifted into the callback schedule."""
    delay = RetryPolicy.from_rule(rule).delay_before(1)
    assert delay is not None  # a rule has at least one interval (model)
    return shift(callback_schedule(rule, catalog), lost_at + delay)


def next_due(rule: Rule, catalog: Catalog, attempt_no_just_finished: int, ended_at: datetime) -> datetime | None:
    """When the attempt after ``attempt_no_just_finished`` (which failed and ended at
    ``ended_at``) is due; None when the intervals are used up (attempts_exhausted)."""
    delay = RetryPolicy.from_rule(rule).delay_before(attempt_no_just_finished + 1)
    if delay is None:
        return None
    return shift(callback_schedule(rule, catalog), ended_at + delay)


# Outcomes that end the task, and the end reason recorded (R19). Every other outcome is
# a failed attempt and the retry policy decides.
_FINAL: dict[AttemptOutcome, TaskEndReason] = {
    AttemptOutcome.SUCCESS: TaskEndReason.SUCCESS,
    AttemptOutcome.NO_EMPLOYEE_CALLS_FOUND: TaskEndReason.NO_EMPLOYEE_CALLS_FOUND,
    AttemptOutcome.CONTACT_MADE: TaskEndReason.CANCELLED_CONTACT_MADE,
    # The store already ended the task with the precise reason; this only stops retries.
    AttemptOutcome.CANCELLED: TaskEndReason.CANCELLED_BY_OPERATOR,
    AttemptOutcome.INVALID_NUMBER: TaskEndReason.INVALID_NUMBER,
}


def after_attempt(
    rule: Rule, catalog: Catalog, attempt_no: int, outcome: AttemptOutcome, ended_at: datetime
) -> datetime | TaskEndReason:
    """What follows an attempt: the next due time, or the task's end reason (R8, R19)."""
    if outcome in _FINAL:
        return _FINAL[outcome]
    due = next_due(rule, catalog, attempt_no, ended_at)
    return TaskEndReason.ATTEMPTS_EXHAUSTED if due is None else due


def plan(rule: Rule, catalog: Catalog, lost_at: datetime, attempt_duration: timedelta = timedelta(0)) -> list[datetime]:
    """All due times if every attempt fails and lasts ``attempt_duration`` (for
    ``fsworker simulate``)."""
    due = first_due(rule, catalog, lost_at)
    out = [due]
    while True:
        nxt = next_due(rule, catalog, len(out), due + attempt_duration)
        if nxt is None:
            return out
        out.append(nxt)
        due = nxt


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskPlanState:
    """What R12 needs to know about a task's scheduled attempt."""

    attempt_no: int  #: the attempt that is scheduled (1-based)
    due_at: datetime  #: when it is due (already shifted into the callback schedule)
    rule_name: str
    lost_at: datetime
    base_at: datetime | None = None  #: its raw time before shifting; None = due_at
    task_id: Hashable | None = None  #: only for log lines

    def __post_init__(self) -> None:
        if not isinstance(self.attempt_no, int) or self.attempt_no < 1:
            raise ValidationError("task.attempt_no", self.attempt_no, ">= 1")
        for name in ("due_at", "lost_at", "base_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValidationError(f"task.{name}", value, "a timezone-aware datetime")

    def evolve(self, **changes: Any) -> TaskPlanState:
        return replace(self, **changes)

    @classmethod
    def first(cls, rule: Rule, catalog: Catalog, lost_at: datetime) -> TaskPlanState:
        """The state of a new task: attempt 1 planned (R8)."""
        base = (lost_at + timedelta(seconds=rule.intervals[0])).astimezone(UTC)
        return cls(attempt_no=1, due_at=first_due(rule, catalog, lost_at), rule_name=rule.name,
                   lost_at=lost_at, base_at=base)


def replan(state: TaskPlanState, old_rule: Rule, new_rule: Rule, catalog: Catalog, now: datetime) -> TaskPlanState:
    """R12: the task now follows ``new_rule`` (the edited rule, or a new higher-priority
    one). The scheduled attempt keeps its number and raw time; only the callback
    schedule is applied again:
    - raw time still ahead: shift it into the new schedule;
    - raw time passed: if the attempt is already due and the new schedule is open now,
      it stays as it is (keeps its place in the queue); otherwise it is due at the new
      schedule's next open instant from now (which may be earlier than before).
    ``old_rule`` is only used for the log line: the result depends on the new rule."""
    schedule = callback_schedule(new_rule, catalog)
    base = state.base_at or state.due_at
    if base >= now:
        due = shift(schedule, base)
    elif state.due_at <= now and (schedule is None or is_open(schedule, now)):
        due = state.due_at
    else:
        due = shift(schedule, now)
    if due != state.due_at or old_rule.name != new_rule.name:
        log.info(
            "task %s: attempt %d re-planned from rule %r to %r, due %s -> %s",
            state.task_id, state.attempt_no, old_rule.name, new_rule.name,
            state.due_at.isoformat(), due.isoformat(),
        )
    return state.evolve(due_at=due, rule_name=new_rule.name)
