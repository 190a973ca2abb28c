"""Schedules (R7): values and their checks (values), open/next-open computations over
time (calendar), and the compact text form (text).

Rules: pure; no I/O, no clock. Dependencies run values <- calendar, values <- text;
this package only gathers their public names.
"""

from fsworker.core.schedule.calendar import (
    HORIZON_DAYS,
    day_windows,
    is_open,
    local_to_instant,
    next_open,
    window_end,
)
from fsworker.core.schedule.text import (
    EXCEPTION_FORM,
    WEEKLY_FORM,
    format_exception,
    format_exceptions,
    format_weekly,
    parse_exception,
    parse_exceptions,
    parse_weekly,
    parse_window,
)
from fsworker.core.schedule.values import (
    DAY_NAMES,
    WEEKDAYS,
    Schedule,
    ScheduleException,
    TimeWindow,
    WeeklyWindow,
    check_exception,
    check_schedule,
    check_weekly,
    format_window,
    zone,
)

__all__ = [
    "DAY_NAMES", "EXCEPTION_FORM", "HORIZON_DAYS", "WEEKDAYS", "WEEKLY_FORM", "Schedule",
    "ScheduleException", "TimeWindow", "WeeklyWindow", "check_exception", "check_schedule",
    "check_weekly", "day_windows", "format_exception", "format_exceptions", "format_weekly",
    "format_window", "is_open", "local_to_instant", "next_open", "parse_exception",
    "parse_exceptions", "parse_weekly", "parse_window", "window_end", "zone",
]
