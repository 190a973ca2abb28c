"""Dial strategies (R5a-g) on hand-built lost calls, and the strategy registry."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from importlib import metadata

import pytest

from fsworker.core.calls import LossPlace, LostCall, RungLeg, TransferKind, TransferPhase
from fsworker.core.catalog import Catalog
from fsworker.core.errors import ValidationError
from fsworker.core.model import Campaign, Employee, Group, Rule, Scenario, StrategyKind
from fsworker.core.outcomes import AttemptOutcome
from fsworker.core.strategies import (
    DialPlan,
    DialSettings,
    DialStep,
    InvalidEndpointError,
    NoEmployeeCalls,
    ScenarioHandoff,
    StrategyRegistrationError,
    TargetNotFoundError,
    UnknownStrategyError,
    default_registry,
    get_strategy,
    new_registry,
)
from fsworker.core.strategies import registry as registry_mod
from fsworker.core.strategies.number import NumberStrategy
from fsworker.core.validation import check_rule_strategy

EP = "sofia/internal/{}@127.0.0.1:5072"
U = "user/{}"  # how the catalog configures employees 101..105
T0 = datetime(2026, 11, 28, 16, 25, 25, tzinfo=UTC)


def catalog(*, sales_lines: int = 3, extra_groups: tuple[Group, ...] = ()) -> Catalog:
    return Catalog(
        employees=(
            Employee(name="Anna", endpoints=("user/101",)),
            Employee(name="Boris", endpoints=("user/102", "sofia/gateway/gw/79160000002")),
            Employee(name="Vera", endpoints=("user/103",)),
            Employee(name="Gleb", endpoints=("user/104",)),
            Employee(name="Dina", endpoints=("user/105",)),
        ),
        groups=(Group(name="sales", members=("Anna", "Boris", "Vera"), max_lines=sales_lines), *extra_groups),
        campaigns=(
            Campaign(name="cpc-42", target_kind="group", target="sales"),
            Campaign(name="cpc-emp", target_kind="employee", target="Dina"),
            Campaign(name="cpc-num", target_kind="number", target="74950000009"),
            Campaign(name="cpc-ivr", target_kind="scenario", target="sales-ivr"),
            Campaign(name="cpc-gone", target_kind="group", target="no-such-group"),
        ),
        scenarios=(Scenario(name="sales-ivr", extension="5000", context="ivr"),),
    )


def leg(ext: str, group: int, employee: str | None = None) -> RungLeg:
    return RungLeg(uuid=f"leg-{ext}", endpoint=EP.format(ext), destination=ext, employee=employee, ring_group=group)


def lost(**kw) -> LostCall:
    base = {"call_uuid": "44cd0ee5", "customer_number": "79161234567", "virtual_number": "74950000001",
                "campaign": "cpc-42", "lost_at": T0, "waited_s": 12.0}
    base.update(kw)
    return LostCall(**base)


# Trace 03: 101 + 102 together, then 103 alone; nobody answered.
TRACE_03 = (leg("101", 0, "Anna"), leg("102", 0, "Boris"), leg("103", 1, "Vera"))


def plan(kind: StrategyKind, call: LostCall, cat: Catalog | None = None, target: str | None = None,
         settings: DialSettings | None = None, attempt: int = 1):
    rule = Rule(name="r", strategy=kind, target=target)
    return get_strategy(kind).plan(rule=rule, catalog=cat or catalog(), call=call, attempt=attempt,
                                   settings=settings or DialSettings())


# --------------------------------------------------------------------------- e: last attempted


def test_last_attempted_trace_03_grows_one_two_three():
    p = plan(StrategyKind.LAST_ATTEMPTED, lost(rung=TRACE_03))
    assert isinstance(p, DialPlan)
    assert p.endpoints == [
        (U.format(101),),
        (U.format(101), U.format(102)),
        (U.format(101), U.format(102), U.format(103)),
    ]
    assert all(s.ring_timeout_s == 30 for s in p.steps)
    assert p.strategy == "last_attempted"


def test_last_attempted_order_follows_ring_groups_not_list_order():
    p = plan(StrategyKind.LAST_ATTEMPTED, lost(rung=(TRACE_03[2], TRACE_03[0], TRACE_03[1])))
    assert p.steps[0].endpoints == (U.format(101),)
    assert p.steps[-1].endpoints == (U.format(101), U.format(102), U.format(103))


def test_last_attempted_width_is_the_groups_max_lines_then_slides():
    p = plan(StrategyKind.LAST_ATTEMPTED, lost(rung=TRACE_03), cat=catalog(sales_lines=2))
    assert p.endpoints == [
        (U.format(101),),
        (U.format(101), U.format(102)),
        (U.format(102), U.format(103)),
    ]


def test_last_attempted_known_employee_is_redialled_by_configured_endpoint():
    """The recorded channel name carries the phone's contact address of that moment;
    a known employee is rung again through the configured endpoint that matches it
    (Boris was rung on user/102, not on his mobile); a stranger by the recorded one."""
    stranger = leg("301", 1)
    p = plan(StrategyKind.LAST_ATTEMPTED, lost(rung=(leg("102", 0, "Boris"), stranger)))
    assert p.endpoints == [(U.format(102),), (U.format(102), EP.format(301))]


def test_last_attempted_width_defaults_when_nobody_tried_is_in_a_group():
    strangers = tuple(leg(str(x), i) for i, x in enumerate((201, 202, 203, 204)))
    p = plan(StrategyKind.LAST_ATTEMPTED, lost(rung=strangers), settings=DialSettings(default_max_lines=2))
    assert [len(s.endpoints) for s in p.steps] == [1, 2, 2, 2]
    assert p.steps[-1].endpoints == (EP.format(203), EP.format(204))


def test_last_attempted_same_endpoint_twice_rings_once():
    p = plan(StrategyKind.LAST_ATTEMPTED, lost(rung=(leg("101", 0), leg("101", 1))))
    assert p.endpoints == [(EP.format(101),)]


def test_last_attempted_nobody_tried_is_no_employee_calls():
    with pytest.raises(NoEmployeeCalls) as ei:
        plan(StrategyKind.LAST_ATTEMPTED, lost(rung=()))
    assert ei.value.outcome is AttemptOutcome.NO_EMPLOYEE_CALLS_FOUND
    assert "44cd0ee5" in str(ei.value)


def test_last_attempted_stranger_is_redialled_as_bare_endpoint_without_sip_parameters():
    """A recorded channel name's SIP URI parameters described that call's route: a
    stranger is rung again on the bare endpoint, never with them; an employee whose
    contact carried them is still found by the bare name."""
    stranger = RungLeg(uuid="s", endpoint="sofia/internal/669@10.0.0.9:5060;fs_path=x;transport=tcp",
                       destination="669", ring_group=0)
    boris = RungLeg(uuid="b", endpoint="user/102;fs_path=x", destination="102", ring_group=1)
    p = plan(StrategyKind.LAST_ATTEMPTED, lost(rung=(stranger, boris)))
    assert p.endpoints == [("sofia/internal/669@10.0.0.9:5060",),
                           ("sofia/internal/669@10.0.0.9:5060", U.format(102))]
    assert all(";" not in ep and "=" not in ep for step in p.endpoints for ep in step)


@pytest.mark.parametrize("hostile", [
    "sofia/internal/101;fs_path=a,sofia/gateway/x/900",
    "sofia/internal/101;x={origination_uuid=1}",
    "sofia/internal/101;x=1 exit",
    "sofia/internal/101=x;y",
    "sofia/internal/101,sofia/gateway/x/900",
    "sofia/internal/101}",
    "{origination_caller_id_number=1}user/101",
    "user/101 exit",
    "user/101\nexit",
    "user/101|user/102",
])
def test_last_attempted_hostile_recorded_endpoint_raises(hostile):
    bad = RungLeg(uuid="x", endpoint=hostile, destination="101", ring_group=1)
    with pytest.raises(InvalidEndpointError) as ei:
        plan(StrategyKind.LAST_ATTEMPTED, lost(rung=(leg("102", 0), bad)))
    assert ei.value.outcome is AttemptOutcome.INVALID_ENDPOINT
    assert isinstance(ei.value, ValidationError)


# --------------------------------------------------------------------------- f: last waiting phase


def test_last_waiting_phase_trace_07_transferrer_then_target():
    call = lost(place=LossPlace.TRANSFER, rung=(leg("101", 0, "Anna"), leg("105", 1, "Dina")),
                transfer=TransferPhase(kind=TransferKind.BLIND, transferrer_endpoint=EP.format(101),
                                       transferrer_employee="Anna", target_endpoint=EP.format(105),
                                       target_employee="Dina", target_destination="74950000005"))
    p = plan(StrategyKind.LAST_WAITING_PHASE, call)
    assert p.endpoints == [(U.format(101),), (U.format(105),)]
    assert [s.label for s in p.steps] == ["transferrer", "transfer target"]


def test_last_waiting_phase_uses_catalog_endpoints_when_only_names_are_known():
    call = lost(transfer=TransferPhase(kind=TransferKind.ATTENDED, transferrer_employee="Boris",
                                       target_employee="Dina"))
    p = plan(StrategyKind.LAST_WAITING_PHASE, call)
    assert p.endpoints == [("user/102", "sofia/gateway/gw/79160000002"), ("user/105",)]


def test_last_waiting_phase_same_person_both_sides_is_one_step():
    call = lost(transfer=TransferPhase(kind=TransferKind.BLIND, transferrer_endpoint="user/101",
                                       target_endpoint="user/101"))
    assert plan(StrategyKind.LAST_WAITING_PHASE, call).endpoints == [("user/101",)]


def test_last_waiting_phase_without_transfer_falls_back_to_last_attempted():
    p = plan(StrategyKind.LAST_WAITING_PHASE, lost(rung=TRACE_03))
    assert p.strategy == "last_waiting_phase"
    assert len(p.steps) == 3 and p.steps[0].endpoints == (U.format(101),)
    with pytest.raises(NoEmployeeCalls):
        plan(StrategyKind.LAST_WAITING_PHASE, lost())
    # a transfer phase naming nobody reachable behaves the same
    with pytest.raises(NoEmployeeCalls):
        plan(StrategyKind.LAST_WAITING_PHASE,
             lost(transfer=TransferPhase(kind=TransferKind.BLIND, target_destination="74950000005")))


def test_last_waiting_phase_hostile_transferrer_raises():
    call = lost(transfer=TransferPhase(kind=TransferKind.BLIND, transferrer_endpoint="user/101,user/999"))
    with pytest.raises(InvalidEndpointError):
        plan(StrategyKind.LAST_WAITING_PHASE, call)


# --------------------------------------------------------------------------- b, c, d, g


def test_group_within_max_lines_rings_all_members_in_one_step():
    p = plan(StrategyKind.GROUP, lost(), target="sales")
    assert p.endpoints == [("user/101", "user/102", "sofia/gateway/gw/79160000002", "user/103")]


def test_group_larger_than_max_lines_rings_successive_chunks():
    big = Group(name="all", members=("Anna", "Boris", "Vera", "Gleb", "Dina"), max_lines=2)
    p = plan(StrategyKind.GROUP, lost(), cat=catalog(extra_groups=(big,)), target="all")
    assert p.endpoints == [
        ("user/101", "user/102", "sofia/gateway/gw/79160000002"),
        ("user/103", "user/104"),
        ("user/105",),
    ]
    assert [s.label for s in p.steps] == ["group all 1/3", "group all 2/3", "group all 3/3"]


def test_group_unknown_or_empty_is_target_not_found(caplog):
    with pytest.raises(TargetNotFoundError) as ei:
        plan(StrategyKind.GROUP, lost(), target="nope")
    assert ei.value.outcome is AttemptOutcome.TARGET_NOT_FOUND
    ghosts = Group(name="ghosts", members=("Nobody", "Anna"), max_lines=5)
    with caplog.at_level(logging.WARNING, logger="fsworker.core.strategies.group"):
        p = plan(StrategyKind.GROUP, lost(), cat=catalog(extra_groups=(ghosts,)), target="ghosts")
    assert p.endpoints == [("user/101",)]
    assert "44cd0ee5" in caplog.text and "Nobody" in caplog.text


def test_number_goes_through_the_external_template():
    p = plan(StrategyKind.NUMBER, lost(), target="+79160000000")
    assert p.endpoints == [("sofia/gateway/default/+79160000000",)]
    s = DialSettings(external_dial_template="sofia/gateway/{gateway}/8{number}", gateway="gw1",
                     default_ring_timeout_s=45)
    p = plan(StrategyKind.NUMBER, lost(), target="4950000009", settings=s)
    assert p.steps == (DialStep(endpoints=("sofia/gateway/gw1/84950000009",), ring_timeout_s=45,
                                label="number 4950000009"),)


@pytest.mark.parametrize("tpl", ["sofia/gateway/{gateway}", "{number} x", "sofia/{foo}/{number}",
                                 "sofia/gw/{number!r}", "sofia/gw/{number:>30}", "sofia/gw,x/{number}", "{"])
def test_bad_dial_templates_are_rejected(tpl):
    with pytest.raises(ValidationError) as ei:
        DialSettings(external_dial_template=tpl)
    assert ei.value.field == "dial.external_dial_template"


@pytest.mark.parametrize("number", ["1,sofia/gateway/x/900", "}", "79161234567 ", "", None, "+" + "1" * 21])
def test_external_endpoint_refuses_hostile_numbers(number):
    with pytest.raises(InvalidEndpointError):
        DialSettings().external_endpoint(number)


def test_employee_rings_all_endpoints_together():
    p = plan(StrategyKind.EMPLOYEE, lost(), target="Boris")
    assert p.endpoints == [("user/102", "sofia/gateway/gw/79160000002")]
    with pytest.raises(TargetNotFoundError):
        plan(StrategyKind.EMPLOYEE, lost(), target="Nobody")


def test_scenario_is_a_handoff():
    p = plan(StrategyKind.SCENARIO, lost(), target="sales-ivr")
    assert p == ScenarioHandoff(extension="5000", context="ivr", scenario="sales-ivr", strategy="scenario")
    with pytest.raises(TargetNotFoundError):
        plan(StrategyKind.SCENARIO, lost(), target="gone")


@pytest.mark.parametrize("ext", ["5000 XML evil", "5000\n", "", "a|b"])
def test_handoff_refuses_unsafe_extension(ext):
    with pytest.raises(ValidationError):
        ScenarioHandoff(extension=ext)


# --------------------------------------------------------------------------- a: campaign


@pytest.mark.parametrize("campaign, expected", [
    ("cpc-42", [("user/101", "user/102", "sofia/gateway/gw/79160000002", "user/103")]),
    ("cpc-emp", [("user/105",)]),
    ("cpc-num", [("sofia/gateway/default/74950000009",)]),
])
def test_campaign_routes_to_its_target(campaign, expected):
    p = plan(StrategyKind.CAMPAIGN, lost(campaign=campaign))
    assert p.endpoints == expected and p.strategy == "campaign"


def test_campaign_to_scenario_is_a_handoff():
    p = plan(StrategyKind.CAMPAIGN, lost(campaign="cpc-ivr"))
    assert p == ScenarioHandoff(extension="5000", context="ivr", scenario="sales-ivr", strategy="campaign")


@pytest.mark.parametrize("campaign, field", [(None, "call.campaign"), ("unknown", "call.campaign"),
                                              ("cpc-gone", "campaign[cpc-gone].target")])
def test_campaign_unknown_is_target_not_found(campaign, field):
    with pytest.raises(TargetNotFoundError) as ei:
        plan(StrategyKind.CAMPAIGN, lost(campaign=campaign))
    assert ei.value.field == field
    assert ei.value.outcome is AttemptOutcome.TARGET_NOT_FOUND


# --------------------------------------------------------------------------- plan values


def test_dial_step_validates_its_endpoints_and_timeout():
    with pytest.raises(InvalidEndpointError):
        DialStep(endpoints=("user/101", "user/1 02"), ring_timeout_s=10)
    with pytest.raises(ValidationError):
        DialStep(endpoints=("user/101", "user/101"), ring_timeout_s=10)
    with pytest.raises(ValidationError):
        DialStep(endpoints=(), ring_timeout_s=10)
    with pytest.raises(ValidationError):
        DialStep(endpoints=("user/101",), ring_timeout_s=0)
    with pytest.raises(ValidationError):
        DialPlan(steps=(), strategy="x")


# --------------------------------------------------------------------------- registry


def test_every_strategy_kind_is_registered():
    assert set(default_registry.kinds()) >= {k.value for k in StrategyKind}
    for k in StrategyKind:
        assert get_strategy(k) is get_strategy(k.value)
        assert get_strategy(k).kind == k.value


def test_unknown_kind_and_duplicates():
    reg = new_registry(entry_point_group=None)
    with pytest.raises(UnknownStrategyError):
        reg.get("round_robin")
    with pytest.raises(StrategyRegistrationError):
        reg.register("group", NumberStrategy)
    reg.register("group", NumberStrategy, replace=True)
    assert isinstance(reg.get("group"), NumberStrategy)
    with pytest.raises(StrategyRegistrationError):
        reg.register("broken", object)


class FirstEmployeeOnly:
    """A third-party strategy: not a Strategy subclass, just kind + plan."""

    kind = "first_employee"

    def plan(self, *, rule, catalog, call, attempt, settings):
        emp = catalog.employees[attempt % len(catalog.employees)]
        return DialPlan(steps=(DialStep(endpoints=emp.endpoints, ring_timeout_s=5),), strategy=self.kind)


class FakeEntryPoint:
    def __init__(self, name, obj=None, error=None):
        self.name, self.value, self._obj, self._error = name, f"fake:{name}", obj, error

    def load(self):
        if self._error:
            raise self._error
        return self._obj


def test_register_decorator_on_the_default_registry(monkeypatch):
    monkeypatch.setattr(registry_mod, "default_registry", new_registry(entry_point_group=None))

    @registry_mod.register("first_employee")
    class Local(FirstEmployeeOnly):
        pass

    assert isinstance(registry_mod.get_strategy("first_employee"), Local)


def test_entry_point_discovery(monkeypatch, caplog):
    seen_groups = []

    def fake_entry_points(*, group):
        seen_groups.append(group)
        return [
            FakeEntryPoint("first_employee", FirstEmployeeOnly),
            # a real EntryPoint, loaded through importlib
            metadata.EntryPoint(name="number_alias", value="fsworker.core.strategies.number:NumberStrategy",
                                group="fsworker.strategies"),
            FakeEntryPoint("group", FirstEmployeeOnly),  # clashes with a built-in: ignored
            FakeEntryPoint("broken", error=ImportError("no module named plugin")),  # logged, skipped
        ]

    monkeypatch.setattr(registry_mod.metadata, "entry_points", fake_entry_points)
    reg = new_registry()
    with caplog.at_level(logging.INFO, logger="fsworker.core.strategies.registry"):
        s = reg.get("first_employee")
    assert seen_groups == ["fsworker.strategies"]
    p = s.plan(rule=Rule(name="r", strategy="employee", target="Anna"), catalog=catalog(), call=lost(),
               attempt=1, settings=DialSettings())
    assert p.endpoints == [("user/102", "sofia/gateway/gw/79160000002")]
    assert isinstance(reg.get("number_alias"), NumberStrategy)
    assert type(reg.get("group")).__name__ == "GroupStrategy"
    assert "broken" in caplog.text and "no module named plugin" in caplog.text
    with pytest.raises(UnknownStrategyError):
        reg.get("broken")
    assert seen_groups == ["fsworker.strategies"]  # loaded once, not on every miss
    with pytest.raises(UnknownStrategyError):
        reg.get("still_unknown")
    assert seen_groups == ["fsworker.strategies"]


def test_a_plugin_strategy_can_be_named_by_a_rule(monkeypatch):
    """A third-party strategy registered under a new kind is usable in a rule without
    editing fsworker; an unregistered name is refused naming the field."""
    reg = new_registry(entry_point_group=None)
    monkeypatch.setattr(registry_mod, "default_registry", reg)
    unregistered = Rule(name="r", strategy="first_employee")  # a value: it cannot know what is installed
    with pytest.raises(ValidationError) as ei:
        check_rule_strategy(unregistered)  # every writer of rules asks this
    assert ei.value.field == "rule.strategy"
    assert "registered plugin strategy" in str(ei.value)
    reg.register("first_employee", FirstEmployeeOnly)
    check_rule_strategy(Rule(name="r", strategy="first_employee"))
    rule = Rule(name="r", strategy="first_employee", target="Anna")
    assert rule.strategy == "first_employee"
    p = registry_mod.get_strategy(rule.strategy).plan(rule=rule, catalog=catalog(), call=lost(), attempt=1,
                                                      settings=DialSettings())
    assert p.endpoints
    with pytest.raises(ValidationError):
        Rule(name="r", strategy="first_employee", target="x\ny")
