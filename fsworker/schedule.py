"""Schedules: weekly open windows in an IANA time zone, plus exception dates (R7).

Rules: pure functions of (schedule, instant); no I/O, no clock. Instants are
timezone-aware datetimes; local wall time is resolved with zoneinfo, so DST gaps and
folds are handled by the library, not by arithmetic on offsets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fsworker.errors import ValidationError

if TYPE_CHECKING:
    from fsworker.model import Schedule


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("schedule.timezone", name, "an IANA time zone such as Europe/Moscow") from None


def check_schedule(schedule: "Schedule") -> None:
    """Validate a schedule on construction (called by Schedule.__post_init__)."""
    zone(schedule.timezone)
