"""``--since`` / ``--until`` values: spans back from now, dates and times in the display zone."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fsworker.cli import common
from fsworker.cli.timeopts import parse_moment
from fsworker.core.errors import ValidationError

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def utc() -> None:
    common.remember_options(argparse.Namespace(config=None, db=None, utc=True))


@pytest.mark.parametrize("text,back", [("30m", timedelta(minutes=30)), ("24h", timedelta(hours=24)),
                                       ("7d", timedelta(days=7)), ("2w", timedelta(weeks=2)),
                                       ("90s", timedelta(seconds=90))])
def test_spans_count_back_from_now(text: str, back: timedelta) -> None:
    assert parse_moment(text, "since", now=NOW) == NOW - back


def test_dates_and_times_without_offset_are_in_the_display_zone() -> None:
    assert parse_moment("2026-12-01", "since", now=NOW) == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_moment("2026-12-01T09:30", "since", now=NOW) == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    at = parse_moment("2026-12-01T09:30+03:00", "since", now=NOW)
    assert at == datetime(2026, 12, 1, 9, 30, tzinfo=ZoneInfo("Europe/Moscow"))


@pytest.mark.parametrize("text", ["yesterday", "24", "h", "-1h", "2026-12-32"])
def test_other_text_is_refused_naming_the_option_and_the_forms(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_moment(text, "until", now=NOW)
    assert str(caught.value).startswith(f"until: {text!r} is invalid: a span back from now such as 30m")
