"""DueWaker: the claimer sleeps until the next due time, a wake-up, or the backstop."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import gevent
import pytest

from fsworker.core.clock import ManualClock
from fsworker.service.duewaker import DueWaker
from fsworker.store.errors import StoreUnavailableError

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _waker(next_due, max_sleep_s: float = 5.0) -> DueWaker:  # noqa: ANN001
    return DueWaker(next_due=next_due, clock=ManualClock(T0), max_sleep_s=max_sleep_s)


def _timed(waker: DueWaker) -> tuple[float, float]:
    started = time.monotonic()
    planned = waker.wait()
    return planned, time.monotonic() - started


def test_sleeps_until_the_next_due_time() -> None:
    asked = []
    waker = _waker(lambda now: asked.append(now) or now + timedelta(seconds=0.2))
    planned, slept = _timed(waker)
    assert asked == [T0]
    assert 0.2 <= planned < 0.21
    assert 0.19 <= slept < 0.5


def test_the_backstop_bounds_the_sleep() -> None:
    waker = _waker(lambda now: now + timedelta(hours=1), max_sleep_s=0.1)
    planned, slept = _timed(waker)
    assert planned == 0.1 and slept < 0.5
    planned, _ = _timed(_waker(lambda now: None, max_sleep_s=0.1))  # nothing scheduled
    assert planned == 0.1


def test_a_wake_up_ends_the_sleep() -> None:
    waker = _waker(lambda now: now + timedelta(hours=1))
    gevent.spawn_later(0.05, waker.wake)
    _, slept = _timed(waker)
    assert slept < 1.0


def test_a_wake_up_during_the_claim_is_not_lost() -> None:
    waker = _waker(lambda now: now + timedelta(hours=1))
    waker.arm()  # before the claim
    waker.wake()  # a task created while the claim ran
    _, slept = _timed(waker)
    assert slept < 1.0  # not the hour until the next due time, nor the 5 s backstop
    waker.arm()  # the next round starts clean
    gevent.spawn_later(0.05, waker.wake)
    _, slept = _timed(waker)
    assert 0.04 <= slept < 1.0


def test_a_store_failure_falls_back_to_the_backstop(caplog: pytest.LogCaptureFixture) -> None:
    def broken(now: datetime) -> datetime:
        raise StoreUnavailableError("sqlite:///x", "disk I/O error")

    planned, _ = _timed(_waker(broken, max_sleep_s=0.05))
    assert planned == 0.05
    assert "next due time unknown" in caplog.text and "disk I/O error" in caplog.text


def test_a_task_due_later_than_the_planned_wake_up_does_not_wake() -> None:
    waker = _waker(lambda now: now + timedelta(seconds=0.3))
    gevent.spawn_later(0.05, waker.wake, T0 + timedelta(minutes=10))  # a new task, due in 10 min
    _, slept = _timed(waker)
    assert 0.29 <= slept < 0.6  # slept on until the earlier due time


def test_a_task_due_sooner_than_the_planned_wake_up_wakes() -> None:
    waker = _waker(lambda now: now + timedelta(hours=1))
    gevent.spawn_later(0.05, waker.wake, T0 + timedelta(seconds=1))
    _, slept = _timed(waker)
    assert slept < 0.5


def test_a_due_time_announced_during_the_claim_shortens_the_next_sleep() -> None:
    # the store's answer may have been read before the task was committed
    waker = _waker(lambda now: now + timedelta(hours=1), max_sleep_s=0.3)
    waker.arm()
    waker.wake(T0 + timedelta(seconds=0.1))
    planned, slept = _timed(waker)
    assert 0.1 <= planned < 0.11 and slept < 0.25
    waker.arm()  # and the next round forgets it
    planned, _ = _timed(waker)
    assert planned == 0.3


def test_notification_payloads_name_the_earliest_due_time_or_now() -> None:
    from fsworker.store.notify import TaskChanges

    assert TaskChanges.of(["1796115600.5", "1796115500"]).earliest == datetime.fromtimestamp(1796115500, UTC)
    assert TaskChanges.of(["1796115600", ""]).earliest is None  # a slot freed: look now
    assert TaskChanges.of(["not a time"]) and TaskChanges.of(["x"]).earliest is None
    assert not TaskChanges.of([])
