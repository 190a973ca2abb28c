"""The domain model: employees, groups, campaigns, scenarios, numbers, sites,
schedules, blacklist, rules and settings (R4, D4). Pure values, no I/O.

Rules: every class is a frozen keyword-only dataclass validated on construction, so an
invalid object cannot exist; a validation failure raises ``ValidationError`` naming the
field, the value and the limit. Cross-object checks (a rule naming a group that does not
exist, duplicate names) live in ``fsworker.core.validation`` because they need the whole
configuration. Names are the stable identifiers that rules use to refer to entities.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any

from fsworker.core.calls import LossPlace
from fsworker.core.errors import ValidationError, with_article
from fsworker.core.names import IDENT_RE
from fsworker.core.names import check_ident as _check_ident
from fsworker.core.names import check_name as _check_name
from fsworker.core.numbers import validate_endpoint, validate_number

# re-exported: rules name their schedules, and callers know them as model values
from fsworker.core.schedule.values import WEEKDAYS, Schedule, ScheduleException, TimeWindow, WeeklyWindow  # noqa: F401

MAX_INTERVALS = 5  # R8
MAX_MIN_WAIT_S = 60  # R9
MIN_CONCURRENCY, MAX_CONCURRENCY = 1, 5  # R10
MAX_INTERVAL_S = 7 * 24 * 3600  # an interval longer than a week is a typo



@dataclass(frozen=True, kw_only=True, slots=True)
class Employee:
    name: str
    endpoints: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_name("employee.name", self.name)
        if isinstance(self.endpoints, (list, str)):
            object.__setattr__(self, "endpoints", tuple([self.endpoints] if isinstance(self.endpoints, str) else self.endpoints))
        if not self.endpoints:
            raise ValidationError("employee.endpoints", self.endpoints, "at least one endpoint")
        for i, ep in enumerate(self.endpoints):
            validate_endpoint(ep, f"employee.endpoints[{i}]")
        if len(set(self.endpoints)) != len(self.endpoints):
            raise ValidationError("employee.endpoints", self.endpoints, "endpoints must be distinct")


@dataclass(frozen=True, kw_only=True, slots=True)
class Group:
    name: str
    members: tuple[str, ...]  #: employee names, in ring order
    max_lines: int = 1  #: max simultaneous lines when the group is dialled

    def __post_init__(self) -> None:
        _check_name("group.name", self.name)
        if isinstance(self.members, list):
            object.__setattr__(self, "members", tuple(self.members))
        if not self.members:
            raise ValidationError("group.members", self.members, "at least one employee")
        if len(set(self.members)) != len(self.members):
            raise ValidationError("group.members", self.members, "an employee appears twice")
        if not isinstance(self.max_lines, int) or isinstance(self.max_lines, bool) or self.max_lines < 1:
            raise ValidationError("group.max_lines", self.max_lines, "an integer >= 1")


class TargetKind(enum.StrEnum):
    """What a campaign (or a rule) routes to."""

    GROUP = "group"
    EMPLOYEE = "employee"
    NUMBER = "number"
    SCENARIO = "scenario"


@dataclass(frozen=True, kw_only=True, slots=True)
class Campaign:
    """An ad campaign (РК): calls from it carry fsw_campaign=<name>."""

    name: str
    target_kind: TargetKind
    target: str

    def __post_init__(self) -> None:
        _check_ident("campaign.name", self.name)
        try:
            object.__setattr__(self, "target_kind", TargetKind(self.target_kind))
        except ValueError:
            raise ValidationError(
                "campaign.target_kind", self.target_kind, f"one of {[k.value for k in TargetKind]}"
            ) from None
        if self.target_kind is TargetKind.NUMBER:
            validate_number(self.target, "campaign.target")
        else:
            _check_name("campaign.target", self.target)


@dataclass(frozen=True, kw_only=True, slots=True)
class Scenario:
    """An IVR scenario: a dialplan extension in a context."""

    name: str
    extension: str
    context: str = "default"

    def __post_init__(self) -> None:
        _check_ident("scenario.name", self.name)
        _check_ident("scenario.extension", self.extension)
        _check_ident("scenario.context", self.context)


@dataclass(frozen=True, kw_only=True, slots=True)
class VirtualNumber:
    number: str
    description: str = ""

    def __post_init__(self) -> None:
        validate_number(self.number, "virtual_number.number")


@dataclass(frozen=True, kw_only=True, slots=True)
class Site:
    name: str  #: as the dialplan sets fsw_site, e.g. "shop.example.com"

    def __post_init__(self) -> None:
        _check_ident("site.name", self.name)


@dataclass(frozen=True, kw_only=True, slots=True)
class BlacklistEntry:
    number: str
    reason: str = ""

    def __post_init__(self) -> None:
        validate_number(self.number, "blacklist.number")


class StrategyKind(enum.StrEnum):
    """Dial strategies (R5)."""

    CAMPAIGN = "campaign"  #: a: the routing target of the call's ad campaign
    GROUP = "group"  #: b: an employee group
    NUMBER = "number"  #: c: an arbitrary number typed into the rule
    EMPLOYEE = "employee"  #: d: one employee
    LAST_ATTEMPTED = "last_attempted"  #: e: those the lost call tried to reach
    LAST_WAITING_PHASE = "last_waiting_phase"  #: f: transferrer, then transfer target
    SCENARIO = "scenario"  #: g: an IVR scenario (dialplan extension)


# Strategies that need a target named in the rule, and what kind of entity it is.
STRATEGY_TARGET: dict[str, str | None] = {
    StrategyKind.CAMPAIGN: None,
    StrategyKind.GROUP: "group",
    StrategyKind.NUMBER: "number",
    StrategyKind.EMPLOYEE: "employee",
    StrategyKind.LAST_ATTEMPTED: None,
    StrategyKind.LAST_WAITING_PHASE: None,
    StrategyKind.SCENARIO: "scenario",
}


def strategy_kind(value: object) -> StrategyKind | str:
    """A built-in StrategyKind, or the name of a plugin strategy (entry-point group
    ``fsworker.strategies``). Whether a plugin name is registered is a question for the
    whole configuration (fsworker.core.validation), not for the value: values never
    reach up into the registry."""
    try:
        return StrategyKind(value)
    except ValueError:
        pass
    if isinstance(value, str) and IDENT_RE.fullmatch(value):
        return value
    raise ValidationError("rule.strategy", value, unknown_strategy_limit())


def unknown_strategy_limit() -> str:
    return f"one of {[s.value for s in StrategyKind]} or a registered plugin strategy"


class HintKind(enum.StrEnum):
    """What the answering employee hears before the customer is dialled (R6)."""

    DEFAULT = "default"  #: the default template ("автоперезвон")
    TEXT = "text"  #: a Jinja2 template rendered and spoken by TTS
    FILE = "file"  #: a recorded file played with playback


@dataclass(frozen=True, kw_only=True, slots=True)
class Hint:
    kind: HintKind = HintKind.DEFAULT
    text: str = ""  #: template source (TEXT) or file path (FILE)
    language: str = "ru"

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", HintKind(self.kind))
        except ValueError:
            raise ValidationError("hint.kind", self.kind, f"one of {[k.value for k in HintKind]}") from None
        if self.kind is not HintKind.DEFAULT and not self.text.strip():
            raise ValidationError("hint.text", self.text, f"required for a {self.kind.value} hint")
        if len(self.text) > 2000:
            raise ValidationError("hint.text", self.text[:40] + "...", "at most 2000 characters")


@dataclass(frozen=True, kw_only=True, slots=True)
class Rule:
    """An auto-callback rule (R4)."""

    name: str
    place: LossPlace = LossPlace.ANY
    place_value: str | None = None  #: the number / scenario / site; None for any / transfer
    strategy: StrategyKind
    target: str | None = None  #: group / employee / scenario name or number (STRATEGY_TARGET)
    hint: Hint = field(default_factory=Hint)
    callback_schedule: str | None = None  #: schedule name; None = any time
    applies_schedule: str | None = None  #: schedule name; None = always applies
    intervals: tuple[int, ...] = (0,)  #: seconds; 1..5 of them (R8)
    min_wait_s: int = 0  #: R9: 0..60, must be 0 for transfer rules
    max_concurrent: int = 1  #: R10: 1..5
    enabled: bool = True
    position: int = 0  #: lower = higher priority (R11)

    def __post_init__(self) -> None:
        _check_name("rule.name", self.name)
        try:
            object.__setattr__(self, "place", LossPlace(self.place))
        except ValueError:
            raise ValidationError("rule.place", self.place, f"one of {[p.value for p in LossPlace]}") from None
        object.__setattr__(self, "strategy", strategy_kind(self.strategy))
        if isinstance(self.intervals, list):
            object.__setattr__(self, "intervals", tuple(self.intervals))
        self._check_place()
        self._check_target()
        self._check_limits()

    def _check_place(self) -> None:
        if self.place in (LossPlace.ANY, LossPlace.TRANSFER, LossPlace.REQUEST):
            if self.place_value not in (None, ""):
                raise ValidationError(
                    "rule.place_value", self.place_value, f"must be empty for place {self.place.value!r}"
                )
            object.__setattr__(self, "place_value", None)
            return
        if not self.place_value:
            raise ValidationError("rule.place_value", self.place_value, f"required for place {self.place.value!r}")
        if self.place is LossPlace.NUMBER:
            validate_number(self.place_value, "rule.place_value")
        else:
            _check_ident("rule.place_value", self.place_value)

    def _check_target(self) -> None:
        needed = STRATEGY_TARGET.get(self.strategy, "plugin")
        if needed == "plugin":
            # a third-party strategy: its target (if any) is its own business, but it is
            # still a plain name, never dial-string syntax
            if self.target:
                _check_name("rule.target", self.target)
            return
        if needed is None:
            if self.target not in (None, ""):
                raise ValidationError(
                    "rule.target", self.target, f"must be empty for strategy {self.strategy.value!r}"
                )
            object.__setattr__(self, "target", None)
        elif not self.target:
            raise ValidationError("rule.target", self.target, f"{with_article(needed)} is required for strategy {self.strategy.value!r}")
        elif needed == "number":
            validate_number(self.target, "rule.target")
        else:
            _check_name("rule.target", self.target)

    def _check_limits(self) -> None:
        iv = self.intervals
        if not isinstance(iv, tuple) or not 1 <= len(iv) <= MAX_INTERVALS:
            raise ValidationError("rule.intervals", iv, f"1 to {MAX_INTERVALS} retry intervals")
        for i, s in enumerate(iv):
            if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s <= MAX_INTERVAL_S:
                raise ValidationError(f"rule.intervals[{i}]", s, f"whole seconds, 0..{MAX_INTERVAL_S}")
        mw = self.min_wait_s
        if not isinstance(mw, int) or isinstance(mw, bool) or not 0 <= mw <= MAX_MIN_WAIT_S:
            raise ValidationError("rule.min_wait_s", mw, f"0..{MAX_MIN_WAIT_S} seconds")
        if self.place is LossPlace.TRANSFER and mw != 0:
            raise ValidationError("rule.min_wait_s", mw, "not applicable to loss place 'transfer': must be 0")
        if self.place is LossPlace.REQUEST and mw != 0:
            # a customer who asked for a callback waited as long as they meant to
            raise ValidationError("rule.min_wait_s", mw, "not applicable to loss place 'request': must be 0")
        mc = self.max_concurrent
        if not isinstance(mc, int) or isinstance(mc, bool) or not MIN_CONCURRENCY <= mc <= MAX_CONCURRENCY:
            raise ValidationError(
                "rule.max_concurrent", mc, f"{MIN_CONCURRENCY}..{MAX_CONCURRENCY} simultaneous calls"
            )
        if not isinstance(self.enabled, bool):
            raise ValidationError("rule.enabled", self.enabled, "true or false")

    def evolve(self, **changes: Any) -> Rule:
        return replace(self, **changes)

    def uses(self) -> list[tuple[str, str]]:
        """(entity kind, name) pairs this rule refers to (for R13)."""
        out: list[tuple[str, str]] = []
        if self.place is LossPlace.NUMBER and self.place_value:
            out.append(("virtual_number", self.place_value))
        elif self.place is LossPlace.SCENARIO and self.place_value:
            out.append(("scenario", self.place_value))
        elif self.place is LossPlace.SITE and self.place_value:
            out.append(("site", self.place_value))
        kind = STRATEGY_TARGET.get(self.strategy)
        if kind in ("group", "employee", "scenario") and self.target:
            out.append((kind, self.target))
        for s in (self.callback_schedule, self.applies_schedule):
            if s:
                out.append(("schedule", s))
        return out


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    enabled: bool = True  #: the master switch (R16)
