"""The rule engine (R3, R7, R9, R11, R12, R14, R16, R17, R18, D1, D5)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fsworker.core.calls import LossPlace, LostCall, TransferKind, TransferPhase
from fsworker.core.catalog import Catalog
from fsworker.core.model import BlacklistEntry, Rule, Schedule, Settings, StrategyKind
from fsworker.core.outcomes import SkipReason
from fsworker.core.rules import (
    Accept,
    IntakeFacts,
    Skip,
    Verdict,
    decide,
    place_matches,
    takeover,
)
from fsworker.core.schedule import parse_weekly

NIGHT = Schedule(name="night", timezone="Europe/Moscow", windows=parse_weekly("daily 18:00-09:00"))
DAY_LOSS = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # Tue 12:00 MSK
NIGHT_LOSS = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # Tue 23:00 MSK


def call(**kw: object) -> LostCall:
    base: dict[str, object] = {
        "call_uuid": "c-1",
        "customer_number": "+79161234567",
        "virtual_number": "+74950000001",
        "lost_at": DAY_LOSS,
        "waited_s": 30.0,
    }
    base.update(kw)
    return LostCall(**base)  # type: ignore[arg-type]


def rule(name: str, position: int, **kw: object) -> Rule:
    base: dict[str, object] = {"name": name, "strategy": StrategyKind.LAST_ATTEMPTED, "position": position}
    base.update(kw)
    return Rule(**base)  # type: ignore[arg-type]


def catalog(*rules: Rule, **kw: object) -> Catalog:
    return Catalog(rules=rules, schedules=(NIGHT,), **kw)  # type: ignore[arg-type]


def accepted(decision: object) -> str:
    assert isinstance(decision, Accept), decision
    assert decision.rule is not None
    return decision.rule.name


def skipped(decision: object) -> SkipReason:
    assert isinstance(decision, Skip), decision
    return decision.reason


CATCH_ALL = rule("catch-all", 100)


def test_accept_by_the_only_matching_rule() -> None:
    d = decide(catalog(CATCH_ALL), call())
    assert accepted(d) == "catch-all"
    assert not d.joins


def test_r11_first_matching_rule_by_position_wins_not_tuple_order() -> None:
    c = catalog(rule("second", 2), rule("first", 1), rule("third", 3))
    d = decide(c, call())
    assert accepted(d) == "first"
    assert [(x.rule, x.verdict) for x in d.considered] == [
        ("first", Verdict.MATCHED), ("second", Verdict.NOT_REACHED), ("third", Verdict.NOT_REACHED),
    ]


def test_r11_moving_a_rule_up_changes_the_winner() -> None:
    a, b = rule("a", 1), rule("b", 2)
    assert accepted(decide(catalog(a, b), call())) == "a"
    assert accepted(decide(catalog(a.evolve(position=3), b), call())) == "b"


def test_r3_many_rules_last_one_matches() -> None:
    rules = [rule(f"r{i}", i, place=LossPlace.SITE, place_value=f"site{i}.example") for i in range(1000)]
    d = decide(catalog(*rules), call(site="site999.example"))
    assert accepted(d) == "r999"
    assert len(d.considered) == 1000


def test_r14_disabled_rule_does_not_match_new_calls() -> None:
    c = catalog(rule("off", 1, enabled=False), rule("on", 2))
    d = decide(c, call())
    assert accepted(d) == "on"
    assert d.considered[0].verdict is Verdict.DISABLED
    assert skipped(decide(catalog(rule("off", 1, enabled=False)), call())) is SkipReason.NO_RULE


@pytest.mark.parametrize(
    ("place", "value", "lost", "matches"),
    [
        (LossPlace.ANY, None, {}, True),
        (LossPlace.NUMBER, "+74950000001", {}, True),
        (LossPlace.NUMBER, "+74950000002", {}, False),
        (LossPlace.SCENARIO, "ivr-main", {"scenario": "ivr-main"}, True),
        (LossPlace.SCENARIO, "ivr-main", {"scenario": "ivr-other"}, False),
        (LossPlace.SCENARIO, "ivr-main", {}, False),
        (LossPlace.SITE, "shop.example.com", {"site": "shop.example.com"}, True),
        (LossPlace.SITE, "shop.example.com", {}, False),
        (LossPlace.TRANSFER, None, {"transfer": TransferPhase(kind=TransferKind.BLIND)}, True),
        (LossPlace.TRANSFER, None, {"place": LossPlace.TRANSFER}, True),
        (LossPlace.TRANSFER, None, {}, False),
    ],
)
def test_r4_loss_place_matching(place: LossPlace, value: str | None, lost: dict, matches: bool) -> None:
    r = rule("r", 1, place=place, place_value=value)
    assert place_matches(r, call(**lost)) is matches
    d = decide(catalog(r), call(**lost))
    assert isinstance(d, Accept) is matches


def test_r7_applies_schedule_matches_time_of_loss() -> None:
    c = catalog(rule("after-hours", 1, applies_schedule="night"), rule("day", 2))
    at_night = decide(c, call(lost_at=NIGHT_LOSS))
    assert accepted(at_night) == "after-hours"
    by_day = decide(c, call(lost_at=DAY_LOSS))
    assert accepted(by_day) == "day"
    assert by_day.considered[0].verdict is Verdict.NOT_APPLICABLE_AT_LOSS


def test_r7_no_rule_when_applies_schedule_closed() -> None:
    d = decide(catalog(rule("after-hours", 1, applies_schedule="night")), call(lost_at=DAY_LOSS))
    assert skipped(d) is SkipReason.NO_RULE


def test_r9_waited_too_little_on_first_matching_rule_skips_without_fall_through() -> None:
    c = catalog(rule("strict", 1, min_wait_s=10), CATCH_ALL)
    d = decide(c, call(waited_s=9.5))
    assert skipped(d) is SkipReason.WAITED_TOO_LITTLE
    assert d.rule is not None and d.rule.name == "strict"
    assert [x.verdict for x in d.considered] == [Verdict.WAITED_TOO_LITTLE, Verdict.NOT_REACHED]


def test_r9_wait_equal_to_minimum_is_enough() -> None:
    assert accepted(decide(catalog(rule("strict", 1, min_wait_s=10)), call(waited_s=10.0))) == "strict"


def test_r9_min_wait_of_a_rule_that_did_not_match_does_not_apply() -> None:
    c = catalog(rule("other-site", 1, place=LossPlace.SITE, place_value="x.example", min_wait_s=60), CATCH_ALL)
    assert accepted(decide(c, call(waited_s=1.0))) == "catch-all"


def test_r9_not_applied_to_call_lost_in_transfer() -> None:
    transfer = TransferPhase(kind=TransferKind.ATTENDED)
    assert accepted(decide(catalog(rule("xfer", 1, place=LossPlace.TRANSFER)), call(transfer=transfer, waited_s=0.0))) == "xfer"
    # a catch-all with a minimum wait still takes a short call lost in a transfer
    assert accepted(decide(catalog(rule("any", 1, min_wait_s=30)), call(transfer=transfer, waited_s=2.0))) == "any"


def test_r16_master_switch_off_skips_first() -> None:
    c = catalog(CATCH_ALL, settings=Settings(enabled=False), blacklist=(BlacklistEntry(number="+79161234567"),))
    d = decide(c, call(), IntakeFacts(open_task=42, ignored=True))
    assert skipped(d) is SkipReason.MASTER_SWITCH_OFF


def test_ignored_call_skipped() -> None:
    assert skipped(decide(catalog(CATCH_ALL), call(), IntakeFacts(ignored=True))) is SkipReason.IGNORED


@pytest.mark.parametrize("number", ["anonymous", "", "+7 916 123", "79161234567;hangup", "+" + "1" * 21])
def test_d5_undialable_customer_number_skipped(number: str) -> None:
    assert skipped(decide(catalog(CATCH_ALL), call(customer_number=number))) is SkipReason.INVALID_NUMBER


def test_r18_blacklisted_number_from_catalog_skipped() -> None:
    c = catalog(CATCH_ALL, blacklist=(BlacklistEntry(number="+79161234567"),))
    assert skipped(decide(c, call())) is SkipReason.BLACKLISTED
    assert accepted(decide(c, call(customer_number="+79160000000"))) == "catch-all"


def test_r18_blacklisted_by_facts_skipped() -> None:
    assert skipped(decide(catalog(CATCH_ALL), call(), IntakeFacts(blacklisted=True))) is SkipReason.BLACKLISTED


def test_r18_blacklist_beats_open_task() -> None:
    c = catalog(CATCH_ALL, blacklist=(BlacklistEntry(number="+79161234567"),))
    assert skipped(decide(c, call(), IntakeFacts(open_task=7))) is SkipReason.BLACKLISTED


def test_r17_customer_reached_since_loss_skipped() -> None:
    d = decide(catalog(CATCH_ALL), call(), IntakeFacts(reached_since_loss=True, open_task=7))
    assert skipped(d) is SkipReason.ALREADY_REACHED


def test_d1_second_lost_call_joins_open_task_under_its_rule() -> None:
    c = catalog(rule("first", 1), rule("old", 2))
    d = decide(c, call(), IntakeFacts(open_task=42, open_task_rule="old"))
    assert isinstance(d, Accept) and d.joins
    assert d.join_task == 42
    assert d.rule is not None and d.rule.name == "old", "the task keeps its rule"


def test_d1_joins_even_when_no_rule_would_match_now() -> None:
    c = catalog(rule("strict", 1, min_wait_s=60))
    d = decide(c, call(waited_s=1.0), IntakeFacts(open_task="t-9"))
    assert isinstance(d, Accept) and d.join_task == "t-9" and d.rule is None


def test_no_rules_at_all_is_no_rule() -> None:
    assert skipped(decide(catalog(), call())) is SkipReason.NO_RULE


def test_explain_lists_every_rule_and_why() -> None:
    c = catalog(
        rule("off", 1, enabled=False),
        rule("site", 2, place=LossPlace.SITE, place_value="x.example"),
        rule("night", 3, applies_schedule="night"),
        rule("any", 4),
        rule("later", 5),
    )
    lines = decide(c, call()).explain()
    assert lines[0].startswith("accept: rule 'any'")
    assert [line.split()[2].rstrip(":") for line in lines[1:]] == [
        "disabled", "place_mismatch", "not_applicable_at_loss", "matched", "not_reached",
    ]


def test_r12_takeover_by_new_higher_priority_rule() -> None:
    old = rule("old", 5)
    assert takeover(catalog(old), call(), "old") is None
    new = rule("vip", 1, place=LossPlace.NUMBER, place_value="+74950000001")
    taken = takeover(catalog(new, old), call(), "old")
    assert taken is not None and taken.name == "vip"
    # a lower-priority rule never takes a task over
    assert takeover(catalog(old, rule("low", 9)), call(), "old") is None


def test_r14_r12_disabled_rule_keeps_its_tasks() -> None:
    # the task's rule was disabled: another rule matches, but only a higher one may take over
    c = catalog(rule("old", 1, enabled=False), rule("other", 2))
    assert takeover(c, call(), "old") is None
