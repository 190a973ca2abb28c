"""The pure decisions of one attempt: what it dials (prepare_attempt), the originate
answer and the cause -> outcome table."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fsworker.core.attempt import (
    CUSTOMER_FAILURE_OUTCOMES,
    UNKNOWN_CAUSE,
    AttemptSettings,
    NotDialled,
    NotDialledReason,
    PreparedAttempt,
    customer_failure_outcome,
    latest_lost_call,
    originate_failure_cause,
    prepare_attempt,
)
from fsworker.core.calls import LostCall
from fsworker.core.model import Rule, StrategyKind
from fsworker.core.numbers import validate_number
from fsworker.core.outcomes import AttemptOutcome, TaskEndReason
from fsworker.core.prompts import PromptKind, PromptSettings
from fsworker.core.strategies import DialSettings, DialStep
from tests import factories


@pytest.mark.parametrize(("result", "cause"), [
    ("+OK 0f2c6e1a-1111-2222-3333-444455556666", None),
    ("+OK 0f2c6e1a-1111-2222-3333-444455556666\n", None),
    ("-ERR USER_BUSY\n", "USER_BUSY"),
    ("-ERR NO_ANSWER", "NO_ANSWER"),
    ("-ERR", UNKNOWN_CAUSE),
    ("", UNKNOWN_CAUSE),
    ("-USAGE: <uuid>", "-USAGE: <uuid>"),
])
def test_originate_answer_gives_the_failure_cause(result: str, cause: str | None) -> None:
    assert originate_failure_cause(result) == cause


@pytest.mark.parametrize(("cause", "outcome"), [
    ("USER_BUSY", AttemptOutcome.CUSTOMER_BUSY),
    ("NO_ANSWER", AttemptOutcome.CUSTOMER_NO_ANSWER),
    ("ALLOTTED_TIMEOUT", AttemptOutcome.CUSTOMER_NO_ANSWER),
    ("NO_USER_RESPONSE", AttemptOutcome.CUSTOMER_NO_ANSWER),
    ("RECOVERY_ON_TIMER_EXPIRE", AttemptOutcome.CUSTOMER_NO_ANSWER),
    ("PROGRESS_TIMEOUT", AttemptOutcome.CUSTOMER_NO_ANSWER),
    ("CALL_REJECTED", AttemptOutcome.CUSTOMER_REJECTED),
    ("UNALLOCATED_NUMBER", AttemptOutcome.CUSTOMER_REJECTED),
    ("INVALID_NUMBER_FORMAT", AttemptOutcome.CUSTOMER_REJECTED),
    ("NO_ROUTE_DESTINATION", AttemptOutcome.CUSTOMER_REJECTED),
    ("NUMBER_CHANGED", AttemptOutcome.CUSTOMER_REJECTED),
    ("USER_NOT_REGISTERED", AttemptOutcome.CUSTOMER_REJECTED),
    ("SUBSCRIBER_ABSENT", AttemptOutcome.CUSTOMER_REJECTED),
])
def test_customer_causes_map_to_their_outcome(cause: str, outcome: AttemptOutcome) -> None:
    assert customer_failure_outcome(cause) is outcome


@pytest.mark.parametrize("cause", ["NORMAL_TEMPORARY_FAILURE", "DESTINATION_OUT_OF_ORDER", "GATEWAY_DOWN",
                                   "ORIGINATOR_CANCEL", UNKNOWN_CAUSE, "user_busy", ""])
def test_a_cause_the_table_does_not_list_is_a_switch_error(cause: str) -> None:
    # Not the customer's fault: the attempt must not count as busy / no answer / rejected.
    assert customer_failure_outcome(cause) is AttemptOutcome.SWITCH_ERROR


def test_the_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        CUSTOMER_FAILURE_OUTCOMES["NORMAL_CLEARING"] = AttemptOutcome.SUCCESS  # type: ignore[index]


# -- prepare_attempt ---------------------------------------------------------------
def settings(**kw: object) -> AttemptSettings:
    base: dict[str, object] = {
        "dial": DialSettings(default_ring_timeout_s=25), "prompt": PromptSettings(), "fallback_caller_id": None,
        "customer_endpoint": lambda n: f"sofia/gateway/pstn/{validate_number(n, 'customer_number')}",
        "scenario_endpoint": lambda h: f"loopback/{h.extension}/{h.context}",
    }
    return AttemptSettings(**(base | kw))  # type: ignore[arg-type]


def prepare(*, rule: Rule | None = None, lost_calls: tuple[LostCall, ...] | None = None, attempt: int = 1,
            customer_number: str = "79161234567", **kw: object) -> PreparedAttempt | NotDialled:
    return prepare_attempt(
        rule=factories.rule(strategy=StrategyKind.GROUP, target="sales") if rule is None else rule,
        catalog=factories.catalog(), lost_calls=(factories.lost_call(),) if lost_calls is None else lost_calls,
        attempt=attempt, customer_number=customer_number, settings=settings(**kw),
    )


def test_a_group_rule_rings_the_group_and_shows_the_number_dialled() -> None:
    got = prepare()
    assert isinstance(got, PreparedAttempt)
    assert got.plan.strategy == "group" and got.plan.endpoints[0][0] == "user/101"
    assert got.customer_endpoint == "sofia/gateway/pstn/79161234567"
    assert got.caller_id == "74950000001"  # D2: the number the customer dialled
    assert got.prompt.kind is PromptKind.SPEAK and got.prompt.text


def test_the_latest_lost_call_is_the_one_called_back() -> None:
    old = factories.lost_call(call_uuid="old", lost_at=factories.T0 - timedelta(hours=1))
    new = factories.lost_call(call_uuid="new", virtual_number="74950000002")
    got = prepare(lost_calls=(new, old))
    assert isinstance(got, PreparedAttempt)
    assert got.lost.call_uuid == "new" and got.caller_id == "74950000002"
    assert latest_lost_call([old, new]) == new and latest_lost_call([]) is None


def test_a_deleted_rule_ends_the_task_without_dialling() -> None:
    got = prepare_attempt(rule=None, catalog=factories.catalog(), lost_calls=(factories.lost_call(),), attempt=2,
                          customer_number="79161234567", settings=settings())
    assert got == NotDialled(reason=NotDialledReason.RULE_GONE, outcome=AttemptOutcome.SWITCH_ERROR,
                             detail="rule deleted", why="its rule is gone; ending the task",
                             lost=factories.lost_call(), end=TaskEndReason.CANCELLED_RULE_DELETED)


def test_a_task_without_lost_call_ends() -> None:
    got = prepare(lost_calls=())
    assert isinstance(got, NotDialled)
    assert (got.reason, got.end, got.lost) == (NotDialledReason.NO_LOST_CALL, TaskEndReason.CANCELLED_RULE_DELETED, None)


def test_a_strategy_with_nobody_to_ring_records_its_outcome_and_the_task_goes_on() -> None:
    got = prepare(rule=factories.rule(strategy=StrategyKind.GROUP, target="no-such-group"))
    assert isinstance(got, NotDialled)
    assert got.reason is NotDialledReason.NO_PLAN and got.end is None
    assert got.outcome is AttemptOutcome.TARGET_NOT_FOUND
    assert "44cd0ee5" in got.why and "no-such-group" in got.detail


@pytest.mark.parametrize("number", ["79161234567,user/100", "7916 123", "", "+"])
def test_a_customer_number_that_cannot_be_dialled_is_an_invalid_number(number: str) -> None:
    got = prepare(customer_number=number)
    assert isinstance(got, NotDialled)
    assert (got.reason, got.outcome, got.end) == (NotDialledReason.INVALID_NUMBER, AttemptOutcome.INVALID_NUMBER, None)
    assert "customer_number" in got.detail and repr(number) in got.why


def test_an_unknown_number_dialled_shows_the_fallback_caller_id() -> None:
    lost = factories.lost_call(virtual_number="sip:shop")
    got = prepare(lost_calls=(lost,), fallback_caller_id="+74950000000")
    assert isinstance(got, PreparedAttempt) and got.caller_id == "+74950000000"
    got = prepare(lost_calls=(lost,))
    assert isinstance(got, NotDialled) and got.reason is NotDialledReason.INVALID_NUMBER
    assert "D2" in got.detail


def test_a_scenario_handoff_becomes_one_step_into_its_extension() -> None:
    got = prepare(rule=factories.rule(strategy=StrategyKind.SCENARIO, target="sales-ivr"))
    assert isinstance(got, PreparedAttempt)
    assert got.plan.steps == (DialStep(endpoints=("loopback/5000/ivr",), ring_timeout_s=25,
                                       label="scenario sales-ivr"),)
    assert got.plan.strategy == "scenario"
