"""The decisions of one callback attempt: what a switch's originate answer means.

Rules:
- Pure: values in, values out. No I/O, no clock, no switch, no store; the call flow
  acts on what is decided here.
- The customer's originate failure causes map to outcomes in one table,
  ``CUSTOMER_FAILURE_OUTCOMES``; a cause it does not list is the switch's or the
  network's fault (``SWITCH_ERROR``), never the customer's.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from fsworker.core.outcomes import AttemptOutcome

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
