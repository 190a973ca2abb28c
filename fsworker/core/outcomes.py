"""Statuses and reasons recorded for lost calls, tasks and attempts (R19).

Rules: these strings are stored in the database and exported in metrics and webhooks;
never rename a member's value (add a new one instead).
"""

from __future__ import annotations

import enum


class SkipReason(enum.StrEnum):
    """Why a lost call did not create (or join) a task."""

    MASTER_SWITCH_OFF = "master_switch_off"  #: R16
    BLACKLISTED = "blacklisted"  #: R18
    WAITED_TOO_LITTLE = "waited_too_little"  #: R9
    NO_RULE = "no_rule"  #: no enabled rule matched place and applies-schedule
    ALREADY_REACHED = "already_reached"  #: R17: the customer was reached since the loss
    IGNORED = "ignored"  #: fsw_ignore=true on the call
    INVALID_NUMBER = "invalid_number"  #: D5: the caller number cannot be dialled back
    DUPLICATE = "duplicate"  #: this call UUID was already taken in (another worker)
    # With [numbers] region: a caller "number" that is no phone number, by kind.
    WITHHELD_NUMBER = "withheld_number"  #: anonymous / unknown / private / empty: nobody to call back
    NOT_A_NUMBER = "not_a_number"  #: letters or other characters, e.g. "reception"
    NUMBER_TOO_SHORT = "number_too_short"  #: an extension or short code, not a full number of the region
    NUMBER_TOO_LONG = "number_too_long"  #: more digits than any number of its country
    UNKNOWN_COUNTRY_CODE = "unknown_country_code"  #: '+' and no country's calling code


class TaskStatus(enum.StrEnum):
    PENDING = "pending"  #: waiting for its next attempt's due time
    ACTIVE = "active"  #: leased by a worker, an attempt is in flight
    DONE = "done"  #: ended; see end_reason


class TaskEndReason(enum.StrEnum):
    SUCCESS = "success"  #: bridged and talked at least the minimum (R8)
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"  #: the last interval's attempt failed
    CANCELLED_RULE_DELETED = "cancelled_rule_deleted"  #: R15
    CANCELLED_CONTACT_MADE = "cancelled_contact_made"  #: R17
    CANCELLED_BLACKLISTED = "cancelled_blacklisted"  #: R18, number blacklisted later
    CANCELLED_BY_OPERATOR = "cancelled_by_operator"  #: `fsworker tasks cancel`
    INVALID_NUMBER = "invalid_number"  #: D5: the customer number cannot be dialled
    NO_EMPLOYEE_CALLS_FOUND = "no_employee_calls_found"  #: R5e, nobody was tried
    #: D1 after numbers were normalised: another open task of the same customer goes on
    #: with this task's lost calls (fsworker db normalize-numbers / migration 0005)
    MERGED = "merged"


class AttemptOutcome(enum.StrEnum):
    SUCCESS = "success"
    CUSTOMER_BUSY = "customer_busy"
    CUSTOMER_NO_ANSWER = "customer_no_answer"
    CUSTOMER_REJECTED = "customer_rejected"
    CUSTOMER_SHORT_CALL = "customer_short_call"  #: answered, but talk < minimum (voicemail)
    NO_EMPLOYEE_ANSWERED = "no_employee_answered"
    EMPLOYEE_HUNG_UP_DURING_HINT = "employee_hung_up_during_hint"
    NO_EMPLOYEE_CALLS_FOUND = "no_employee_calls_found"  #: R5e, no call placed
    CONTACT_MADE = "contact_made"  #: stopped before dialling the customer (R17)
    CANCELLED = "cancelled"  #: the task was cancelled meanwhile (rule deleted, blacklisted, operator)
    INVALID_NUMBER = "invalid_number"  #: D5, no call placed
    SWITCH_ERROR = "switch_error"  #: the switch failed or the link dropped
    LEASE_LOST = "lease_lost"  #: the worker lost its lease (died, paused) mid-attempt
    INTERRUPTED = "interrupted"  #: a lost worker's legs were still ringing or parked; hung up by the next worker
    SCENARIO_HANDOFF = "scenario_handoff"  #: R5g: handed to a dialplan scenario
    TARGET_NOT_FOUND = "target_not_found"  #: the strategy's group/employee/campaign/scenario is missing; no call placed
    INVALID_ENDPOINT = "invalid_endpoint"  #: D5: an employee endpoint failed validation; no call placed


# Outcomes after which no further attempt is made.
FINAL_OUTCOMES = frozenset(
    {
        AttemptOutcome.SUCCESS,
        AttemptOutcome.NO_EMPLOYEE_CALLS_FOUND,
        AttemptOutcome.CONTACT_MADE,
        AttemptOutcome.CANCELLED,
        AttemptOutcome.INVALID_NUMBER,
    }
)


class HintFallback(enum.StrEnum):
    """Why the default hint was spoken instead of the rule's own."""

    REFUSED = "refused"  #: the template is outside the hint language (stored behind the CLI's back)
    TEMPLATE_ERROR = "template_error"  #: rendering raised (a fact it cannot handle, a syntax error)
    OVER_BUDGET = "over_budget"  #: the render used its CPU / wall time or output budget
    UNSPEAKABLE = "unspeakable"  #: it rendered to nothing speakable
    BAD_FILE = "bad_file"  #: a playback path outside the allowed directories
