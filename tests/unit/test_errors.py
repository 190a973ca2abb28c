"""Error messages in the operator's words: field, value as typed, limit; no Python reprs."""

from __future__ import annotations

import enum
from datetime import date

import pytest

from fsworker.core.errors import ValidationError, with_article
from fsworker.core.model import Rule, StrategyKind


class Colour(enum.Enum):
    RED = "red"


@pytest.mark.parametrize("value,shown", [
    (None, "rule.target: not set: a group"),
    ((), "schedule.windows: empty: a group"),
    ("", "x: empty: a group"),
    ((0, 1, 2), "x: 0, 1, 2 is invalid: a group"),
    ("abc", "x: 'abc' is invalid: a group"),
    (Colour.RED, "x: 'red' is invalid: a group"),
    (date(2026, 12, 31), "x: 2026-12-31 is invalid: a group"),
    (True, "x: true is invalid: a group"),
])
def test_values_are_shown_as_an_operator_writes_them(value: object, shown: str) -> None:
    field = shown.split(":", 1)[0]
    assert str(ValidationError(field, value, "a group")) == shown


def test_articles() -> None:
    assert with_article("employee") == "an employee"
    assert with_article("group") == "a group"


def test_a_missing_target_reads_as_english() -> None:
    with pytest.raises(ValidationError) as caught:
        Rule(name="r", strategy=StrategyKind.EMPLOYEE, target=None)
    message = str(caught.value)
    assert message.startswith("rule.target: not set: an employee is required"), message
    assert "None" not in message


@pytest.mark.parametrize("kwargs,field,words", [
    ({"intervals": (0, 1, 2, 3, 4, 5)}, "rule.intervals", "1 to 5 retry intervals"),
    ({"min_wait_s": 61}, "rule.min_wait_s", "0..60 seconds"),
    ({"max_concurrent": 9}, "rule.max_concurrent", "simultaneous calls"),
])
def test_limits_carry_no_requirement_numbers(kwargs: dict, field: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Rule(name="r", strategy=StrategyKind.LAST_ATTEMPTED, **kwargs)
    message = str(caught.value)
    assert message.startswith(f"{field}: ") and words in message
    assert "(R" not in message and "(" not in message.split(":", 1)[1], message
