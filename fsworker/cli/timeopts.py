"""Time options of the CLI (``--since 24h``, ``--until 2026-12-01``): parsing only.

Rules: a moment is either a span back from now (``90m``, ``24h``, ``7d``, ``2w``) or an
ISO date / date-time; one without an offset is in the display zone (``[display]
timezone``, the machine's zone, or UTC with ``--utc``), the zone the operator reads
times in. Bad input names the option, the value and the accepted forms.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from fsworker.cli.common import display_zone
from fsworker.core.errors import ValidationError

_SPAN_RE = re.compile(r"(\d{1,6})\s*([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
FORMS = "a span back from now such as 30m, 24h, 7d, 2w, or a date / time such as 2026-12-01 or 2026-12-01T09:00"


def parse_moment(text: str, option: str, *, now: datetime | None = None) -> datetime:
    """``--since`` / ``--until`` value -> an aware instant."""
    now = now or datetime.now(UTC)
    value = text.strip()
    span = _SPAN_RE.fullmatch(value)
    if span:
        return now - timedelta(seconds=int(span.group(1)) * _UNIT_S[span.group(2)])
    try:
        at = datetime.combine(date.fromisoformat(value), datetime.min.time()) if len(value) == 10 \
            else datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(option, text, FORMS) from None
    if at.tzinfo is None:
        zone = display_zone()
        at = at.replace(tzinfo=zone) if zone is not None else at.astimezone()
    return at
