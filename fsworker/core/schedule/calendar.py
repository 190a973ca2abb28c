"""Schedules: weekly open windows in an IANA time zone, plus exception dates (R7).

Rules: pure functions of (schedule, instant); no I/O, no clock. Instants are
timezone-aware datetimes; local wall time is resolved with zoneinfo, so DST gaps and
folds are handled by the library, not by arithmetic on offsets.

Semantics (tests in tests/unit/test_schedule.py pin each one):
- A local date's windows are its exception's windows if the date is an exception
  (none = closed), otherwise the weekly windows of its weekday.
- A window belongs to the date it starts on. ``end`` 00:00 means 24:00; a window with
  end < start crosses midnight and ends on the next date, even if that next date is
  an exception (the exception governs only windows that *start* on it).
- Windows are converted to real instants and compared in UTC:
  * a wall time inside a DST gap (spring forward) is the instant the clocks jump, so
    a window lying wholly in the gap (02:00-03:00 in Berlin on the last Sunday of
    March) is empty that day, and 01:00-02:30 closes at 03:00 local;
  * an ambiguous wall time (autumn fold) is its first occurrence (fold=0), so a
    window 02:00-03:00 on the fold day is open two real hours.
- The text form (``"mon-fri 09:00-18:00; sat 10:00-14:00"``, ``"2026-12-31 closed"``)
  lives in fsworker.core.schedule.text; the values and their checks in values.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fsworker.core.errors import ValidationError
from fsworker.core.schedule.values import Schedule, ScheduleException, TimeWindow, zone

log = logging.getLogger(__name__)

HORIZON_DAYS = 400  #: next_open gives up (returns None) after this many days
_DAY = timedelta(days=1)


# --- wall time -> instants -------------------------------------------------------


def local_to_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall time ``at`` on ``day`` in ``tz`` (see module rules for
    gaps and folds)."""
    naive = datetime.combine(day, at.replace(tzinfo=None))
    utc = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) == naive:
        return utc
    return _gap_end(naive, tz)


def _gap_end(naive: datetime, tz: ZoneInfo) -> datetime:
    """``naive`` does not exist (DST gap): the first instant whose wall time is past it,
    i.e. the moment the clocks jumped. Binary search to the second; gaps are short."""
    a = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    b = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    lo, hi = int(min(a, b).timestamp()), int(max(a, b).timestamp())  # wall(lo) < naive < wall(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) > naive:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _require_aware(instant: datetime) -> None:
    if not isinstance(instant, datetime) or instant.tzinfo is None:
        raise ValidationError("instant", instant, "a timezone-aware datetime")


def _exception_map(schedule: Schedule) -> dict[date, ScheduleException]:
    return {e.day: e for e in schedule.exceptions}


def day_windows(schedule: Schedule, day: date, exceptions: dict | None = None) -> tuple[TimeWindow, ...]:
    """The windows that start on local ``day``."""
    exc = (exceptions if exceptions is not None else _exception_map(schedule)).get(day)
    if exc is not None:
        return tuple(exc.windows)
    wd = day.weekday()
    return tuple(w.window for w in schedule.windows if w.day == wd)


def _spans(schedule: Schedule, first: date, days: int, tz: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
    """Non-empty [start, end) instants of the windows starting on each of ``days``
    local dates from ``first``, in order of start."""
    exceptions = _exception_map(schedule)
    for i in range(days):
        day = first + timedelta(days=i)
        spans = []
        for w in day_windows(schedule, day, exceptions):
            start = local_to_instant(day, w.start, tz)
            end_day = day + _DAY if (w.until_midnight or w.crosses_midnight) else day
            end = local_to_instant(end_day, w.end, tz)
            if start < end:  # a window wholly inside a DST gap is empty
                spans.append((start, end))
        yield from sorted(spans)


def is_open(schedule: Schedule, instant: datetime) -> bool:
    """Is ``instant`` inside one of the schedule's open windows?"""
    return _containing(schedule, instant) is not None


def _containing(schedule: Schedule, instant: datetime) -> tuple[datetime, datetime] | None:
    _require_aware(instant)
    tz = zone(schedule.timezone)
    local_day = instant.astimezone(tz).date()
    best = None
    # a window that started yesterday may still be open (crossing midnight)
    for start, end in _spans(schedule, local_day - _DAY, 2, tz):
        if start <= instant < end and (best is None or end > best[1]):
            best = (start, end)
    return best


def next_open(schedule: Schedule, instant: datetime, horizon_days: int = HORIZON_DAYS) -> datetime | None:
    """``instant`` itself if the schedule is open then, else the start of the next open
    window; None if it does not open within ``horizon_days``."""
    if is_open(schedule, instant):
        return instant
    tz = zone(schedule.timezone)
    local_day = instant.astimezone(tz).date()
    for start, _end in _spans(schedule, local_day - _DAY, horizon_days + 2, tz):
        if start > instant:
            return start
    return None


def window_end(schedule: Schedule, instant: datetime, horizon_days: int = HORIZON_DAYS) -> datetime | None:
    """When the open period containing ``instant`` ends (adjacent windows, such as
    mon 22:00-24:00 and tue 00:00-06:00, count as one period); None if closed now.
    A schedule open without a break past the horizon returns the horizon."""
    span = _containing(schedule, instant)
    if span is None:
        return None
    limit = instant + timedelta(days=horizon_days)
    end = span[1]
    while end < limit:
        nxt = _containing(schedule, end)
        if nxt is None:
            break
        end = nxt[1]
    return min(end, limit)


# --- validation ---------------------------------------------------------------------


