"""Cross-object checks on a whole configuration (a Catalog), and who uses what (R13).

Rules: single objects validate themselves on construction (fsworker.core.model); this
module checks what needs the whole catalog: unique names, references that resolve,
group members that are employees. It is pure: it reads a snapshot and returns every
problem it finds (a config checker shows them all at once), each with a path such as
``rules[2].target`` plus the value and the limit. ``validate_catalog`` raises one
``CatalogError`` carrying all of them. Nothing here mutates or repairs a catalog.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fsworker.core.calls import LossPlace
from fsworker.core.catalog import Catalog
from fsworker.core.errors import ValidationError, problem_text
from fsworker.core.model import STRATEGY_TARGET, StrategyKind, TargetKind, unknown_strategy_limit
from fsworker.core.strategies import registry as strategy_registry
from fsworker.core.strategies.base import MAX_STEP_ENDPOINTS

log = logging.getLogger(__name__)

#: a group's max_lines: one originate rings at most this many legs (the model only
#: checks >= 1; without an upper bound a typo overflows the database column)
MAX_GROUP_LINES = MAX_STEP_ENDPOINTS

#: entity kinds a rule can refer to (Rule.uses), and "campaign" (rules never name one)
ENTITY_KINDS = ("virtual_number", "scenario", "site", "group", "employee", "schedule", "campaign")


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """One thing wrong with a catalog: where (path), what (value), and the limit."""

    path: str  #: e.g. "rules[2].target", "groups[0].members[1]"
    value: Any
    limit: str

    def __str__(self) -> str:
        return f"{self.path}: {problem_text(self.value, self.limit)}"

    def as_error(self) -> ValidationError:
        return ValidationError(self.path, self.value, self.limit)


class CatalogError(ValidationError):
    """A catalog has one or more cross-object problems; ``problems`` lists them all.
    As a ValidationError its field/value/limit are those of the first problem."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("CatalogError needs at least one problem")
        self.problems = list(problems)
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(first.path, first.value, first.limit + more)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def _duplicates(problems: list[Problem], collection: str, names: Iterable[str], attr: str = "name") -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            problems.append(
                Problem(path=f"{collection}[{i}].{attr}", value=name, limit=f"must be unique; already {collection}[{seen[name]}]")
            )
        else:
            seen[name] = i


def check_catalog(catalog: Catalog) -> list[Problem]:
    """Every cross-object problem in ``catalog``, in a stable order (empty = valid)."""
    problems: list[Problem] = []
    c = catalog
    _duplicates(problems, "employees", (e.name for e in c.employees))
    _duplicates(problems, "groups", (g.name for g in c.groups))
    _duplicates(problems, "campaigns", (x.name for x in c.campaigns))
    _duplicates(problems, "scenarios", (x.name for x in c.scenarios))
    _duplicates(problems, "virtual_numbers", (v.number for v in c.virtual_numbers), "number")
    _duplicates(problems, "sites", (s.name for s in c.sites))
    _duplicates(problems, "schedules", (s.name for s in c.schedules))
    _duplicates(problems, "blacklist", (b.number for b in c.blacklist), "number")

    # an endpoint shared by two employees makes rung legs ambiguous (D4)
    owner: dict[str, str] = {}
    for i, e in enumerate(c.employees):
        for j, ep in enumerate(e.endpoints):
            if ep in owner and owner[ep] != e.name:
                problems.append(
                    Problem(path=f"employees[{i}].endpoints[{j}]", value=ep, limit=f"already an endpoint of employee {owner[ep]!r}")
                )
            owner.setdefault(ep, e.name)

    employees = {e.name for e in c.employees}
    for i, g in enumerate(c.groups):
        if not 1 <= g.max_lines <= MAX_GROUP_LINES:
            problems.append(Problem(path=f"groups[{i}].max_lines", value=g.max_lines,
                                    limit=f"1..{MAX_GROUP_LINES} simultaneous lines"))
        for j, m in enumerate(g.members):
            if m not in employees:
                problems.append(Problem(path=f"groups[{i}].members[{j}]", value=m, limit="an existing employee"))

    known = _known(c)
    for i, camp in enumerate(c.campaigns):
        kind = TargetKind(camp.target_kind).value
        if kind != TargetKind.NUMBER.value and camp.target not in known[kind]:
            problems.append(Problem(path=f"campaigns[{i}].target", value=camp.target, limit=f"an existing {kind}"))

    seen_rules: dict[str, int] = {}
    for i, r in enumerate(c.rules):
        if not isinstance(r.name, str) or not r.name.strip():
            problems.append(Problem(path=f"rules[{i}].name", value=r.name, limit="a non-empty name"))
        elif r.name in seen_rules:
            problems.append(
                Problem(path=f"rules[{i}].name", value=r.name, limit=f"rule names must be unique; already rules[{seen_rules[r.name]}]")
            )
        else:
            seen_rules[r.name] = i
        problems.extend(_rule_references(i, r, known))
    return problems


def _known(c: Catalog) -> dict[str, set[str]]:
    return {
        "employee": {e.name for e in c.employees},
        "group": {g.name for g in c.groups},
        "scenario": {s.name for s in c.scenarios},
        "site": {s.name for s in c.sites},
        "virtual_number": {v.number for v in c.virtual_numbers},
        "schedule": {s.name for s in c.schedules},
        "campaign": {x.name for x in c.campaigns},
    }


_PLACE_KIND = {LossPlace.NUMBER: "virtual_number", LossPlace.SCENARIO: "scenario", LossPlace.SITE: "site"}


def _rule_references(i: int, r: Any, known: dict[str, set[str]]) -> list[Problem]:
    out: list[Problem] = []
    if not isinstance(r.strategy, StrategyKind) and r.strategy not in strategy_registry.default_registry:
        out.append(Problem(path=f"rules[{i}].strategy", value=r.strategy, limit=unknown_strategy_limit()))
    kind = _PLACE_KIND.get(r.place)
    if kind and r.place_value not in known[kind]:
        out.append(Problem(path=f"rules[{i}].place_value", value=r.place_value, limit=f"an existing {kind}"))
    target_kind = STRATEGY_TARGET.get(r.strategy)
    if target_kind in ("group", "employee", "scenario") and r.target not in known[target_kind]:
        out.append(Problem(path=f"rules[{i}].target", value=r.target, limit=f"an existing {target_kind}"))
    for attr in ("callback_schedule", "applies_schedule"):
        name = getattr(r, attr)
        if name is not None and name not in known["schedule"]:
            out.append(Problem(path=f"rules[{i}].{attr}", value=name, limit="an existing schedule"))
    return out


def check_rule_strategy(rule: Any, field: str = "rule.strategy") -> None:
    """A rule's strategy is built in or registered by an installed plugin: checked by
    every writer of rules (the store), since a value cannot know what is installed."""
    if not isinstance(rule.strategy, StrategyKind) and rule.strategy not in strategy_registry.default_registry:
        raise ValidationError(field, rule.strategy, unknown_strategy_limit())


def validate_catalog(catalog: Catalog) -> None:
    """Raise CatalogError listing every problem, or return if the catalog is valid."""
    problems = check_catalog(catalog)
    if problems:
        raise CatalogError(problems)


def references_to(catalog: Catalog, kind: str, name: str) -> list[str]:
    """Names of the rules that use entity ``kind``/``name`` (R13), in priority order.
    ``kind`` is one of ENTITY_KINDS; rules never name a campaign (the campaign strategy
    uses the call's campaign), so "campaign" always gives []: see ``dependents``."""
    if kind not in ENTITY_KINDS:
        raise ValidationError("kind", kind, f"one of {', '.join(ENTITY_KINDS)}")
    return [r.name for r in catalog.ordered_rules() if (kind, name) in r.uses()]


def dependents(catalog: Catalog, kind: str, name: str) -> list[str]:
    """Everything that uses the entity, rules first: ``"rule 'x'"``, ``"group 'sales'"``
    (an employee in a group), ``"campaign 'promo'"`` (a campaign's target). For R13
    messages that must name what blocks a deletion."""
    out = [f"rule {r!r}" for r in references_to(catalog, kind, name)]
    if kind == "employee":
        out += [f"group {g.name!r}" for g in catalog.groups if name in g.members]
    if kind in ("group", "employee", "scenario"):
        out += [
            f"campaign {c.name!r}"
            for c in catalog.campaigns
            if TargetKind(c.target_kind).value == kind and c.target == name
        ]
    return out
