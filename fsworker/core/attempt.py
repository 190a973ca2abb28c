"""The decisions of one callback attempt: what to dial (``prepare_attempt``) and what a
switch's originate answer means.

Rules:
- Pure: values in, values out. No I/O, no clock, no switch, no store; the dispatcher
  and the call flow act on what is decided here. Dial strings are not built here: the
  caller passes in the builders (``customer_endpoint``, ``scenario_endpoint``), so the
  wire format stays with the ESL command builders.
- An attempt that cannot be made says why (``NotDialled``, with its reason) instead
  of raising: the dispatcher records it like any other attempt.
- The customer's originate failure causes map to outcomes in one table,
  ``CUSTOMER_FAILURE_OUTCOMES``; a cause it does not list is the switch's or the
  network's fault (``SWITCH_ERROR``), never the customer's.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from fsworker.core.calls import LostCall
from fsworker.core.catalog import Catalog
from fsworker.core.errors import FsworkerError
from fsworker.core.model import Rule
from fsworker.core.numbers import is_valid_number, validate_number
from fsworker.core.outcomes import AttemptOutcome, TaskEndReason
from fsworker.core.prompts import HintFacts, PromptAction, PromptSettings, render_hint
from fsworker.core.strategies import DialPlan, DialSettings, DialStep, ScenarioHandoff, StrategyError, get_strategy

#: The cause given when a failed originate names none.
UNKNOWN_CAUSE = "UNKNOWN"

#: Outcome of the customer's leg per originate failure cause (BACKGROUND_JOB
#: "-ERR <CAUSE>"): busy and no-answer are retried by the rule's intervals, a rejected
#: number is the customer's line refusing us.
CUSTOMER_FAILURE_OUTCOMES: Mapping[str, AttemptOutcome] = MappingProxyType({
    "USER_BUSY": AttemptOutcome.CUSTOMER_BUSY,
    "NO_ANSWER": AttemptOutcome.CUSTOMER_NO_ANSWER,
    "ALLOTTED_TIMEOUT": AttemptOutcome.CUSTOMER_NO_ANSWER,
    "NO_USER_RESPONSE": AttemptOutcome.CUSTOMER_NO_ANSWER,
    "RECOVERY_ON_TIMER_EXPIRE": AttemptOutcome.CUSTOMER_NO_ANSWER,
    "PROGRESS_TIMEOUT": AttemptOutcome.CUSTOMER_NO_ANSWER,
    "CALL_REJECTED": AttemptOutcome.CUSTOMER_REJECTED,
    "UNALLOCATED_NUMBER": AttemptOutcome.CUSTOMER_REJECTED,
    "INVALID_NUMBER_FORMAT": AttemptOutcome.CUSTOMER_REJECTED,
    "NO_ROUTE_DESTINATION": AttemptOutcome.CUSTOMER_REJECTED,
    "NUMBER_CHANGED": AttemptOutcome.CUSTOMER_REJECTED,
    "USER_NOT_REGISTERED": AttemptOutcome.CUSTOMER_REJECTED,
    "SUBSCRIBER_ABSENT": AttemptOutcome.CUSTOMER_REJECTED,
})


#: Employee originate failures that a switch shutting down gives (tests/data/esl-traces/
#: NOTES.md, "`freeswitch -stop` with calls up") while its Event Socket still answers for
#: a moment: its SIP profile is gone (DESTINATION_OUT_OF_ORDER), then mod_sofia itself
#: (CHAN_NOT_IMPLEMENTED: no "sofia" endpoint any more), or its core says so
#: (SYSTEM_SHUTDOWN). A dead phone or a missing module on a live switch gives the same
#: causes: only the link dropping soon after tells the two apart (the call flow watches).
SWITCH_GOING_AWAY_CAUSES: frozenset[str] = frozenset(
    {"DESTINATION_OUT_OF_ORDER", "CHAN_NOT_IMPLEMENTED", "SYSTEM_SHUTDOWN"})


def originate_failure_cause(result: str) -> str | None:
    """The hangup cause of a failed originate ("-ERR USER_BUSY" -> "USER_BUSY"); None
    when the originate succeeded ("+OK <uuid>")."""
    result = result.strip()
    if result.startswith("+OK"):
        return None
    return result.removeprefix("-ERR").strip() or UNKNOWN_CAUSE


def customer_failure_outcome(cause: str) -> AttemptOutcome:
    """What a failed customer originate means for the attempt (see the table)."""
    return CUSTOMER_FAILURE_OUTCOMES.get(cause, AttemptOutcome.SWITCH_ERROR)


# -- before dialling ---------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, slots=True)
class AttemptSettings:
    """What preparing an attempt needs beyond the task, the rule and the catalog."""

    dial: DialSettings
    prompt: PromptSettings
    hint_timezone: str = "UTC"
    #: shown to the customer when the number they dialled is unknown or not a number
    fallback_caller_id: str | None = None
    #: a validated customer number -> its dial-string endpoint (raises if invalid)
    customer_endpoint: Callable[[str], str]
    #: a scenario handoff (R5g) -> the endpoint that enters its dialplan extension
    scenario_endpoint: Callable[[ScenarioHandoff], str]
    #: how a stored (E.164) number is written to the switch as a caller ID
    #: ([callback] dial_number_format)
    dial_number: Callable[[str], str] = lambda n: n


class NotDialledReason(enum.StrEnum):
    """Why an attempt ends before anything is dialled."""

    RULE_GONE = "rule_gone"  #: the task's rule was deleted (R15): the task ends
    NO_LOST_CALL = "no_lost_call"  #: the task has no lost call to call back: the task ends
    NO_PLAN = "no_plan"  #: the strategy found nobody to ring (its outcome is recorded)
    INVALID_NUMBER = "invalid_number"  #: the customer's number or caller ID cannot be dialled


@dataclass(frozen=True, kw_only=True, slots=True)
class NotDialled:
    """The attempt ends without dialling; ``end`` set means the task ends with it."""

    reason: NotDialledReason
    outcome: AttemptOutcome
    detail: str  #: recorded with the attempt
    why: str  #: for the log, in the operator's words
    lost: LostCall | None = None
    end: TaskEndReason | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PreparedAttempt:
    """Everything the call flow needs to place the attempt."""

    lost: LostCall  #: the latest lost call of the task: the one the hint speaks of
    plan: DialPlan
    customer_endpoint: str
    caller_id: str  #: what the customer sees: the number they dialled (D2)
    employee_caller_id: str  #: what the employee sees: the customer's number (D2)
    prompt: PromptAction


def latest_lost_call(lost_calls: Sequence[LostCall]) -> LostCall | None:
    return max(lost_calls, key=lambda c: c.lost_at) if lost_calls else None


def prepare_attempt(
    *,
    rule: Rule | None,
    catalog: Catalog,
    lost_calls: Sequence[LostCall],
    attempt: int,
    customer_number: str,
    settings: AttemptSettings,
    task_id: int | None = None,
) -> PreparedAttempt | NotDialled:
    """What attempt ``attempt`` of a task dials, or why it dials nothing."""
    lost = latest_lost_call(lost_calls)
    if rule is None or lost is None:
        reason = NotDialledReason.RULE_GONE if rule is None else NotDialledReason.NO_LOST_CALL
        why = "its rule is gone" if rule is None else "no lost call"
        return NotDialled(reason=reason, outcome=AttemptOutcome.SWITCH_ERROR, detail="rule deleted",
                          why=f"{why}; ending the task", lost=lost, end=TaskEndReason.CANCELLED_RULE_DELETED)
    try:
        planned = get_strategy(rule.strategy).plan(
            rule=rule, catalog=catalog, call=lost, attempt=attempt, settings=settings.dial
        )
    except StrategyError as exc:
        return NotDialled(reason=NotDialledReason.NO_PLAN, outcome=exc.outcome, detail=str(exc),
                          why=f"no call placed for lost call {lost.call_uuid}: {exc}", lost=lost)
    plan = dial_plan(planned, settings)
    try:
        customer_endpoint = settings.customer_endpoint(customer_number)
        caller_id = settings.dial_number(customer_caller_id(lost_calls, settings.fallback_caller_id))
        employee_caller_id = settings.dial_number(customer_number)
    except FsworkerError as exc:
        return NotDialled(reason=NotDialledReason.INVALID_NUMBER, outcome=AttemptOutcome.INVALID_NUMBER,
                          detail=str(exc), why=f"cannot dial customer {customer_number!r}: {exc}", lost=lost)
    prompt = render_hint(
        rule.hint,
        HintFacts.from_call(lost, rule_name=rule.name, attempt=attempt, tz=settings.hint_timezone, task_id=task_id),
        settings.prompt,
    )
    return PreparedAttempt(lost=lost, plan=plan, customer_endpoint=customer_endpoint,
                           caller_id=caller_id, employee_caller_id=employee_caller_id, prompt=prompt)


def customer_caller_id(lost_calls: Sequence[LostCall] | LostCall, fallback: str | None) -> str:
    """The number the customer sees (D2): the one they dialled last, else ``fallback``.
    A lost call that names no number (a callback asked for over HTTP without
    ``company_number`` that joined the task) does not hide an earlier one that does.
    Raises InvalidNumberError when none is a number."""
    calls = [lost_calls] if isinstance(lost_calls, LostCall) else sorted(lost_calls, key=lambda c: c.lost_at,
                                                                             reverse=True)
    caller_id = next((c.virtual_number for c in calls if is_valid_number(c.virtual_number)),
                     calls[0].virtual_number if calls else "") or ""
    if fallback and not is_valid_number(caller_id):
        # The number dialled is unknown or not a number (it came from the switch's
        # variables): show the configured one rather than not call back.
        caller_id = fallback
    return validate_number(caller_id, "customer caller ID (the number the customer dialled, D2)")


def dial_plan(planned: DialPlan | ScenarioHandoff, settings: AttemptSettings) -> DialPlan:
    """R5g with R1 kept: a scenario's own dialplan rings the employees through one
    leg entering its extension; whoever answers there hears the hint, then the customer."""
    if isinstance(planned, DialPlan):
        return planned
    return DialPlan(
        steps=(DialStep(endpoints=(settings.scenario_endpoint(planned),),
                        ring_timeout_s=settings.dial.default_ring_timeout_s, label=f"scenario {planned.scenario}"),),
        strategy=planned.strategy,
    )
