"""The compact text form of schedules, for config files and the CLI (R7).

Rules: pure parse/format, no I/O. Weekly windows read ``"mon-fri 09:00-18:00; sat
10:00-14:00"``; exceptions read ``"2026-12-31 closed"`` or ``"2027-01-09 10:00-16:00"``.
Bad text raises ValidationError whose value is the offending piece (a day name, a time,
a part) and whose limit quotes the whole part. ``format_*`` write the canonical form,
which the parsers read back to equal objects (round trip).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, time

from fsworker.core.errors import ValidationError
from fsworker.core.schedule.values import (
    DAY_NAMES,
    ScheduleException,
    TimeWindow,
    WeeklyWindow,
    check_exception,
    check_weekly,
    format_window,
)

_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CLOSED = ("closed", "off")
WEEKLY_FORM = "'<days> HH:MM-HH:MM[, HH:MM-HH:MM]' parts separated by ';', e.g. 'mon-fri 09:00-18:00; sat 10:00-14:00'"
EXCEPTION_FORM = "'YYYY-MM-DD closed' or 'YYYY-MM-DD HH:MM-HH:MM[, HH:MM-HH:MM]'"


def _parse_time(text: str, *, end: bool, field: str, context: str) -> time:
    m = _TIME_RE.fullmatch(text)
    if m is None:
        raise ValidationError(field, text, f"a time HH:MM (in {context!r})")
    hh, mm = int(m.group(1)), int(m.group(2))
    if end and hh == 24 and mm == 0:
        return time(0, 0)  # 24:00 = end of day, stored as 00:00 (see TimeWindow)
    if hh > 23 or mm > 59:
        limit = "00:00..23:59, or 24:00 as an end" if end else "00:00..23:59"
        raise ValidationError(field, text, f"{limit} (in {context!r})")
    return time(hh, mm)


def parse_window(text: str, field: str = "schedule.windows", context: str | None = None) -> TimeWindow:
    context = context or text
    pieces = text.split("-")
    if len(pieces) != 2:
        raise ValidationError(field, text, f"a window HH:MM-HH:MM (in {context!r})")
    start = _parse_time(pieces[0].strip(), end=False, field=field, context=context)
    end = _parse_time(pieces[1].strip(), end=True, field=field, context=context)
    try:
        return TimeWindow(start=start, end=end)
    except ValidationError as exc:
        raise ValidationError(field, text, f"{exc.limit} (in {context!r})") from None


def _parse_windows(text: str, field: str, context: str) -> list[TimeWindow]:
    text = re.sub(r"\s*-\s*", "-", text.strip())
    tokens = [t for t in re.split(r"[,\s]+", text) if t]
    if not tokens:
        raise ValidationError(field, context, f"at least one window HH:MM-HH:MM; expected {WEEKLY_FORM}")
    return [parse_window(t, field, context) for t in tokens]


def _day_index(name: str, field: str, context: str) -> int:
    low = name.lower()
    if low in DAY_NAMES:
        return DAY_NAMES.index(low)
    if low in _FULL_DAY_NAMES:
        return _FULL_DAY_NAMES.index(low)
    raise ValidationError(field, name, f"a day mon..sun (in {context!r})")


def _parse_days(text: str, field: str, context: str) -> list[int]:
    if text.lower() in ("daily", "*"):
        return list(range(7))
    days: list[int] = []
    for item in text.split(","):
        if not item:
            raise ValidationError(field, text, f"day names separated by ',' (in {context!r})")
        if "-" in item:
            a, _, b = item.partition("-")
            first, last = _day_index(a, field, context), _day_index(b, field, context)
            # a range may wrap the week end, e.g. fri-mon
            span = (last - first) % 7
            days.extend((first + k) % 7 for k in range(span + 1))
        else:
            days.append(_day_index(item, field, context))
    return days


def parse_weekly(text: str, field: str = "schedule.windows") -> tuple[WeeklyWindow, ...]:
    """``"mon-fri 09:00-18:00; sat 10:00-14:00"`` -> weekly windows sorted by day and
    start. Days: mon..sun (or full names), ranges (``fri-mon`` wraps), lists
    (``mon,wed``), ``daily``; ``sun closed`` adds nothing. Raises ValidationError naming
    the offending part."""
    if not isinstance(text, str):
        raise ValidationError(field, text, f"text of the form {WEEKLY_FORM}")
    out: list[WeeklyWindow] = []
    for raw in re.split(r"[;\n]", text):
        part = raw.strip()
        if not part:
            continue
        norm = re.sub(r"\s*,\s*", ",", re.sub(r"\s*-\s*", "-", part))
        days_text, _, rest = norm.partition(" ")
        if not rest.strip():
            raise ValidationError(field, part, f"days and windows; expected {WEEKLY_FORM}")
        days = _parse_days(days_text, field, part)
        if rest.strip().lower() in _CLOSED:
            continue
        windows = _parse_windows(rest, field, part)
        out.extend(WeeklyWindow(day=d, window=w) for d in days for w in windows)
    out.sort(key=lambda ww: (ww.day, ww.window.start))
    result = tuple(out)
    check_weekly(result, field)
    return result


def parse_exception(text: str, field: str = "schedule.exceptions") -> ScheduleException:
    """``"2026-12-31 closed"`` or ``"2027-01-09 10:00-16:00[, 17:00-18:00]"``."""
    if not isinstance(text, str):
        raise ValidationError(field, text, f"text of the form {EXCEPTION_FORM}")
    part = text.strip()
    day_text, _, rest = part.partition(" ")
    if not _DATE_RE.fullmatch(day_text):
        raise ValidationError(field, day_text or part, f"a date YYYY-MM-DD first; expected {EXCEPTION_FORM}")
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise ValidationError(field, day_text, f"a real calendar date (in {part!r})") from None
    rest = rest.strip()
    if not rest:
        raise ValidationError(field, part, f"'closed' or windows after the date; expected {EXCEPTION_FORM}")
    if rest.lower() in _CLOSED:
        exc = ScheduleException(day=day, windows=())
    else:
        exc = ScheduleException(day=day, windows=tuple(sorted(_parse_windows(rest, field, part), key=lambda w: w.start)))
    check_exception(exc, 0)
    return exc


def parse_exceptions(text: str, field: str = "schedule.exceptions") -> tuple[ScheduleException, ...]:
    """Several exceptions separated by ';' or newlines; dates must be unique."""
    out = [parse_exception(p, field) for p in re.split(r"[;\n]", text or "") if p.strip()]
    seen: set[date] = set()
    for e in out:
        if e.day in seen:
            raise ValidationError(field, e.day.isoformat(), "each date at most once")
        seen.add(e.day)
    return tuple(sorted(out, key=lambda e: e.day))


def _format_windows(windows: Iterable[TimeWindow]) -> str:
    return ", ".join(format_window(w) for w in sorted(windows, key=lambda w: w.start))


def format_weekly(windows: Iterable[WeeklyWindow]) -> str:
    """The canonical text of weekly windows: consecutive days with the same windows
    become a range (``mon-fri``); days without windows are left out."""
    by_day: dict[int, list[TimeWindow]] = {d: [] for d in range(7)}
    for ww in windows:
        by_day[ww.day].append(ww.window)
    texts = [_format_windows(by_day[d]) for d in range(7)]
    parts: list[str] = []
    d = 0
    while d < 7:
        if not texts[d]:
            d += 1
            continue
        last = d
        while last + 1 < 7 and texts[last + 1] == texts[d]:
            last += 1
        days = DAY_NAMES[d] if last == d else f"{DAY_NAMES[d]}-{DAY_NAMES[last]}"
        parts.append(f"{days} {texts[d]}")
        d = last + 1
    return "; ".join(parts)


def format_exception(exc: ScheduleException) -> str:
    if not exc.windows:
        return f"{exc.day.isoformat()} closed"
    return f"{exc.day.isoformat()} {_format_windows(exc.windows)}"


def format_exceptions(exceptions: Iterable[ScheduleException]) -> str:
    return "; ".join(format_exception(e) for e in sorted(exceptions, key=lambda e: e.day))
