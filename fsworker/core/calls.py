"""What the detector learns about calls: lost calls and contacts. Pure values.

Rules: these are the boundary between the event stream (detector) and everything that
decides and dials (rules, planner, strategies, store). Frozen, keyword-only, validated
on construction; times are timezone-aware UTC datetimes, durations float seconds.
Numbers here are as the switch reported them and are *not* trusted: anything that
dials validates them again (D5).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class LossPlace(enum.StrEnum):
    """Where a call was when it was lost (and what a rule's loss place matches)."""

    ANY = "any"  #: rules only: matches every lost call
    NUMBER = "number"  #: the virtual number (DID) the customer dialled
    SCENARIO = "scenario"  #: an IVR scenario (fsw_scenario)
    SITE = "site"  #: the web site the customer came from (fsw_site)
    TRANSFER = "transfer"  #: lost while being transferred, or after a transfer
    #: the customer asked to be called back: an IVR option (the dialplan sets
    #: fsw_callback_request=true on the customer's leg) or POST /api/v1/callbacks
    REQUEST = "request"

#: the channel variable a dialplan sets on the customer's leg to ask for a callback
CALLBACK_REQUEST_VAR = "fsw_callback_request"


class TransferKind(enum.StrEnum):
    BLIND = "blind"  #: uuid_transfer / dialplan transfer (bl_xfer in transfer_history)
    REFER = "refer"  #: a phone's SIP REFER (blind, initiated by the handset)
    ATTENDED = "attended"  #: att_xfer: customer on hold while the employee consults


@dataclass(frozen=True, kw_only=True, slots=True)
class RungLeg:
    """One leg the switch rang on the customer's behalf."""

    uuid: str
    endpoint: str  #: dial-string form, e.g. "sofia/internal/101@127.0.0.1:5072"
    destination: str  #: what was dialled, e.g. "101"
    employee: str | None = None  #: employee name, when the endpoint is a known one
    ring_group: int = 0  #: legs rung together share this index; 0, 1, 2... in order
    started_us: int = 0  #: switch clock, µs since the epoch
    ended_us: int = 0
    cause: str = ""  #: Hangup-Cause of the leg (ALLOTTED_TIMEOUT, ORIGINATOR_CANCEL...)
    answered: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class TransferPhase:
    """The last waiting phase of a call lost in a transfer (R5f)."""

    kind: TransferKind
    transferrer_endpoint: str | None = None
    transferrer_employee: str | None = None
    target_endpoint: str | None = None
    target_employee: str | None = None
    target_destination: str | None = None  #: e.g. the extension transferred to


@dataclass(frozen=True, kw_only=True, slots=True)
class LostCall:
    """An inbound call that ended before any employee answered it."""

    call_uuid: str
    customer_number: str
    virtual_number: str | None = None
    scenario: str | None = None
    site: str | None = None
    campaign: str | None = None
    place: LossPlace = LossPlace.NUMBER
    lost_at: datetime
    waited_s: float = 0.0
    hangup_cause: str = ""
    rung: tuple[RungLeg, ...] = ()
    transfer: TransferPhase | None = None
    caller_name: str | None = None
    node: str = "default"  #: which FreeSWITCH node saw it
    #: concluded by reconciliation (the hangup was never seen): lost_at / waited_s are
    #: the last event the detector saw, not the real hangup
    reconciled: bool = False

    def __post_init__(self) -> None:
        if not self.call_uuid:
            raise ValueError("LostCall.call_uuid: must not be empty")
        if self.lost_at.tzinfo is None:
            raise ValueError("LostCall.lost_at: must be timezone-aware")
        if self.waited_s < 0:
            raise ValueError(f"LostCall.waited_s: {self.waited_s!r} must be >= 0")

    @property
    def lost_in_transfer(self) -> bool:
        return self.transfer is not None

    def ring_groups(self) -> list[tuple[RungLeg, ...]]:
        """Rung legs grouped by ``ring_group``, in the order they were rung."""
        groups: dict[int, list[RungLeg]] = {}
        for leg in self.rung:
            groups.setdefault(leg.ring_group, []).append(leg)
        return [tuple(groups[k]) for k in sorted(groups)]


class ContactKind(enum.StrEnum):
    INBOUND_ANSWERED = "inbound_answered"  #: the customer called and an employee answered
    OUTBOUND_ANSWERED = "outbound_answered"  #: an employee called the customer, who answered


@dataclass(frozen=True, kw_only=True, slots=True)
class Contact:
    """The customer was reached outside auto-callback (R17)."""

    customer_number: str
    call_uuid: str
    at: datetime
    kind: ContactKind
    employee: str | None = None
    node: str = "default"
    extra: dict[str, str] = field(default_factory=dict)
