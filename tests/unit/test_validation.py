"""Cross-object validation of a Catalog, and who uses what (R3, R13)."""

from __future__ import annotations

import pytest

from fsworker.core.calls import LossPlace
from fsworker.core.catalog import Catalog
from fsworker.core.errors import ValidationError
from fsworker.core.model import (
    BlacklistEntry,
    Campaign,
    Employee,
    Group,
    Rule,
    Scenario,
    Schedule,
    Site,
    StrategyKind,
    VirtualNumber,
)
from fsworker.core.schedule import parse_weekly
from fsworker.core.validation import (
    CatalogError,
    check_catalog,
    dependents,
    references_to,
    validate_catalog,
)

WORK = Schedule(name="work", timezone="Europe/Moscow", windows=parse_weekly("mon-fri 09:00-18:00"))


def good(**changes: object) -> Catalog:
    base: dict[str, object] = {
        "employees": (Employee(name="ann", endpoints=("user/101",)), Employee(name="bob", endpoints=("user/102",))),
        "groups": (Group(name="sales", members=("ann", "bob"), max_lines=2),),
        "campaigns": (Campaign(name="promo", target_kind="group", target="sales"),),
        "scenarios": (Scenario(name="ivr", extension="5000"),),
        "virtual_numbers": (VirtualNumber(number="+74950000001"),),
        "sites": (Site(name="shop.example.com"),),
        "schedules": (WORK,),
        "blacklist": (BlacklistEntry(number="+79990000000"),),
        "rules": (
            Rule(name="shop", place=LossPlace.SITE, place_value="shop.example.com", strategy=StrategyKind.GROUP,
                 target="sales", callback_schedule="work", position=1),
            Rule(name="did", place=LossPlace.NUMBER, place_value="+74950000001", strategy=StrategyKind.EMPLOYEE,
                 target="ann", applies_schedule="work", position=2),
            Rule(name="ivr", place=LossPlace.SCENARIO, place_value="ivr", strategy=StrategyKind.SCENARIO,
                 target="ivr", position=3),
            Rule(name="any", strategy=StrategyKind.LAST_ATTEMPTED, position=4),
        ),
    }
    base.update(changes)
    return Catalog(**base)  # type: ignore[arg-type]


def paths(catalog: Catalog) -> list[str]:
    return [p.path for p in check_catalog(catalog)]


def test_valid_catalog_has_no_problems() -> None:
    assert check_catalog(good()) == []
    validate_catalog(good())


def test_r3_many_rules_validate() -> None:
    rules = tuple(Rule(name=f"r{i}", strategy=StrategyKind.LAST_ATTEMPTED, position=i) for i in range(500))
    assert check_catalog(good(rules=rules)) == []


def test_duplicate_rule_name_reported_with_path() -> None:
    c = good()
    dup = c.rules + (Rule(name="shop", strategy=StrategyKind.LAST_ATTEMPTED, position=9),)
    problems = check_catalog(good(rules=dup))
    assert [(p.path, p.value) for p in problems] == [("rules[4].name", "shop")]
    assert "unique" in problems[0].limit


def test_missing_group_reported_with_field_value_limit() -> None:
    rules = (Rule(name="x", strategy=StrategyKind.GROUP, target="support"),)
    with pytest.raises(CatalogError) as ei:
        validate_catalog(good(rules=rules))
    err = ei.value
    assert isinstance(err, ValidationError)
    assert (err.field, err.value) == ("rules[0].target", "support")
    assert "existing group" in err.limit


def test_every_kind_of_dangling_reference_reported_all_at_once() -> None:
    rules = (
        Rule(name="a", place=LossPlace.NUMBER, place_value="+70000000000", strategy=StrategyKind.EMPLOYEE, target="zoe"),
        Rule(name="b", place=LossPlace.SCENARIO, place_value="nope", strategy=StrategyKind.SCENARIO, target="nope"),
        Rule(name="c", place=LossPlace.SITE, place_value="other.example", strategy=StrategyKind.CAMPAIGN,
             callback_schedule="night", applies_schedule="weekend"),
    )
    assert paths(good(rules=rules)) == [
        "rules[0].place_value", "rules[0].target",
        "rules[1].place_value", "rules[1].target",
        "rules[2].place_value", "rules[2].callback_schedule", "rules[2].applies_schedule",
    ]
    with pytest.raises(CatalogError) as ei:
        validate_catalog(good(rules=rules))
    assert len(ei.value.problems) == 7
    assert "6 more" in ei.value.limit


def test_group_member_that_is_not_an_employee() -> None:
    groups = (Group(name="sales", members=("ann", "carl")),)
    problems = check_catalog(good(groups=groups))
    assert [(p.path, p.value) for p in problems] == [("groups[0].members[1]", "carl")]


def test_campaign_target_that_does_not_exist() -> None:
    campaigns = (Campaign(name="promo", target_kind="scenario", target="missing"),
                 Campaign(name="tv", target_kind="number", target="+74951112233"))
    assert paths(good(campaigns=campaigns)) == ["campaigns[0].target"]


def test_duplicate_entity_names_and_blacklist_numbers() -> None:
    c = good()
    bad = good(
        employees=c.employees + (Employee(name="ann", endpoints=("user/103",)),),
        schedules=(WORK, WORK),
        virtual_numbers=c.virtual_numbers * 2,
        blacklist=c.blacklist * 2,
    )
    assert paths(bad) == ["employees[2].name", "virtual_numbers[1].number", "schedules[1].name", "blacklist[1].number"]


def test_endpoint_shared_by_two_employees() -> None:
    c = good()
    emps = c.employees + (Employee(name="carl", endpoints=("user/101",)),)
    problems = check_catalog(good(employees=emps))
    assert [(p.path, p.value) for p in problems] == [("employees[2].endpoints[0]", "user/101")]


def test_r13_references_to_names_the_rules_using_an_entity() -> None:
    c = good()
    assert references_to(c, "group", "sales") == ["shop"]
    assert references_to(c, "employee", "ann") == ["did"]
    assert references_to(c, "schedule", "work") == ["shop", "did"]
    assert references_to(c, "virtual_number", "+74950000001") == ["did"]
    assert references_to(c, "site", "shop.example.com") == ["shop"]
    assert references_to(c, "scenario", "ivr") == ["ivr"]
    assert references_to(c, "employee", "bob") == []
    assert references_to(c, "campaign", "promo") == []


def test_r13_dependents_include_groups_and_campaigns() -> None:
    c = good()
    assert dependents(c, "employee", "bob") == ["group 'sales'"]
    assert dependents(c, "group", "sales") == ["rule 'shop'", "campaign 'promo'"]


def test_references_to_rejects_unknown_kind() -> None:
    with pytest.raises(ValidationError) as ei:
        references_to(good(), "planet", "x")
    assert ei.value.field == "kind"
