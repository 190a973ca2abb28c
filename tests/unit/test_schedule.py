"""Schedules (R7): weekly windows in a time zone, exceptions, midnight, DST, text form.

The machine runs in UTC; every schedule here is in another zone on purpose.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from fsworker.core.errors import ValidationError
from fsworker.core.model import Schedule, ScheduleException, TimeWindow, WeeklyWindow
from fsworker.core.schedule import (
    format_exception,
    format_exceptions,
    format_weekly,
    is_open,
    local_to_instant,
    next_open,
    parse_exception,
    parse_exceptions,
    parse_weekly,
    window_end,
)

MSK = ZoneInfo("Europe/Moscow")
BER = ZoneInfo("Europe/Berlin")
NYC = ZoneInfo("America/New_York")
IST = ZoneInfo("Asia/Kolkata")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def sched(weekly: str, tz: str = "Europe/Moscow", exceptions: str = "", name: str = "s") -> Schedule:
    return Schedule(name=name, timezone=tz, windows=parse_weekly(weekly), exceptions=parse_exceptions(exceptions))


# --- weekly windows in a zone other than the server's ---------------------------------


def test_r7_weekly_window_in_moscow_not_server_utc() -> None:
    s = sched("mon-fri 09:00-18:00")
    # Tue 2026-12-01 09:00 MSK = 06:00 UTC
    assert not is_open(s, utc(2026, 12, 1, 5, 59))
    assert is_open(s, utc(2026, 12, 1, 6, 0))
    assert is_open(s, utc(2026, 12, 1, 14, 59))
    assert not is_open(s, utc(2026, 12, 1, 15, 0)), "end is exclusive"
    assert next_open(s, utc(2026, 12, 1, 3, 0)) == utc(2026, 12, 1, 6, 0)


def test_r7_next_open_returns_instant_itself_when_open() -> None:
    s = sched("mon-fri 09:00-18:00")
    t = utc(2026, 12, 1, 10, 17, 33)
    assert next_open(s, t) == t


def test_r7_next_open_skips_weekend() -> None:
    s = sched("mon-fri 09:00-18:00")
    # Fri 2026-12-04 19:00 MSK -> Mon 2026-12-07 09:00 MSK
    assert next_open(s, utc(2026, 12, 4, 16, 0)) == datetime(2026, 12, 7, 9, 0, tzinfo=MSK)


def test_r7_kolkata_half_hour_offset() -> None:
    s = sched("daily 10:00-11:00", tz="Asia/Kolkata")
    # 10:00 IST = 04:30 UTC
    assert next_open(s, utc(2026, 6, 1, 0, 0)) == utc(2026, 6, 1, 4, 30)
    assert is_open(s, datetime(2026, 6, 1, 10, 59, tzinfo=IST))
    assert not is_open(s, datetime(2026, 6, 1, 11, 0, tzinfo=IST))


def test_r7_same_instant_open_in_one_zone_closed_in_another() -> None:
    t = utc(2026, 12, 1, 7, 0)  # 10:00 in Moscow, 02:00 in New York
    assert is_open(sched("daily 09:00-18:00", tz="Europe/Moscow"), t)
    assert not is_open(sched("daily 09:00-18:00", tz="America/New_York"), t)


# --- midnight --------------------------------------------------------------------------


def test_r7_window_crossing_midnight_belongs_to_start_day() -> None:
    s = sched("fri 22:00-06:00")
    assert is_open(s, datetime(2026, 12, 4, 23, 0, tzinfo=MSK))  # Fri night
    assert is_open(s, datetime(2026, 12, 5, 5, 59, tzinfo=MSK))  # Sat early morning
    assert not is_open(s, datetime(2026, 12, 5, 6, 0, tzinfo=MSK))
    assert not is_open(s, datetime(2026, 12, 5, 23, 0, tzinfo=MSK)), "Sat night: no window starts on Sat"
    assert not is_open(s, datetime(2026, 12, 4, 5, 0, tzinfo=MSK)), "Fri morning belongs to Thu"


def test_r7_sunday_night_window_wraps_into_monday() -> None:
    s = sched("sun 23:00-01:00")
    assert is_open(s, datetime(2026, 12, 7, 0, 30, tzinfo=MSK))  # Mon 00:30


def test_r7_end_midnight_means_end_of_day() -> None:
    s = sched("mon 18:00-24:00")
    w = s.windows[0].window
    assert w.end == time(0, 0) and w.until_midnight
    assert is_open(s, datetime(2026, 11, 30, 23, 59, tzinfo=MSK))
    assert not is_open(s, datetime(2026, 12, 1, 0, 0, tzinfo=MSK))
    assert not is_open(s, datetime(2026, 11, 30, 17, 0, tzinfo=MSK))


def test_r7_whole_day_window() -> None:
    s = sched("sat 00:00-24:00")
    assert is_open(s, datetime(2026, 12, 5, 0, 0, tzinfo=MSK))
    assert is_open(s, datetime(2026, 12, 5, 23, 59, 59, tzinfo=MSK))
    assert not is_open(s, datetime(2026, 12, 6, 0, 0, tzinfo=MSK))


def test_r7_window_end_joins_adjacent_windows_across_midnight() -> None:
    s = sched("mon 20:00-24:00; tue 00:00-06:00")
    assert window_end(s, datetime(2026, 11, 30, 21, 0, tzinfo=MSK)) == datetime(2026, 12, 1, 6, 0, tzinfo=MSK)
    assert window_end(s, datetime(2026, 11, 30, 19, 0, tzinfo=MSK)) is None


# --- exceptions (holidays, working Saturdays) ------------------------------------------


def test_r7_holiday_closes_a_weekday() -> None:
    s = sched("mon-fri 09:00-18:00", exceptions="2026-12-31 closed; 2027-01-01 closed")
    assert not is_open(s, datetime(2026, 12, 31, 12, 0, tzinfo=MSK))
    # Thu 31 Dec 08:00 -> Mon 4 Jan 09:00 (Fri 1 Jan closed, weekend)
    assert next_open(s, datetime(2026, 12, 31, 8, 0, tzinfo=MSK)) == datetime(2027, 1, 4, 9, 0, tzinfo=MSK)
    # the day before is a normal day
    assert is_open(s, datetime(2026, 12, 30, 12, 0, tzinfo=MSK))


def test_r7_exception_opens_a_saturday_with_its_own_windows() -> None:
    s = sched("mon-fri 09:00-18:00", exceptions="2027-01-09 10:00-16:00")
    assert is_open(s, datetime(2027, 1, 9, 10, 0, tzinfo=MSK))
    assert not is_open(s, datetime(2027, 1, 9, 9, 30, tzinfo=MSK))
    assert not is_open(s, datetime(2027, 1, 16, 12, 0, tzinfo=MSK)), "only that Saturday"
    assert next_open(s, datetime(2027, 1, 8, 19, 0, tzinfo=MSK)) == datetime(2027, 1, 9, 10, 0, tzinfo=MSK)


def test_r7_exception_replaces_the_days_weekly_windows() -> None:
    s = sched("mon-fri 09:00-18:00", exceptions="2026-12-31 09:00-13:00")
    assert is_open(s, datetime(2026, 12, 31, 12, 0, tzinfo=MSK))
    assert not is_open(s, datetime(2026, 12, 31, 15, 0, tzinfo=MSK))


def test_r7_night_window_of_previous_day_runs_into_a_closed_exception_day() -> None:
    # the window belongs to the day it starts on; the holiday governs its own starts only
    s = sched("wed 22:00-06:00", exceptions="2026-12-31 closed")
    assert is_open(s, datetime(2026, 12, 31, 3, 0, tzinfo=MSK))


def test_r7_schedule_that_never_opens_again_gives_none() -> None:
    s = Schedule(name="once", timezone="Europe/Moscow", windows=(), exceptions=parse_exceptions("2026-01-10 10:00-12:00"))
    assert next_open(s, utc(2026, 12, 1)) is None
    assert next_open(s, utc(2026, 1, 1)) == datetime(2026, 1, 10, 10, 0, tzinfo=MSK)


# --- DST -------------------------------------------------------------------------------


def test_r7_dst_spring_forward_window_inside_gap_is_closed_that_day() -> None:
    # Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:00-03:00 does not exist
    s = sched("daily 02:00-03:00", tz="Europe/Berlin")
    assert not is_open(s, utc(2026, 3, 29, 1, 0))
    assert next_open(s, utc(2026, 3, 28, 23, 0)) == datetime(2026, 3, 30, 2, 0, tzinfo=BER)
    # the day before and after work normally
    assert is_open(s, datetime(2026, 3, 28, 2, 30, tzinfo=BER))
    assert is_open(s, datetime(2026, 3, 30, 2, 30, tzinfo=BER))


def test_r7_dst_spring_forward_edge_in_gap_is_the_jump() -> None:
    # a window starting in the gap opens when the clocks jump; ending in it, closes then
    jump = utc(2026, 3, 29, 1, 0)  # 03:00 CEST
    assert local_to_instant(date(2026, 3, 29), time(2, 30), BER) == jump
    s = sched("sun 01:00-02:30", tz="Europe/Berlin")
    assert is_open(s, jump - timedelta(seconds=1))
    assert not is_open(s, jump)
    late = sched("sun 02:30-04:00", tz="Europe/Berlin")
    assert next_open(late, utc(2026, 3, 28, 23, 0)) == jump


def test_r7_dst_spring_forward_new_york_working_day_keeps_wall_times() -> None:
    s = sched("daily 09:00-17:00", tz="America/New_York")
    # Sat 2026-03-07 09:00 EST = 14:00 UTC, Sun 2026-03-08 09:00 EDT = 13:00 UTC
    assert next_open(s, utc(2026, 3, 7, 0, 0)) == utc(2026, 3, 7, 14, 0)
    assert next_open(s, utc(2026, 3, 7, 23, 0)) == utc(2026, 3, 8, 13, 0)


def test_r7_dst_autumn_fold_window_is_open_both_passes() -> None:
    # Berlin 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:00-03:00 happens twice
    s = sched("sun 02:00-03:00", tz="Europe/Berlin")
    assert is_open(s, utc(2026, 10, 25, 0, 0))  # 02:00 CEST, first pass
    assert is_open(s, utc(2026, 10, 25, 1, 30))  # 02:30 CET, second pass
    assert not is_open(s, utc(2026, 10, 25, 2, 0))  # 03:00 CET
    assert window_end(s, utc(2026, 10, 25, 0, 0)) == utc(2026, 10, 25, 2, 0)


def test_r7_dst_autumn_fold_ambiguous_edge_is_first_occurrence() -> None:
    # New York 2026-11-01: 01:00-02:00 happens twice; a start at 01:30 is the first one (EDT)
    s = sched("sun 01:30-04:00", tz="America/New_York")
    assert next_open(s, utc(2026, 11, 1, 0, 0)) == utc(2026, 11, 1, 5, 30)


# --- validation (check_schedule) --------------------------------------------------------


def test_unknown_time_zone_is_rejected_naming_field_and_value() -> None:
    with pytest.raises(ValidationError) as ei:
        sched("mon 09:00-18:00", tz="Europe/Atlantis")
    assert ei.value.field == "schedule.timezone"
    assert ei.value.value == "Europe/Atlantis"
    assert "IANA" in ei.value.limit


def test_overlapping_windows_same_day_rejected_naming_day_and_windows() -> None:
    windows = (
        WeeklyWindow(day=0, window=TimeWindow(start=time(9), end=time(13))),
        WeeklyWindow(day=0, window=TimeWindow(start=time(12), end=time(18))),
    )
    with pytest.raises(ValidationError) as ei:
        Schedule(name="s", timezone="Europe/Moscow", windows=windows)
    err = ei.value
    assert err.field == "schedule.windows"
    assert "09:00-13:00" in err.value and "12:00-18:00" in err.value
    assert "overlap" in err.limit and "mon" in err.limit


def test_overlapping_night_window_with_next_morning_rejected() -> None:
    with pytest.raises(ValidationError, match="sun"):
        parse_weekly("sun 22:00-06:00; mon 05:00-09:00")


def test_adjacent_windows_are_not_overlapping() -> None:
    s = sched("mon 09:00-13:00, 13:00-18:00")
    assert is_open(s, datetime(2026, 11, 30, 13, 0, tzinfo=MSK))
    assert window_end(s, datetime(2026, 11, 30, 10, 0, tzinfo=MSK)) == datetime(2026, 11, 30, 18, 0, tzinfo=MSK)


def test_duplicate_exception_dates_rejected() -> None:
    with pytest.raises(ValidationError) as ei:
        Schedule(
            name="s",
            timezone="Europe/Moscow",
            windows=parse_weekly("mon 09:00-10:00"),
            exceptions=(ScheduleException(day=date(2026, 12, 31)), ScheduleException(day=date(2026, 12, 31))),
        )
    assert ei.value.field == "schedule.exceptions[1].day"
    assert ei.value.value == "2026-12-31"


def test_overlapping_exception_windows_rejected() -> None:
    with pytest.raises(ValidationError, match="2027-01-09"):
        parse_exception("2027-01-09 10:00-16:00, 15:00-17:00")


def test_schedule_that_never_opens_is_rejected() -> None:
    with pytest.raises(ValidationError) as ei:
        Schedule(name="s", timezone="Europe/Moscow", windows=(), exceptions=parse_exceptions("2026-12-31 closed"))
    assert ei.value.field == "schedule.windows"
    assert "at least one" in ei.value.limit


# --- text form ---------------------------------------------------------------------------


def test_parse_weekly_basic() -> None:
    ws = parse_weekly("mon-fri 09:00-18:00; sat 10:00-14:00")
    assert [w.day for w in ws] == [0, 1, 2, 3, 4, 5]
    assert ws[0].window == TimeWindow(start=time(9), end=time(18))
    assert ws[5].window == TimeWindow(start=time(10), end=time(14))


def test_parse_weekly_lists_wrapping_ranges_spaces_and_closed() -> None:
    ws = parse_weekly("Mon, Wed 9:00 - 12:00, 13:00-18:00 ; fri-sun 22:00-02:00; tue closed")
    assert {(w.day, w.window.start) for w in ws} == {
        (0, time(9)), (0, time(13)), (2, time(9)), (2, time(13)), (4, time(22)), (5, time(22)), (6, time(22)),
    }


@pytest.mark.parametrize(
    "text",
    [
        "mon-fri 09:00-18:00; sat 10:00-14:00",
        "mon 09:00-13:00, 14:00-18:00; tue-thu 09:00-18:00; sun 22:00-02:00",
        "sat 00:00-24:00",
        "mon 18:00-24:00; wed 09:30-10:45",
        "",
    ],
)
def test_weekly_text_round_trip(text: str) -> None:
    parsed = parse_weekly(text)
    assert format_weekly(parsed) == text
    assert parse_weekly(format_weekly(parsed)) == parsed


def test_format_weekly_groups_consecutive_days_only() -> None:
    assert format_weekly(parse_weekly("mon,wed 09:00-10:00")) == "mon 09:00-10:00; wed 09:00-10:00"


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("mon-fry 09:00-18:00", "fry"),
        ("mon 9-18", "9"),
        ("mon 25:00-26:00", "25:00"),
        ("mon 09:00-18:61", "18:61"),
        ("mon 24:00-10:00", "24:00"),
        ("mon-fri", "mon-fri"),
        ("mon 09:00-09:00", "09:00-09:00"),
    ],
)
def test_parse_weekly_errors_name_the_offending_part(text: str, bad: str) -> None:
    with pytest.raises(ValidationError) as ei:
        parse_weekly(text)
    assert ei.value.field == "schedule.windows"
    assert ei.value.value == bad


def test_parse_exception_forms_and_round_trip() -> None:
    closed = parse_exception("2026-12-31 closed")
    assert closed.day == date(2026, 12, 31) and closed.closed
    opened = parse_exception("2027-01-09 10:00-16:00")
    assert opened.windows == (TimeWindow(start=time(10), end=time(16)),)
    for text in ("2026-12-31 closed", "2027-01-09 10:00-16:00", "2027-01-10 09:00-12:00, 13:00-15:00"):
        assert format_exception(parse_exception(text)) == text
    many = "2026-12-31 closed; 2027-01-09 10:00-16:00"
    assert format_exceptions(parse_exceptions(many)) == many


@pytest.mark.parametrize(
    ("text", "bad"),
    [("2026-13-01 closed", "2026-13-01"), ("31.12.2026 closed", "31.12.2026"), ("2026-12-31", "2026-12-31"),
     ("2026-12-31 10:00-xx", "xx")],
)
def test_parse_exception_errors_name_the_offending_part(text: str, bad: str) -> None:
    with pytest.raises(ValidationError) as ei:
        parse_exception(text)
    assert ei.value.value == bad


def test_parse_exceptions_rejects_duplicate_dates() -> None:
    with pytest.raises(ValidationError, match="2026-12-31"):
        parse_exceptions("2026-12-31 closed; 2026-12-31 10:00-12:00")
