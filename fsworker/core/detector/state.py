"""Per-channel state the detector keeps between events. Plain data, no I/O, no clock.

Rules:
- One ``ChannelState`` per channel UUID the detector tracks: a customer's inbound leg,
  a leg rung on its behalf, or a placeholder for a UUID seen only as a reference (the
  parent of a leg, the other side of a bridge) whose own events have not arrived yet.
- Everything order-sensitive is recorded as a ``Mark`` stamped with the switch's
  ``Event-Sequence``; the verdict replays marks in sequence order, so the order in
  which events were *delivered* never changes the outcome.
- Facts that must be the *first* values (caller ID, dialled number, creation time) come
  from the lowest-sequence event seen; facts that must be the *last* values (``fsw_*``)
  from the highest-sequence event. Every per-channel list is capped.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

MAX_MARKS = (
    64  #: order-sensitive marks per channel (bridges, transfers); first one kept
)
MAX_CHILDREN = 32  #: legs created by one channel (a huge ring group is truncated)
MAX_XFER_ENTRIES = 8  #: distinct blind-transfer history entries remembered per channel

K = TypeVar("K")
V = TypeVar("V")


class Role(enum.Enum):
    """What a tracked channel is, as far as the events seen so far tell."""

    UNKNOWN = "unknown"  #: only referenced so far (parent of a leg, side of a bridge)
    CUSTOMER = "customer"  #: inbound leg from outside: a customer's call
    INTERNAL = (
        "internal"  #: inbound leg whose caller is a known employee (not a customer)
    )
    LEG = "leg"  #: created by another channel (bridge / att_xfer B-leg)
    OUTBOUND = (
        "outbound"  #: outbound channel nobody in view created (ESL originate, CRM)
    )


class MarkKind(enum.Enum):
    """Order-sensitive things that happened to a channel."""

    BRIDGE = "bridge"  #: bridged to ``other``
    UNBRIDGE = "unbridge"  #: bridge with ``other`` ended
    BLIND_XFER = (
        "blind_xfer"  #: a new ``bl_xfer`` transfer_history entry (``other`` = ext)
    )
    ATT_XFER_START = "att_xfer_start"  #: this (employee) leg started att_xfer
    ATT_XFER_END = "att_xfer_end"  #: att_xfer on this leg finished


@dataclass(frozen=True, slots=True)
class Mark:
    seq: int
    kind: MarkKind
    owner: str  #: the channel the mark belongs to
    other: str = ""
    us: int = 0  #: the event's timestamp (switch clock)


class ChannelState:
    """What is known about one channel. Mutable; owned by one Detector."""

    __slots__ = (
        "age_ref_us",
        "answered_seq",
        "caller_name",
        "caller_number",
        "children",
        "contact_done",
        "created_us",
        "destination",
        "direction",
        "disposition",
        "employee",
        "endpoint",
        "final_hangup_us",
        "first_seq",
        "first_us",
        "fsw",
        "fsw_ignore",
        "hangup_cause",
        "hangup_seq",
        "hangup_us",
        "last_seq",
        "last_us",
        "marks",
        "originate_causes",
        "originated",
        "outgoing_seq",
        "parent",
        "role",
        "transfer_destination",
        "uuid",
        "xfer_entries",
    )

    def __init__(self, uuid: str) -> None:
        self.uuid = uuid
        self.role = Role.UNKNOWN
        self.parent: str | None = None
        self.direction: str | None = None
        self.first_seq = 0  #: lowest Event-Sequence seen (0 = none yet)
        self.first_us = 0
        self.last_seq = 0
        self.last_us = 0
        self.age_ref_us = 0  #: what max_age is counted from
        self.caller_number: str | None = None
        self.caller_name: str | None = None
        self.destination: str | None = None
        self.endpoint: str | None = None  #: Channel-Name
        self.created_us = 0  #: Caller-Channel-Created-Time
        self.fsw: dict[
            str, str
        ] = {}  #: fsw_number/scenario/site/campaign, latest event
        self.fsw_ignore = False
        self.answered_seq = 0
        #: CHANNEL_OUTGOING's Event-Sequence: the switch announces the legs of one dial
        #: in dial-string order, while their CHANNEL_CREATEs may come in any order (17)
        self.outgoing_seq = 0
        self.hangup_seq = 0  #: the CHANNEL_HANGUP event's sequence
        self.hangup_us = 0  #: the CHANNEL_HANGUP event's timestamp
        self.hangup_cause = ""
        self.final_hangup_us = (
            0  #: Caller-Channel-Hangup-Time from HANGUP_COMPLETE/DESTROY
        )
        self.disposition: str | None = None  #: endpoint_disposition (BLIND_TRANSFER...)
        self.transfer_destination: str | None = None
        self.originated: list[
            tuple[str, str]
        ] = []  #: (uuid, number) from originated_legs
        self.originate_causes: dict[str, str] = {}
        self.marks: list[Mark] = []
        self.children: list[str] = []
        self.xfer_entries: dict[str, int] = {}  #: bl_xfer history entry -> first seq
        self.contact_done = False
        self.employee: str | None = None

    def add_mark(self, mark: Mark) -> None:
        marks = self.marks
        if mark in marks:
            return
        if len(marks) >= MAX_MARKS:
            # Keep the first mark (the first bridge decides "ever answered"); drop the
            # oldest of the rest: later marks decide the last waiting phase.
            del marks[1]
        marks.append(mark)

    def add_child(self, uuid: str) -> None:
        if uuid not in self.children and len(self.children) < MAX_CHILDREN:
            self.children.append(uuid)

    @property
    def start_us(self) -> int:
        return self.created_us or self.first_us

    def __repr__(self) -> str:
        return f"<ChannelState {self.uuid} {self.role.value} parent={self.parent}>"


class BoundedDict(Generic[K, V]):
    """Insertion-ordered dict with a size cap: ``put`` returns what it evicted."""

    __slots__ = ("_d", "limit")

    def __init__(self, limit: int) -> None:
        self._d: OrderedDict[K, V] = OrderedDict()
        self.limit = limit

    def put(self, key: K, value: V) -> list[tuple[K, V]]:
        d = self._d
        d[key] = value
        evicted: list[tuple[K, V]] = []
        while len(d) > self.limit:
            evicted.append(d.popitem(last=False))
        return evicted

    def get(self, key: K) -> V | None:
        return self._d.get(key)

    def pop(self, key: K) -> V | None:
        return self._d.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def __len__(self) -> int:
        return len(self._d)

    def __iter__(self) -> Iterator[K]:
        return iter(self._d)

    def items(self) -> list[tuple[K, V]]:
        return list(self._d.items())

    def values(self) -> list[V]:
        return list(self._d.values())
