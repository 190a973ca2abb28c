"""The pure decisions of one attempt: the originate answer and the cause -> outcome table."""

from __future__ import annotations

import pytest

from fsworker.core.attempt import (
    CUSTOMER_FAILURE_OUTCOMES,
    UNKNOWN_CAUSE,
    customer_failure_outcome,
    originate_failure_cause,
)
from fsworker.core.outcomes import AttemptOutcome


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
