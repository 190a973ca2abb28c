"""The whole configuration at one moment: what the rule engine and strategies read.

Rules: a Catalog is an immutable snapshot (loaded from the store or a TOML file); code
that decides works on a snapshot, never on live rows, so one decision sees one
consistent configuration. Lookups by name are dicts built once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from fsworker.core.model import (
    BlacklistEntry,
    Campaign,
    Employee,
    Group,
    Rule,
    Scenario,
    Schedule,
    Settings,
    Site,
    VirtualNumber,
)


@dataclass(frozen=True, kw_only=True)
class Catalog:
    employees: tuple[Employee, ...] = ()
    groups: tuple[Group, ...] = ()
    campaigns: tuple[Campaign, ...] = ()
    scenarios: tuple[Scenario, ...] = ()
    virtual_numbers: tuple[VirtualNumber, ...] = ()
    sites: tuple[Site, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    blacklist: tuple[BlacklistEntry, ...] = ()
    rules: tuple[Rule, ...] = ()  #: in priority order (position ascending)
    settings: Settings = field(default_factory=Settings)

    @cached_property
    def employee_by_name(self) -> dict[str, Employee]:
        return {e.name: e for e in self.employees}

    @cached_property
    def group_by_name(self) -> dict[str, Group]:
        return {g.name: g for g in self.groups}

    @cached_property
    def campaign_by_name(self) -> dict[str, Campaign]:
        return {c.name: c for c in self.campaigns}

    @cached_property
    def scenario_by_name(self) -> dict[str, Scenario]:
        return {s.name: s for s in self.scenarios}

    @cached_property
    def schedule_by_name(self) -> dict[str, Schedule]:
        return {s.name: s for s in self.schedules}

    @cached_property
    def rule_by_name(self) -> dict[str, Rule]:
        return {r.name: r for r in self.rules}

    @cached_property
    def blacklisted_numbers(self) -> frozenset[str]:
        return frozenset(b.number for b in self.blacklist)

    @cached_property
    def employee_by_endpoint(self) -> dict[str, Employee]:
        """Endpoint (as configured) -> employee; used to recognise rung legs (D4)."""
        return {ep: e for e in self.employees for ep in e.endpoints}

    def ordered_rules(self) -> list[Rule]:
        return sorted(self.rules, key=lambda r: r.position)
