"""The domain model validates itself on construction (R4, R8, R9, R10, D5).

Each error must name the field, the offending value and the limit.
"""

from __future__ import annotations

from datetime import time

import pytest

from fsworker.core.calls import LossPlace
from fsworker.core.errors import InvalidNumberError, ValidationError
from fsworker.core.model import (
    BlacklistEntry,
    Campaign,
    Employee,
    Group,
    Hint,
    HintKind,
    Rule,
    StrategyKind,
    TimeWindow,
    VirtualNumber,
)


def rule(**kw: object) -> Rule:
    base: dict[str, object] = {"name": "r", "strategy": StrategyKind.GROUP, "target": "sales"}
    base.update(kw)
    return Rule(**base)  # type: ignore[arg-type]


def test_r4_rule_carries_every_field() -> None:
    r = Rule(
        name="after hours",
        place=LossPlace.NUMBER,
        place_value="+74950000001",
        strategy=StrategyKind.EMPLOYEE,
        target="secretary",
        hint=Hint(kind=HintKind.TEXT, text="Перезвон: {{ site }}"),
        callback_schedule="work",
        applies_schedule="night",
        intervals=(60, 300, 900),
        min_wait_s=10,
        max_concurrent=3,
        enabled=False,
        position=7,
    )
    assert (r.place, r.place_value, r.strategy, r.target) == (
        LossPlace.NUMBER, "+74950000001", StrategyKind.EMPLOYEE, "secretary",
    )
    assert (r.callback_schedule, r.applies_schedule, r.intervals) == ("work", "night", (60, 300, 900))
    assert (r.min_wait_s, r.max_concurrent, r.enabled, r.position) == (10, 3, False, 7)
    assert r.hint.kind is HintKind.TEXT


def test_r8_five_intervals_allowed_six_rejected() -> None:
    assert len(rule(intervals=(0, 60, 60, 60, 60)).intervals) == 5
    with pytest.raises(ValidationError) as ei:
        rule(intervals=(0, 60, 60, 60, 60, 60))
    assert ei.value.field == "rule.intervals"
    assert ei.value.value == (0, 60, 60, 60, 60, 60)
    assert "1 to 5" in ei.value.limit


def test_r8_no_interval_rejected() -> None:
    with pytest.raises(ValidationError, match="rule.intervals"):
        rule(intervals=())


def test_r8_negative_interval_rejected() -> None:
    with pytest.raises(ValidationError) as ei:
        rule(intervals=(0, -5))
    assert ei.value.field == "rule.intervals[1]"
    assert ei.value.value == -5
    assert "0.." in ei.value.limit


@pytest.mark.parametrize("wait", [0, 30, 60])
def test_r9_min_wait_within_0_to_60(wait: int) -> None:
    assert rule(min_wait_s=wait).min_wait_s == wait


@pytest.mark.parametrize("wait", [61, -1])
def test_r9_min_wait_out_of_range_rejected(wait: int) -> None:
    with pytest.raises(ValidationError) as ei:
        rule(min_wait_s=wait)
    assert ei.value.field == "rule.min_wait_s"
    assert ei.value.value == wait
    assert "0..60" in ei.value.limit


def test_r9_any_min_wait_on_transfer_rule_rejected() -> None:
    assert rule(place=LossPlace.TRANSFER).min_wait_s == 0
    with pytest.raises(ValidationError) as ei:
        rule(place=LossPlace.TRANSFER, min_wait_s=1)
    assert ei.value.field == "rule.min_wait_s"
    assert ei.value.value == 1
    assert "transfer" in ei.value.limit


@pytest.mark.parametrize("cap", [1, 5])
def test_r10_cap_limits_accepted(cap: int) -> None:
    assert rule(max_concurrent=cap).max_concurrent == cap


@pytest.mark.parametrize("cap", [0, 6])
def test_r10_cap_0_or_6_rejected(cap: int) -> None:
    with pytest.raises(ValidationError) as ei:
        rule(max_concurrent=cap)
    assert ei.value.field == "rule.max_concurrent"
    assert ei.value.value == cap
    assert "1..5" in ei.value.limit


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_rule_name_rejected(name: str) -> None:
    with pytest.raises(ValidationError) as ei:
        rule(name=name)
    assert ei.value.field == "rule.name"
    assert ei.value.value == name


def test_d5_number_with_letters_rejected_everywhere() -> None:
    with pytest.raises(InvalidNumberError) as ei:
        rule(strategy=StrategyKind.NUMBER, target="+7495abc")
    assert (ei.value.field, ei.value.value) == ("rule.target", "+7495abc")
    assert "digits" in ei.value.limit
    with pytest.raises(InvalidNumberError):
        rule(place=LossPlace.NUMBER, place_value="8-800-CALL")
    with pytest.raises(InvalidNumberError):
        VirtualNumber(number="74950O00001")  # a letter O
    with pytest.raises(InvalidNumberError):
        BlacklistEntry(number="anonymous")
    with pytest.raises(InvalidNumberError):
        Campaign(name="promo", target_kind="number", target="1;hangup")


def test_r5_strategy_target_required_or_forbidden() -> None:
    with pytest.raises(ValidationError, match="rule.target"):
        rule(strategy=StrategyKind.GROUP, target=None)
    with pytest.raises(ValidationError, match="rule.target"):
        rule(strategy=StrategyKind.LAST_ATTEMPTED, target="sales")


def test_group_needs_members_and_positive_lines() -> None:
    with pytest.raises(ValidationError, match="group.max_lines"):
        Group(name="g", members=("a",), max_lines=0)
    with pytest.raises(ValidationError, match="group.members"):
        Group(name="g", members=())


def test_endpoint_with_dial_string_syntax_rejected() -> None:
    with pytest.raises(ValidationError, match="employee.endpoints"):
        Employee(name="ann", endpoints=("user/101,user/102",))


def test_time_window_whole_day_allowed_empty_rejected() -> None:
    whole = TimeWindow(start=time(0), end=time(0))
    assert whole.until_midnight and not whole.crosses_midnight
    with pytest.raises(ValidationError, match="start and end must differ"):
        TimeWindow(start=time(9), end=time(9))


def test_endpoint_with_the_enterprise_originate_separator_is_refused() -> None:
    import pytest

    from fsworker.core.errors import ValidationError
    from fsworker.core.numbers import validate_endpoint

    with pytest.raises(ValidationError, match="':_:'"):
        validate_endpoint("user/1:_:sofia/gateway/x/900", "employee.endpoints[0]")
