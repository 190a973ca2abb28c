"""Schedule values: weekly windows, exception dates, a schedule in an IANA time zone, and
the checks each passes on construction.

Rules: values and their checks only (no computation over time: that is calendar.py);
imports nothing of fsworker but errors and names, so model, calendar and the text form
can all depend on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fsworker.core.errors import ValidationError
from fsworker.core.names import check_name as _check_name

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_S = 24 * 3600
_WEEK_S = 7 * _DAY_S


def zone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ValidationError("schedule.timezone", name, "an IANA time zone such as Europe/Moscow")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("schedule.timezone", name, "an IANA time zone such as Europe/Moscow") from None


WEEKDAYS = DAY_NAMES


@dataclass(frozen=True, kw_only=True, slots=True)
class TimeWindow:
    """An open interval [start, end) of local time. ``end`` 00:00 means 24:00; a window
    that crosses midnight is given as start > end (e.g. 22:00-06:00) and belongs to the
    day it starts on."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if not isinstance(self.start, time) or not isinstance(self.end, time):
            raise ValidationError("window", (self.start, self.end), "start and end must be times")
        # 00:00-00:00 is the whole day (end 00:00 = 24:00); any other start == end is empty
        if self.start == self.end and self.start != time(0, 0):
            raise ValidationError(
                "window", f"{self.start:%H:%M}-{self.end:%H:%M}", "start and end must differ"
            )

    @property
    def until_midnight(self) -> bool:
        """``end`` is 00:00, meaning the end of the day (24:00)."""
        return self.end == time(0, 0)

    @property
    def crosses_midnight(self) -> bool:
        return not self.until_midnight and self.end < self.start


@dataclass(frozen=True, kw_only=True, slots=True)
class WeeklyWindow:
    day: int  #: 0 = Monday ... 6 = Sunday
    window: TimeWindow

    def __post_init__(self) -> None:
        if not isinstance(self.day, int) or not 0 <= self.day <= 6:
            raise ValidationError("window.day", self.day, "0 (Monday) .. 6 (Sunday)")


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleException:
    """A date that is closed (no windows) or open with its own windows (a holiday,
    a working Saturday)."""

    day: date
    windows: tuple[TimeWindow, ...] = ()

    @property
    def closed(self) -> bool:
        return not self.windows


@dataclass(frozen=True, kw_only=True, slots=True)
class Schedule:
    name: str
    timezone: str
    windows: tuple[WeeklyWindow, ...]
    exceptions: tuple[ScheduleException, ...] = ()

    def __post_init__(self) -> None:
        _check_name("schedule.name", self.name)
        check_schedule(self)
        check_schedule(self)


def _secs(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _window_range(day: int, w: TimeWindow) -> tuple[int, int]:
    """Seconds since Monday 00:00 (or since the date's 00:00 for day=0)."""
    start = day * _DAY_S + _secs(w.start)
    if w.until_midnight:
        end = (day + 1) * _DAY_S
    elif w.crosses_midnight:
        end = (day + 1) * _DAY_S + _secs(w.end)
    else:
        end = day * _DAY_S + _secs(w.end)
    return start, end


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def check_weekly(windows: Sequence[WeeklyWindow], field: str = "schedule.windows") -> None:
    """Weekly windows must not overlap: on one day, nor a window crossing midnight with
    the next day's windows (Sunday's with Monday's)."""
    if not isinstance(windows, (tuple, list)):
        raise ValidationError(field, windows, "a sequence of weekly windows")
    for i, w in enumerate(windows):
        if not isinstance(w, WeeklyWindow):
            raise ValidationError(f"{field}[{i}]", w, "a WeeklyWindow (day and window)")
    ranges = [_window_range(w.day, w.window) for w in windows]
    for i in range(len(windows)):
        for j in range(i + 1, len(windows)):
            a, b = ranges[i], ranges[j]
            if _overlap(a, b) or _overlap(a, (b[0] + _WEEK_S, b[1] + _WEEK_S)) or _overlap(
                (a[0] + _WEEK_S, a[1] + _WEEK_S), b
            ):
                wa, wb = windows[i], windows[j]
                days = DAY_NAMES[wa.day] if wa.day == wb.day else f"{DAY_NAMES[wa.day]}/{DAY_NAMES[wb.day]}"
                raise ValidationError(
                    field,
                    f"{DAY_NAMES[wa.day]} {format_window(wa.window)} and {DAY_NAMES[wb.day]} {format_window(wb.window)}",
                    f"open windows must not overlap (on {days})",
                )


def check_exception(exc: object, index: int) -> None:
    field = f"schedule.exceptions[{index}]"
    if not isinstance(exc, ScheduleException):
        raise ValidationError(field, exc, "a ScheduleException (date and windows)")
    if not isinstance(exc.day, date) or isinstance(exc.day, datetime):
        raise ValidationError(f"{field}.day", exc.day, "a date (YYYY-MM-DD)")
    windows = exc.windows
    if not isinstance(windows, (tuple, list)):
        raise ValidationError(f"{field}.windows", windows, "a sequence of time windows")
    for i, w in enumerate(windows):
        if not isinstance(w, TimeWindow):
            raise ValidationError(f"{field}.windows[{i}]", w, "a time window")
    ranges = [_window_range(0, w) for w in windows]
    for i in range(len(windows)):
        for j in range(i + 1, len(windows)):
            if _overlap(ranges[i], ranges[j]):
                raise ValidationError(
                    f"{field}.windows",
                    f"{exc.day.isoformat()} {format_window(windows[i])} and {format_window(windows[j])}",
                    f"open windows must not overlap (on {exc.day.isoformat()})",
                )


def check_schedule(schedule: Schedule) -> None:
    """Validate a schedule on construction (called by Schedule.__post_init__)."""
    zone(schedule.timezone)
    check_weekly(schedule.windows)
    exceptions = schedule.exceptions
    if not isinstance(exceptions, (tuple, list)):
        raise ValidationError("schedule.exceptions", exceptions, "a sequence of exception dates")
    seen: set[date] = set()
    for i, exc in enumerate(exceptions):
        check_exception(exc, i)
        if exc.day in seen:
            raise ValidationError(f"schedule.exceptions[{i}].day", exc.day.isoformat(), "each date at most once")
        seen.add(exc.day)
    if not schedule.windows and not any(e.windows for e in exceptions):
        raise ValidationError(
            "schedule.windows", (), "at least one weekly window or one exception date that opens"
        )


# --- formatting used in error messages (the text form lives in schedule_text) ---------


def _format_time(t: time, *, end: bool) -> str:
    if end and t == time(0, 0):
        return "24:00"
    return f"{t:%H:%M:%S}" if t.second else f"{t:%H:%M}"


def format_window(w: TimeWindow) -> str:
    return f"{_format_time(w.start, end=False)}-{_format_time(w.end, end=True)}"
