"""The dial-strategy interface (R5) and the plan values every strategy produces.

Rules: a strategy is pure — a function of (rule, catalog snapshot, lost call, attempt
number, dial settings) with no I/O, no clock and no switch. It returns a ``DialPlan``
(ordered ``DialStep``s: who rings together and for how long) or a ``ScenarioHandoff``
(R5g), or raises a ``StrategyError`` whose ``outcome`` the call flow records as the
attempt's outcome without dialling anything (R5e ``NoEmployeeCalls``, a missing target,
a hostile endpoint). Every endpoint is validated when a ``DialStep`` is built, so an
unvalidated string can never be part of a plan (D5); numbers go through
``validate_number`` before they are formatted into the external dial template.
"""

from __future__ import annotations

import abc
import logging
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from fsworker.core.errors import FsworkerError, ValidationError, with_article
from fsworker.core.numbers import bare_endpoint, validate_endpoint, validate_number
from fsworker.core.outcomes import AttemptOutcome

if TYPE_CHECKING:
    from fsworker.core.calls import LostCall
    from fsworker.core.catalog import Catalog
    from fsworker.core.model import Employee, Rule

log = logging.getLogger(__name__)

MAX_RING_TIMEOUT_S = 600  # ten minutes of ringing is a misconfiguration, not a policy
MAX_STEP_ENDPOINTS = 50  # one originate with more legs than this is a mistake
MAX_STEPS = 100
# What a dialplan extension / context / gateway name may contain: it ends up in an ESL
# command ("transfer <ext> XML <context>", "sofia/gateway/<gw>/..."), so no spaces,
# separators or braces.
_IDENT_RE = re.compile(r"[A-Za-z0-9_.+\-@:]{1,100}")
_TEMPLATE_FIELDS = frozenset({"number", "gateway"})


# --------------------------------------------------------------------------- errors


class StrategyError(FsworkerError):
    """A strategy could not produce a plan; no call is placed.

    ``outcome`` is what the call flow records for the attempt (R19).
    """

    outcome: ClassVar[AttemptOutcome] = AttemptOutcome.TARGET_NOT_FOUND


class NoEmployeeCalls(StrategyError):
    """R5e: the lost call tried nobody, so there is nobody to ring back."""

    outcome = AttemptOutcome.NO_EMPLOYEE_CALLS_FOUND

    def __init__(self, call_uuid: str, strategy: str) -> None:
        self.call_uuid = call_uuid
        self.strategy = strategy
        super().__init__(f"call {call_uuid}: strategy {strategy!r}: no employee calls found")


class TargetNotFoundError(StrategyError):
    """The rule's (or the campaign's) target is not in the catalog, or the call does
    not carry what the strategy needs (e.g. no fsw_campaign)."""

    outcome = AttemptOutcome.TARGET_NOT_FOUND

    def __init__(self, field: str, value: object, detail: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field}: {value!r}: {detail}")


class InvalidEndpointError(StrategyError, ValidationError):
    """An endpoint or number that would reach a dial string failed validation (D5)."""

    outcome = AttemptOutcome.INVALID_ENDPOINT


class UnknownStrategyError(FsworkerError, LookupError):
    """No strategy is registered under this kind."""

    def __init__(self, kind: str, known: Iterable[str]) -> None:
        self.kind = kind
        super().__init__(f"strategy {kind!r} is not registered; known: {sorted(known)}")


# --------------------------------------------------------------------------- values


def checked_endpoint(value: object, field: str = "endpoint") -> str:
    """``validate_endpoint`` re-raised as a strategy error the flow can record."""
    try:
        return validate_endpoint(value, field)
    except ValidationError as exc:
        raise InvalidEndpointError(exc.field, exc.value, exc.limit) from exc


def checked_recorded_endpoint(value: object, field: str = "endpoint") -> str:
    """``bare_endpoint`` re-raised as a strategy error the flow can record."""
    try:
        return bare_endpoint(value, field)
    except ValidationError as exc:
        raise InvalidEndpointError(exc.field, exc.value, exc.limit) from exc


def _check_ident(field: str, value: object) -> str:
    if not isinstance(value, str) or not _IDENT_RE.fullmatch(value):
        raise ValidationError(field, value, "letters, digits and . _ + - @ : only, 1..100")
    return value


def _check_timeout(value: object, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_RING_TIMEOUT_S:
        raise ValidationError(field, value, f"whole seconds, 1..{MAX_RING_TIMEOUT_S}")
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class DialSettings:
    """What strategies need beyond the rule: timeouts and how to reach a number.

    ``external_dial_template`` turns a validated number into an endpoint; only the
    ``{number}`` and ``{gateway}`` fields exist. The call flow uses the same template
    (``external_endpoint``) for the customer leg.
    """

    default_ring_timeout_s: int = 30
    external_dial_template: str = "sofia/gateway/{gateway}/{number}"
    gateway: str = "default"
    #: last-attempted (R5e): the step width when no tried employee is in any group
    default_max_lines: int = 3
    #: how a stored number (an identity, E.164 under a region) is written into the
    #: template: [callback] dial_number_format; validated again after it
    dial_number: Callable[[str], str] = field(default=lambda n: n, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_timeout(self.default_ring_timeout_s, "dial.default_ring_timeout_s")
        _check_ident("dial.gateway", self.gateway)
        ml = self.default_max_lines
        if not isinstance(ml, int) or isinstance(ml, bool) or not 1 <= ml <= MAX_STEP_ENDPOINTS:
            raise ValidationError("dial.default_max_lines", ml, f"an integer 1..{MAX_STEP_ENDPOINTS}")
        tpl = self.external_dial_template
        try:
            fields = {f for _, f, spec, conv in string.Formatter().parse(tpl) if f is not None}
            bad_spec = any((spec or conv) for _, f, spec, conv in string.Formatter().parse(tpl) if f)
        except (ValueError, TypeError) as exc:
            raise ValidationError("dial.external_dial_template", tpl, f"a format string: {exc}") from None
        if "number" not in fields or not fields <= _TEMPLATE_FIELDS or bad_spec:
            raise ValidationError(
                "dial.external_dial_template",
                tpl,
                "must contain {number} and may contain {gateway}; no other fields, specs or conversions",
            )
        # The literal parts must form an endpoint too: check with sample values.
        validate_endpoint(tpl.format(number="79160000000", gateway=self.gateway), "dial.external_dial_template")

    def external_endpoint(self, number: object, field: str = "number") -> str:
        """The endpoint that dials ``number`` outside (validated first, D5)."""
        try:
            number = validate_number(self.dial_number(validate_number(number, field)), field)
        except ValidationError as exc:
            raise InvalidEndpointError(exc.field, exc.value, exc.limit) from exc
        return checked_endpoint(
            self.external_dial_template.format(number=number, gateway=self.gateway), field
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class DialStep:
    """Endpoints that ring together (one originate), for ``ring_timeout_s`` seconds.
    When one answers, the others stop; when none answers, the next step starts."""

    endpoints: tuple[str, ...]
    ring_timeout_s: int
    label: str = ""  #: for logs: who this step is ("group sales 1/2", "transferrer")

    def __post_init__(self) -> None:
        if isinstance(self.endpoints, (list, str)):
            eps = [self.endpoints] if isinstance(self.endpoints, str) else self.endpoints
            object.__setattr__(self, "endpoints", tuple(eps))
        if not self.endpoints or len(self.endpoints) > MAX_STEP_ENDPOINTS:
            raise ValidationError("step.endpoints", self.endpoints, f"1..{MAX_STEP_ENDPOINTS} endpoints")
        for i, ep in enumerate(self.endpoints):
            checked_endpoint(ep, f"step.endpoints[{i}]")
        if len(set(self.endpoints)) != len(self.endpoints):
            raise ValidationError("step.endpoints", self.endpoints, "endpoints must be distinct")
        _check_timeout(self.ring_timeout_s, "step.ring_timeout_s")


@dataclass(frozen=True, kw_only=True, slots=True)
class DialPlan:
    """Ordered steps; the first step whose leg answers wins (R1)."""

    steps: tuple[DialStep, ...]
    strategy: str  #: the kind that produced it, for logs and metrics

    def __post_init__(self) -> None:
        if isinstance(self.steps, list):
            object.__setattr__(self, "steps", tuple(self.steps))
        if not self.steps or len(self.steps) > MAX_STEPS:
            raise ValidationError("plan.steps", len(self.steps), f"1..{MAX_STEPS} steps")

    @property
    def endpoints(self) -> list[tuple[str, ...]]:
        """Each step's endpoints (handy in tests and logs)."""
        return [s.endpoints for s in self.steps]


@dataclass(frozen=True, kw_only=True, slots=True)
class ScenarioHandoff:
    """R5g: hand the callback to a dialplan extension instead of ringing employees."""

    extension: str
    context: str = "default"
    scenario: str = ""  #: the scenario's name, for logs
    strategy: str = "scenario"

    def __post_init__(self) -> None:
        _check_ident("handoff.extension", self.extension)
        _check_ident("handoff.context", self.context)


Plan = DialPlan | ScenarioHandoff


# --------------------------------------------------------------------------- interface


class Strategy(abc.ABC):
    """One dial strategy. Subclasses set ``kind`` and implement ``plan``.

    A third-party strategy subclasses this (or just provides ``kind`` and ``plan``)
    and is registered with ``fsworker.core.strategies.registry.register`` or through the
    ``fsworker.core.strategies`` entry-point group.
    """

    kind: ClassVar[str]

    @abc.abstractmethod
    def plan(
        self,
        *,
        rule: Rule,
        catalog: Catalog,
        call: LostCall,
        attempt: int,
        settings: DialSettings,
    ) -> Plan:
        """The plan for attempt number ``attempt`` (1-based) of ``call`` under ``rule``."""


# --------------------------------------------------------------------------- helpers


def dedupe(endpoints: Iterable[str]) -> tuple[str, ...]:
    """Distinct endpoints, first occurrence wins (order is ring order)."""
    return tuple(dict.fromkeys(endpoints))


def employee_endpoints(employee: Employee) -> tuple[str, ...]:
    return tuple(checked_endpoint(ep, f"employee[{employee.name}].endpoints") for ep in employee.endpoints)


def _dehost(endpoint: str) -> str:
    return endpoint.split("@", 1)[0]


def _user(endpoint: str) -> str:
    return _dehost(endpoint).rsplit("/", 1)[-1]


def redial_endpoint(recorded: str, employee: str | None, catalog: Catalog, field: str) -> str:
    """How to ring again someone the switch rang: a known employee through their
    configured endpoint (a registered phone's contact in the recorded channel name can
    change; the configured ``user/101`` keeps working), preferring the configured one
    that matches what was rung; anyone else through the recorded endpoint, bare: SIP URI
    parameters (``;fs_path=...``) are dropped (``bare_endpoint``)."""
    recorded = checked_recorded_endpoint(recorded, field)  # a hostile one fails loudly either way
    emp = catalog.employee_by_name.get(employee) if employee else None
    if emp is None:
        emp = catalog.employee_by_endpoint.get(recorded) or catalog.employee_by_endpoint.get(_dehost(recorded))
    if emp is None:
        return recorded
    configured = employee_endpoints(emp)
    for match in (lambda ep: ep == recorded, lambda ep: _dehost(ep) == _dehost(recorded),
                  lambda ep: _user(ep) == _user(recorded)):
        for ep in configured:
            if match(ep):
                return ep
    return configured[0]


def lookup(table: dict, name: object, field: str, what: str) -> object:
    """A catalog entity by name, or a ``TargetNotFoundError`` naming the field."""
    if not isinstance(name, str) or not name:
        raise TargetNotFoundError(field, name, f"{with_article(what)} name is required")
    try:
        return table[name]
    except KeyError:
        raise TargetNotFoundError(field, name, f"no such {what} in the catalog") from None
