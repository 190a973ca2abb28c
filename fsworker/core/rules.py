"""The rule engine: which rule (if any) takes a lost call (R7, R9, R11, R14, R16-R18, D1, D5).

Rules: pure — ``decide(catalog, call, facts)`` reads a Catalog snapshot, the lost call
and facts the caller looked up (open task, contact since the loss); no I/O, no clock
(the applies-schedule is matched against ``call.lost_at``). The order of checks is
fixed and documented in ``decide``; every Decision says why, rule by rule, so
``fsworker simulate`` can explain it.

Decisions where the spec is silent:
- R9: the *first* enabled rule whose loss place and applies-schedule match owns the
  call. If the customer waited less than that rule's minimum wait, the call is
  skipped (WAITED_TOO_LITTLE) and later rules are NOT tried: otherwise a catch-all
  rule below would call back exactly the short calls the operator asked to drop.
- R9 / transfer: a call lost in a transfer is never skipped for waiting too little,
  whatever rule matches it (the customer already spoke to an employee; the wait is
  not a misdial signal). Transfer rules cannot even set a minimum wait (model).
- D1: a lost call from a number with an open task joins that task: Accept with
  ``join_task`` set and ``rule`` = the open task's rule when the caller names it. The
  task keeps its rule, its attempt count and its due time (no re-plan); the rule
  checks below D1 (place, applies-schedule, min wait) do not apply to a joining call,
  but the ones above it do (switch off, ignored, bad number, blacklist, reached).
- Numbers are compared exactly as given (blacklist, virtual numbers): whoever takes a
  number in (intake, CLI, import) has already turned it into its identity with the
  configured NumberPlan (E.164 under a region). A caller "number" that is no phone
  number arrives as ``IntakeFacts.number_problem`` and is skipped with its own reason.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Hashable
from dataclasses import dataclass

from fsworker.core.calls import LossPlace, LostCall
from fsworker.core.catalog import Catalog
from fsworker.core.model import Rule
from fsworker.core.numbering import NumberProblem
from fsworker.core.numbers import is_valid_number
from fsworker.core.outcomes import SkipReason
from fsworker.core.schedule import is_open

log = logging.getLogger(__name__)

TaskRef = Hashable  #: whatever identifies a task in the store (an int id, a UUID)

#: The skip recorded (and counted in fsworker_skips_total) for each kind of non-number.
NUMBER_SKIPS: dict[NumberProblem, SkipReason] = {
    NumberProblem.WITHHELD: SkipReason.WITHHELD_NUMBER,
    NumberProblem.NOT_A_NUMBER: SkipReason.NOT_A_NUMBER,
    NumberProblem.TOO_SHORT: SkipReason.NUMBER_TOO_SHORT,
    NumberProblem.TOO_LONG: SkipReason.NUMBER_TOO_LONG,
    NumberProblem.UNKNOWN_COUNTRY: SkipReason.UNKNOWN_COUNTRY_CODE,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class IntakeFacts:
    """What the caller knows about this customer beyond the catalog."""

    blacklisted: bool = False  #: extra blacklist source; the catalog's list is always checked too (R18)
    open_task: TaskRef | None = None  #: the open task for this customer number, if any (D1)
    open_task_rule: str | None = None  #: that task's rule name, when known (D1)
    reached_since_loss: bool = False  #: a contact was made after the loss (R17)
    ignored: bool = False  #: fsw_ignore=true on the call (D4)
    number_problem: NumberProblem | None = None  #: the caller number is no phone number of the region


class Verdict(enum.StrEnum):
    """How one rule fared against one lost call."""

    MATCHED = "matched"  #: this rule takes the call
    DISABLED = "disabled"  #: R14: a disabled rule takes no new calls
    PLACE_MISMATCH = "place_mismatch"  #: the loss place differs
    NOT_APPLICABLE_AT_LOSS = "not_applicable_at_loss"  #: R7: applies-schedule closed at lost_at
    UNKNOWN_SCHEDULE = "unknown_schedule"  #: the applies-schedule is not in the catalog
    WAITED_TOO_LITTLE = "waited_too_little"  #: R9: matched, but the wait was too short
    NOT_REACHED = "not_reached"  #: an earlier rule already decided


@dataclass(frozen=True, kw_only=True, slots=True)
class RuleCheck:
    rule: str
    position: int
    verdict: Verdict
    detail: str = ""

    def __str__(self) -> str:
        tail = f": {self.detail}" if self.detail else ""
        return f"#{self.position} {self.rule!r} {self.verdict.value}{tail}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Accept:
    """Create a task under ``rule`` — or, with ``join_task``, join that open task (D1)."""

    rule: Rule | None  #: None only when joining a task whose rule is not known/in the catalog
    join_task: TaskRef | None = None
    detail: str = ""
    considered: tuple[RuleCheck, ...] = ()

    @property
    def joins(self) -> bool:
        return self.join_task is not None

    def explain(self) -> list[str]:
        head = f"join task {self.join_task!r}" if self.joins else f"accept: rule {self.rule.name!r}" if self.rule else "accept"
        return [head + (f" ({self.detail})" if self.detail else "")] + [f"  {c}" for c in self.considered]


@dataclass(frozen=True, kw_only=True, slots=True)
class Skip:
    """No task: the lost call is recorded with ``reason``."""

    reason: SkipReason
    detail: str = ""
    rule: Rule | None = None  #: the rule that matched but skipped (R9), else None
    considered: tuple[RuleCheck, ...] = ()

    def explain(self) -> list[str]:
        return [f"skip: {self.reason.value}" + (f" ({self.detail})" if self.detail else "")] + [
            f"  {c}" for c in self.considered
        ]


Decision = Accept | Skip


def place_matches(rule: Rule, call: LostCall) -> bool:
    """Does the rule's loss place cover where the call was lost?"""
    if rule.place is LossPlace.ANY:
        return True
    if rule.place is LossPlace.NUMBER:
        return call.virtual_number is not None and call.virtual_number == rule.place_value
    if rule.place is LossPlace.SCENARIO:
        return call.scenario is not None and call.scenario == rule.place_value
    if rule.place is LossPlace.SITE:
        return call.site is not None and call.site == rule.place_value
    if rule.place is LossPlace.TRANSFER:
        return call.lost_in_transfer or call.place is LossPlace.TRANSFER
    if rule.place is LossPlace.REQUEST:
        return call.place is LossPlace.REQUEST
    return False


def _in_transfer(call: LostCall) -> bool:
    return call.lost_in_transfer or call.place is LossPlace.TRANSFER


def check_rule(catalog: Catalog, rule: Rule, call: LostCall) -> RuleCheck:
    """One rule against one call, in the order: enabled, place, applies-schedule, wait."""

    def verdict(v: Verdict, detail: str = "") -> RuleCheck:
        return RuleCheck(rule=rule.name, position=rule.position, verdict=v, detail=detail)

    if not rule.enabled:
        return verdict(Verdict.DISABLED)
    if not place_matches(rule, call):
        return verdict(Verdict.PLACE_MISMATCH, f"rule wants {rule.place.value} {rule.place_value or ''}".rstrip())
    if rule.applies_schedule is not None:
        schedule = catalog.schedule_by_name.get(rule.applies_schedule)
        if schedule is None:
            log.warning("call %s: rule %r names unknown applies-schedule %r", call.call_uuid, rule.name, rule.applies_schedule)
            return verdict(Verdict.UNKNOWN_SCHEDULE, rule.applies_schedule)
        if not is_open(schedule, call.lost_at):
            return verdict(Verdict.NOT_APPLICABLE_AT_LOSS, f"{rule.applies_schedule} closed at {call.lost_at.isoformat()}")
    if rule.min_wait_s and not _in_transfer(call) and call.place is not LossPlace.REQUEST \
            and call.waited_s < rule.min_wait_s:
        return verdict(Verdict.WAITED_TOO_LITTLE, f"waited {call.waited_s:g} s < {rule.min_wait_s} s")
    return verdict(Verdict.MATCHED)


def match_rules(catalog: Catalog, call: LostCall) -> tuple[Rule | None, tuple[RuleCheck, ...]]:
    """The first rule (by position) whose place and applies-schedule match, and the
    checks made. The returned rule may have verdict WAITED_TOO_LITTLE (see R9 above)."""
    checks: list[RuleCheck] = []
    found: Rule | None = None
    for rule in catalog.ordered_rules():
        if found is not None:
            checks.append(RuleCheck(rule=rule.name, position=rule.position, verdict=Verdict.NOT_REACHED))
            continue
        check = check_rule(catalog, rule, call)
        checks.append(check)
        if check.verdict in (Verdict.MATCHED, Verdict.WAITED_TOO_LITTLE):
            found = rule
    return found, tuple(checks)


def decide(catalog: Catalog, call: LostCall, facts: IntakeFacts | None = None) -> Decision:
    """Decide what to do with a lost call. Order of checks:

    1. master switch off (R16) -> Skip MASTER_SWITCH_OFF
    2. fsw_ignore on the call -> Skip IGNORED
    3. customer number no phone number of the region (``facts.number_problem``) -> Skip
       WITHHELD_NUMBER / NOT_A_NUMBER / NUMBER_TOO_SHORT / ..., else not dialable (D5)
       -> Skip INVALID_NUMBER
    4. blacklisted, in the catalog or per ``facts`` (R18) -> Skip BLACKLISTED
    5. customer reached since the loss (R17) -> Skip ALREADY_REACHED
    6. an open task for this number (D1) -> Accept(join_task=...)
    7. the first enabled rule by position (R11, R14) whose loss place matches and whose
       applies-schedule contains lost_at (R7): Accept, or Skip WAITED_TOO_LITTLE if it
       demands a longer wait (R9); no such rule -> Skip NO_RULE.
    """
    facts = facts or IntakeFacts()
    uuid = call.call_uuid
    if not catalog.settings.enabled:
        return _skip(uuid, SkipReason.MASTER_SWITCH_OFF, "auto-callback is switched off")
    if facts.ignored:
        return _skip(uuid, SkipReason.IGNORED, "fsw_ignore is set on the call")
    if facts.number_problem is not None:
        return _skip(uuid, NUMBER_SKIPS[facts.number_problem],
                     f"caller number {call.customer_number!r} is not a phone number: {facts.number_problem.value}")
    if not is_valid_number(call.customer_number):
        return _skip(uuid, SkipReason.INVALID_NUMBER, f"caller number {call.customer_number!r} cannot be dialled")
    if facts.blacklisted or call.customer_number in catalog.blacklisted_numbers:
        return _skip(uuid, SkipReason.BLACKLISTED, f"{call.customer_number} is blacklisted")
    if facts.reached_since_loss:
        return _skip(uuid, SkipReason.ALREADY_REACHED, "the customer was reached after the loss")

    rule, checks = match_rules(catalog, call)
    if facts.open_task is not None:
        task_rule = catalog.rule_by_name.get(facts.open_task_rule) if facts.open_task_rule else None
        log.info("call %s: joins open task %r of %s (D1)", uuid, facts.open_task, call.customer_number)
        return Accept(
            rule=task_rule,
            join_task=facts.open_task,
            detail=f"open task for {call.customer_number} continues under its rule",
            considered=checks,
        )
    if rule is None:
        return _skip(uuid, SkipReason.NO_RULE, "no enabled rule matches place and time of loss", considered=checks)
    last = next(c for c in checks if c.verdict in (Verdict.MATCHED, Verdict.WAITED_TOO_LITTLE))
    if last.verdict is Verdict.WAITED_TOO_LITTLE:
        return _skip(uuid, SkipReason.WAITED_TOO_LITTLE, f"rule {rule.name!r}: {last.detail}", rule=rule, considered=checks)
    log.info("call %s: accepted by rule %r", uuid, rule.name)
    return Accept(rule=rule, detail=f"first matching rule (position {rule.position})", considered=checks)


def _skip(uuid: str, reason: SkipReason, detail: str, *, rule: Rule | None = None,
          considered: tuple[RuleCheck, ...] = ()) -> Skip:
    log.info("call %s: skipped, %s: %s", uuid, reason.value, detail)
    return Skip(reason=reason, detail=detail, rule=rule, considered=considered)


def takeover(catalog: Catalog, call: LostCall, current_rule: str) -> Rule | None:
    """R12: an enabled rule of higher priority than ``current_rule`` that would take
    ``call`` now, or None. The task then moves to it (replan with planner.replan).
    A task whose rule was merely edited or disabled stays with it (R14)."""
    rule, _checks = match_rules(catalog, call)
    if rule is None or rule.name == current_rule:
        return None
    current = catalog.rule_by_name.get(current_rule)
    ordered = [r.name for r in catalog.ordered_rules()]
    if current is not None and ordered.index(rule.name) > ordered.index(current.name):
        return None
    if check_rule(catalog, rule, call).verdict is not Verdict.MATCHED:
        return None
    return rule
