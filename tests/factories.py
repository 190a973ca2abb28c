"""Domain builders shared by every test folder.

Each builder returns a valid value with plain defaults; a test passes only what it is
about (``rule(strategy=StrategyKind.GROUP, target="sales")``). A folder that needs other
defaults binds them once (``functools.partial``) rather than copying a builder.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fsworker.core.calls import LostCall
from fsworker.core.catalog import Catalog
from fsworker.core.model import Campaign, Employee, Group, Rule, Scenario, StrategyKind

#: When the default lost call was lost (a Saturday afternoon).
T0 = datetime(2026, 11, 28, 16, 25, 25, tzinfo=UTC)

#: The office of ``catalog()``: five employees on user/101..105; Boris also has a mobile.
OFFICE = {
    "Anna": ("user/101",),
    "Boris": ("user/102", "sofia/gateway/gw/79160000002"),
    "Vera": ("user/103",),
    "Gleb": ("user/104",),
    "Dina": ("user/105",),
}


def rule(name: str = "r", **kw: Any) -> Rule:
    """A rule; rings back whoever the customer last tried unless ``strategy`` says."""
    kw.setdefault("strategy", StrategyKind.LAST_ATTEMPTED)
    return Rule(name=name, **kw)


def lost_call(**kw: Any) -> LostCall:
    """A call lost at ``T0`` by customer 79161234567 who dialled 74950000001."""
    base: dict[str, Any] = {"call_uuid": "44cd0ee5", "customer_number": "79161234567",
                            "virtual_number": "74950000001", "lost_at": T0, "waited_s": 12.0}
    return LostCall(**(base | kw))


def employee(name: str, *endpoints: str) -> Employee:
    return Employee(name=name, endpoints=endpoints or OFFICE[name])


def group(name: str, *members: str, max_lines: int = 3) -> Group:
    return Group(name=name, members=members, max_lines=max_lines)


def catalog(*, sales_lines: int = 3, extra_groups: tuple[Group, ...] = (), **kw: Any) -> Catalog:
    """The office: its five employees, group sales (Anna, Boris, Vera), a campaign for
    each kind of target (and one whose group is gone), scenario sales-ivr; ``kw``
    replaces or adds any other part (rules, schedules...)."""
    base: dict[str, Any] = {
        "employees": tuple(employee(name) for name in OFFICE),
        "groups": (group("sales", "Anna", "Boris", "Vera", max_lines=sales_lines), *extra_groups),
        "campaigns": (
            Campaign(name="cpc-42", target_kind="group", target="sales"),
            Campaign(name="cpc-emp", target_kind="employee", target="Dina"),
            Campaign(name="cpc-num", target_kind="number", target="74950000009"),
            Campaign(name="cpc-ivr", target_kind="scenario", target="sales-ivr"),
            Campaign(name="cpc-gone", target_kind="group", target="no-such-group"),
        ),
        "scenarios": (Scenario(name="sales-ivr", extension="5000", context="ivr"),),
    }
    return Catalog(**(base | kw))
