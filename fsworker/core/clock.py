"""Clocks: the one place fsworker asks what time it is.

Rules: code that plans or times anything takes a ``Clock`` instead of calling
``time.time()``; tests pass a ``ManualClock`` and advance it without sleeping. All times
are timezone-aware UTC datetimes (``now()``) or float epoch seconds (``time()``).
"""

from __future__ import annotations

import threading
import time as _time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def time(self) -> float: ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return _time.time()


class ManualClock:
    """A clock that moves only when told to (tests, the fake switch, the demo)."""

    def __init__(self, start: datetime | float | None = None) -> None:
        if start is None:
            start = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
        if isinstance(start, datetime):
            if start.tzinfo is None:
                raise ValueError("ManualClock start must be timezone-aware")
            start = start.timestamp()
        self._t = float(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._t, UTC)

    def time(self) -> float:
        return self._t

    def advance(self, seconds: float | timedelta) -> None:
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._t += seconds

    def set(self, when: datetime | float) -> None:
        if isinstance(when, datetime):
            when = when.timestamp()
        with self._lock:
            self._t = float(when)
