"""Finding and settling the legs a lost worker left on a switch (kill -9, lease expired,
shutdown with a call still talking).

Rules:
- Legs are found by their tags, never guessed: every leg fsworker originates carries
  ``fsw_task_id`` / ``fsw_attempt`` / ``fsw_role``; ``show channels as json`` lists the
  channels, ``uuid_dump <uuid> json`` tells each one's tags and state.
- Parsing and deciding are pure and live here (``parse_channel_uuids``, ``parse_dump``,
  ``decide``); asking the switch is fsworker.service.leg_search's job.
- The decision never rings anyone: a customer bridged with an employee of the task is
  ADOPTED (followed to its end, its talk time recorded); every other leg of the task
  (an employee ringing or hearing the hint, a customer ringing or parked) is hung up
  before anything new is dialled, so a customer is never rung by two legs at once.
- If the customer was already rung by the lost attempt, that attempt counts
  (``interrupted``): the next one follows the rule's retry interval instead of ringing
  the customer again at once.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from fsworker.core.errors import FsworkerError


@dataclass(frozen=True, kw_only=True, slots=True)
class FoundLeg:
    """One live leg of ours, as the switch describes it right now."""

    uuid: str
    task_id: int
    attempt: int | None
    role: str  #: "employee" | "customer" | "" (untagged role: treated as an employee leg)
    endpoint: str
    answered_us: int  #: switch time of answer (0: still ringing)
    bridged_us: int  #: switch time of the current bridge (0: not bridged)
    other_uuid: str | None  #: the leg it is bridged with
    dumped_us: int  #: switch time the description was taken

    @property
    def is_customer(self) -> bool:
        return self.role == "customer"


class Action(enum.StrEnum):
    NOTHING = "nothing"  #: no leg of the task is up: dial as usual
    ADOPT = "adopt"  #: a bridged call of the task is up: follow it, dial nothing
    HANG_UP_GO_ON = "hang_up_go_on"  #: only employee legs were up: hang up, then dial as usual
    HANG_UP_COUNT = "hang_up_count"  #: the customer was being rung: hang up; the attempt counts


@dataclass(frozen=True, kw_only=True, slots=True)
class Recovery:
    action: Action
    employee: FoundLeg | None = None  #: ADOPT: the employee leg of the bridged call
    customer: FoundLeg | None = None  #: ADOPT: the customer leg of the bridged call
    hang_up: tuple[FoundLeg, ...] = ()  #: legs to hang up (in every action but NOTHING)

    def describe(self) -> str:
        parts = [self.action.value]
        if self.customer is not None and self.employee is not None:
            parts.append(f"customer {self.customer.uuid} bridged with employee {self.employee.uuid}")
        if self.hang_up:
            parts.append("hang up " + ", ".join(f"{leg.role or 'leg'} {leg.uuid}" for leg in self.hang_up))
        return "; ".join(parts)


class AfterCut(enum.StrEnum):
    """What to do with an employee and a customer leg whose ``uuid_bridge`` was in flight
    when the link dropped (whether the switch ran it is unknown)."""

    BRIDGED = "bridged"  #: the switch bridged them before the link dropped: follow the call
    BRIDGE_AGAIN = "bridge_again"  #: both still up, not bridged together: send uuid_bridge again
    GONE = "gone"  #: a leg hung up meanwhile: there is nothing to bridge


def after_cut(employee_uuid: str, customer_uuid: str, employee: FoundLeg | None,
              customer: FoundLeg | None) -> AfterCut:
    """Decide from both legs as the switch describes them after the reconnect (None: the
    leg is gone). Pure."""
    if employee is None or customer is None:
        return AfterCut.GONE
    if (customer.bridged_us and customer.other_uuid == employee_uuid
            and employee.bridged_us and employee.other_uuid == customer_uuid):
        return AfterCut.BRIDGED
    return AfterCut.BRIDGE_AGAIN


def _int(value: object) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def parse_channel_uuids(show_json: str) -> list[str]:
    """UUIDs of the outbound channels in ``show channels as json`` (ours are outbound)."""
    text = show_json.strip()
    if not text:
        return []
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise RecoveryError(f"show channels as json: not JSON ({exc}): {text[:80]!r}") from exc
    rows = doc.get("rows") or [] if isinstance(doc, dict) else []
    return [str(r["uuid"]) for r in rows
            if isinstance(r, dict) and r.get("uuid") and r.get("direction", "outbound") == "outbound"]


def parse_dump(dump_json: str) -> FoundLeg | None:
    """A leg of ours from ``uuid_dump <uuid> json``; None if the channel is not ours
    (no ``fsw_task_id``), is gone, or the answer is not a dump."""
    text = dump_json.strip()
    if not text.startswith("{"):
        return None  # "-ERR No such channel!": it hung up meanwhile
    try:
        d = json.loads(text)
    except ValueError:
        return None
    task = str(d.get("variable_fsw_task_id") or "")
    if not task.isdigit():
        return None
    if d.get("Channel-Call-State") == "HANGUP" or _int(d.get("Caller-Channel-Hangup-Time")):
        return None
    bridged = _int(d.get("Caller-Channel-Bridged-Time"))
    other = d.get("variable_bridge_to") or d.get("Other-Leg-Unique-ID") or d.get("variable_signal_bond")
    attempt = str(d.get("variable_fsw_attempt") or "")
    return FoundLeg(
        uuid=str(d.get("Unique-ID") or ""),
        task_id=int(task),
        attempt=int(attempt) if attempt.isdigit() else None,
        role=str(d.get("variable_fsw_role") or ""),
        endpoint=str(d.get("Channel-Name") or ""),
        answered_us=_int(d.get("Caller-Channel-Answered-Time")),
        bridged_us=bridged,
        other_uuid=str(other) if bridged and other else None,
        dumped_us=_int(d.get("Event-Date-Timestamp")),
    )


def decide(legs: list[FoundLeg]) -> Recovery:
    """What to do with the live legs of one task (pure)."""
    if not legs:
        return Recovery(action=Action.NOTHING)
    by_uuid = {leg.uuid: leg for leg in legs}
    for cust in legs:
        if not cust.is_customer or not cust.bridged_us or not cust.other_uuid:
            continue
        emp = by_uuid.get(cust.other_uuid)
        if emp is not None and not emp.is_customer:
            rest = tuple(leg for leg in legs if leg.uuid not in (cust.uuid, emp.uuid))
            return Recovery(action=Action.ADOPT, employee=emp, customer=cust, hang_up=rest)
    action = Action.HANG_UP_COUNT if any(leg.is_customer for leg in legs) else Action.HANG_UP_GO_ON
    return Recovery(action=action, hang_up=tuple(legs))


class RecoveryError(FsworkerError):
    """The switch's answer could not be read; the task waits rather than risk a second ring."""
