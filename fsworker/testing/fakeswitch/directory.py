# The fake PBX's phone book: how each endpoint behaves when rung, and the log of every
# leg that was rung and of every bridge the switch reported (the e2e tests assert on
# them). Rules: behaviours are frozen values;
# lookups never fail (unknown endpoints get the default behaviour); the log only
# records, it never drives the simulation.
"""Scriptable endpoints and the originated-leg log."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from fsworker.core.errors import ValidationError


class Reaction(enum.Enum):
    """What the far end does when rung."""

    ANSWER = "answer"  #: 180, then 200 OK after ``after`` seconds
    RING = "ring"  #: 180 and never answers (timeouts decide the cause)
    BUSY = "busy"  #: 486 Busy Here after ``after`` seconds -> USER_BUSY
    UNALLOCATED = "unallocated"  #: 404 -> UNALLOCATED_NUMBER
    REJECT = "reject"  #: 603 Decline -> CALL_REJECTED
    #: 502 Bad Gateway (a phone or trunk that is down) -> DESTINATION_OUT_OF_ORDER, the
    #: cause a switch shutting down also gives (esl-traces/NOTES.md)
    OUT_OF_ORDER = "out_of_order"


_CAUSE = {
    Reaction.BUSY: "USER_BUSY",
    Reaction.UNALLOCATED: "UNALLOCATED_NUMBER",
    Reaction.REJECT: "CALL_REJECTED",
    Reaction.OUT_OF_ORDER: "DESTINATION_OUT_OF_ORDER",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Behaviour:
    """How an endpoint reacts: e.g. ``Behaviour.answers(after=2, hangup_after=30)``."""

    reaction: Reaction
    after: float = 0.0  #: seconds until answer / refusal
    ring: bool = True  #: sends 180 Ringing (CHANNEL_PROGRESS) before answering
    hangup_after: float | None = None  #: the far end hangs up this long after answering
    #: a blind transfer (SIP REFER) this long after answering, to ``transfer_to``
    transfer_after: float | None = None
    transfer_to: str | None = None
    #: the far end hangs up (BYE) this long after the switch bridged it (to the µs: a talk
    #: of exactly ``min_talk_s``)
    bye_after_bridge: float | None = None

    def __post_init__(self) -> None:
        for name in ("after", "hangup_after", "transfer_after", "bye_after_bridge"):
            v = getattr(self, name)
            if v is not None and (v < 0 or v > 86400):
                raise ValidationError(f"behaviour.{name}", v, "0..86400 seconds")

    @property
    def failure_cause(self) -> str | None:
        return _CAUSE.get(self.reaction)

    @classmethod
    def answers(cls, after: float = 1.0, *, hangup_after: float | None = None,
                ring: bool = True, bye_after_bridge: float | None = None) -> Behaviour:
        return cls(reaction=Reaction.ANSWER, after=after, hangup_after=hangup_after, ring=ring,
                   bye_after_bridge=bye_after_bridge)

    @classmethod
    def rings(cls) -> Behaviour:
        return cls(reaction=Reaction.RING)

    @classmethod
    def busy(cls, after: float = 0.0) -> Behaviour:
        return cls(reaction=Reaction.BUSY, after=after, ring=False)

    @classmethod
    def unallocated(cls) -> Behaviour:
        return cls(reaction=Reaction.UNALLOCATED, ring=False)

    @classmethod
    def rejects(cls, after: float = 0.0) -> Behaviour:
        return cls(reaction=Reaction.REJECT, after=after)

    @classmethod
    def out_of_order(cls) -> Behaviour:
        return cls(reaction=Reaction.OUT_OF_ORDER, ring=False)


def destination_of(endpoint: str) -> str:
    """The dialled number/user of an endpoint: ``sofia/internal/101@pbx`` -> ``101``,
    ``user/101`` -> ``101``, ``sofia/gateway/pstn/79161234567`` -> ``79161234567``."""
    last = endpoint.rsplit("/", 1)[-1]
    return last.split("@", 1)[0]


def channel_name_of(endpoint: str) -> str:
    """The Channel-Name FreeSWITCH would give the leg (``user/`` resolves to sofia)."""
    if endpoint.startswith("user/"):
        return f"sofia/internal/{destination_of(endpoint)}@127.0.0.1"
    if endpoint.startswith("sofia/gateway/"):
        parts = endpoint.split("/")
        return f"sofia/external/{parts[-1]}" if len(parts) >= 4 else endpoint
    return endpoint


class Directory:
    """Endpoint -> behaviour. Keys are whole endpoints (``sofia/internal/101@pbx``),
    bare numbers/users (``101`` matches any endpoint dialling 101) or regexes added
    with ``set_pattern``; an unknown endpoint gets ``default``."""

    def __init__(self, default: Behaviour | None = None) -> None:
        self.default = default or Behaviour.rings()
        self._exact: dict[str, Behaviour] = {}
        self._patterns: list[tuple[re.Pattern[str], Behaviour]] = []

    def set(self, endpoint: str, behaviour: Behaviour) -> None:
        self._exact[endpoint] = behaviour

    def set_pattern(self, pattern: str, behaviour: Behaviour) -> None:
        self._patterns.append((re.compile(pattern), behaviour))

    def lookup(self, endpoint: str) -> Behaviour:
        if endpoint in self._exact:
            return self._exact[endpoint]
        dest = destination_of(endpoint)
        if dest in self._exact:
            return self._exact[dest]
        for rx, behaviour in self._patterns:
            if rx.fullmatch(endpoint):
                return behaviour
        return self.default


@dataclass(kw_only=True, slots=True)
class BridgeRecord:
    """One bridge as the switch reported it: CHANNEL_BRIDGE (``started_us``) to
    CHANNEL_UNBRIDGE (``ended_us``, None while bridged), both fired by the A side with
    Bridge-A-Unique-ID / Bridge-B-Unique-ID. Times are the events' µs timestamps."""

    a_uuid: str
    b_uuid: str
    started_us: int
    ended_us: int | None = None

    def partner_of(self, uuid: str) -> str:
        if uuid not in (self.a_uuid, self.b_uuid):
            raise ValueError(f"leg {uuid} is not in the bridge {self.a_uuid} <-> {self.b_uuid}")
        return self.b_uuid if uuid == self.a_uuid else self.a_uuid

    @property
    def started_at(self) -> float:
        return self.started_us / 1e6

    @property
    def ended_at(self) -> float | None:
        return None if self.ended_us is None else self.ended_us / 1e6

    @property
    def talk_us(self) -> int | None:
        """How long the two were bridged, in µs (None while they still are)."""
        return None if self.ended_us is None else self.ended_us - self.started_us


@dataclass(kw_only=True, slots=True)
class LegRecord:
    """One leg the PBX rang (mutable while the leg lives; read it after the fact).

    ``dial_id`` identifies the originate/bridge that rang it, ``step`` the position of
    its group in that dial string ('|' = next step, sequential); legs with the same
    ``dial_id`` and ``step`` were rung together (','). Its times (s) are the switch
    clock in whole µs, as FreeSWITCH stamps a channel's times and as its events carry them."""

    uuid: str
    endpoint: str
    destination: str
    caller_id_number: str
    caller_id_name: str
    variables: dict[str, str]
    dial_id: int
    step: int
    origin: str  #: "originate" (api/bgapi), "bridge" (app/dialplan), "inbound"
    parent_uuid: str | None
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    cause: str | None = None
    spoken: list[str] = field(default_factory=list)
    #: when its CHANNEL_CREATE came among all legs' (1, 2, ...): legs rung together
    #: may start in another order than the dial string's (``CreateOrder``)
    create_index: int = 0
    #: every bridge this leg was in, A or B side, in the order the switch made them
    bridges: list[BridgeRecord] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    def bridged_with(self, other_uuid: str) -> list[BridgeRecord]:
        return [b for b in self.bridges if other_uuid in (b.a_uuid, b.b_uuid)]


class LegLog:
    """Every leg in creation order, with helpers for the questions e2e tests ask."""

    def __init__(self) -> None:
        self.legs: list[LegRecord] = []

    def add(self, record: LegRecord) -> None:
        self.legs.append(record)

    def by_uuid(self, uuid: str) -> LegRecord | None:
        return next((r for r in self.legs if r.uuid == uuid), None)

    def outbound(self) -> list[LegRecord]:
        return [r for r in self.legs if r.origin != "inbound"]

    def endpoints(self) -> list[str]:
        return [r.endpoint for r in self.outbound()]

    def groups(self) -> list[list[LegRecord]]:
        """Legs grouped by (dial, step) in the order the groups started: each inner
        list is one set of legs rung together."""
        out: dict[tuple[int, int], list[LegRecord]] = {}
        for r in self.outbound():
            out.setdefault((r.dial_id, r.step), []).append(r)
        return list(out.values())

    def bridges(self) -> list[BridgeRecord]:
        """Every bridge the switch reported, in the order it made them."""
        seen: dict[int, BridgeRecord] = {}
        for r in self.legs:
            for b in r.bridges:
                seen.setdefault(id(b), b)
        return sorted(seen.values(), key=lambda b: b.started_us)

    def clear(self) -> None:
        self.legs.clear()
