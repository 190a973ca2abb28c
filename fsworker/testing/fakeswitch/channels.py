# One simulated FreeSWITCH channel: its state, caller profile, variables and the
# serialisation of its events. Rules: a Channel knows nothing about other channels'
# behaviour (the PBX drives it); it never reads a clock itself (the environment gives
# µs times); every event it emits goes through ``emit`` so the header layout lives in
# one place.
"""Channels of the fake PBX."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from fsworker.testing.fakeswitch.events import (
    CALL_STATE_NUMBERS,
    CODEC_HEADERS,
    STATE_NUMBERS,
    VARIABLE_EVENTS,
    Headers,
)


class Env(Protocol):
    """What a channel needs from the PBX."""

    def now_us(self) -> int: ...

    def fire(self, name: str, headers: Headers, body: bytes = b"") -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class CallerProfile:
    """One caller profile (FreeSWITCH makes a new one on transfer and uuid_bridge)."""

    direction: str
    logical_direction: str
    username: str = ""
    dialplan: str = ""
    caller_id_name: str = ""
    caller_id_number: str = ""
    orig_caller_id_name: str = ""
    orig_caller_id_number: str = ""
    callee_id_name: str = ""
    callee_id_number: str = ""
    network_addr: str = ""
    ani: str = ""
    destination_number: str = ""
    source: str = ""
    transfer_source: str = ""
    context: str = "default"
    rdnis: str = ""
    index: int = 1
    created_us: int = 0
    bridged_us: int = 0


class Channel:
    """A live channel. Mutable on purpose: it is the simulation's state."""

    def __init__(
        self,
        env: Env,
        *,
        uuid: str,
        name: str,
        direction: str,
        profile: CallerProfile,
        variables: dict[str, str] | None = None,
    ) -> None:
        self.env = env
        self.uuid = uuid
        self.name = name
        self.direction = direction
        self.profile = profile
        self.state = "CS_NEW"
        self.call_state = "DOWN"
        self.answer_state = "ringing"
        self.hit_dialplan = direction == "inbound"
        self.call_uuid = uuid
        self.media = False
        self.hangup_cause: str | None = None
        self.created_us = env.now_us()
        self.answered_us = 0
        self.progress_us = 0
        self.hangup_us = 0
        self.other_type: str | None = None
        self.other_uuid: str | None = None
        self._other_headers: Headers = []
        self.variables: dict[str, str] = dict(variables or {})
        # Application stack (innermost last) and messages queued by sendmsg/dialplan.
        self.apps: list[Any] = []
        self.queue: list[Any] = []
        self.dialplan: list[Any] = []
        self.bridged_to: str | None = None
        self.ever_bridged = False
        self.originated_legs: list[tuple[str, str, str]] = []  # uuid, cid name, number
        self.originate_causes: list[tuple[str, str]] = []
        self.on_destroy: list[Callable[[Channel], None]] = []
        self.done = False
        # Set by the PBX: the leg log entry, the dial job ringing it, its endpoint and
        # scripted behaviour; how it ends when it has nothing left to do.
        self.record: Any = None
        self.job: Any = None
        self.endpoint = ""
        self.behaviour: Any = None
        self.hangup_when_idle = False
        self.uuid_bridged = False
        self.bridge_owner = False
        self.first_bridged_us = 0
        #: the bridge this channel reported as its A side and has not unbridged yet
        self.open_bridge: Any = None

    # -- state ----------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.hangup_cause is None

    @property
    def answered(self) -> bool:
        return self.answered_us > 0

    def set_var(self, name: str, value: str) -> None:
        # Re-setting keeps FreeSWITCH's order: a variable stays where it was first set.
        self.variables[name] = value

    def set_state(self, state: str) -> None:
        self.state = state
        self.emit("CHANNEL_STATE")

    def set_call_state(self, call_state: str) -> None:
        original = self.call_state
        self.call_state = call_state
        self.emit(
            "CHANNEL_CALLSTATE",
            prefix=[
                ("Original-Channel-Call-State", original),
                ("Channel-Call-State-Number", CALL_STATE_NUMBERS[call_state]),
            ],
        )

    def new_profile(self, **changes: Any) -> None:
        self.profile = replace(
            self.profile, index=self.profile.index + 1, created_us=self.env.now_us(),
            bridged_us=0, **changes)

    def link_other(self, other_type: str, other: Channel) -> None:
        """Copy the other leg's profile as FreeSWITCH does (a snapshot at link time)."""
        self.other_type = other_type
        self.other_uuid = other.uuid
        self._other_headers = [
            ("Other-Leg-" + k, v) for k, v in other.profile_fields(other_leg=True)
        ]

    def unlink_other(self) -> None:
        self.other_type = None
        self.other_uuid = None
        self._other_headers = []

    # -- serialisation --------------------------------------------------------------
    def profile_fields(self, *, other_leg: bool = False) -> list[tuple[str, str]]:
        p = self.profile
        out: list[tuple[str, str]] = []

        def add(key: str, value: str) -> None:
            if value:
                out.append((key, value))

        add("Direction", p.direction)
        add("Logical-Direction", p.logical_direction)
        add("Username", p.username)
        add("Dialplan", p.dialplan)
        add("Caller-ID-Name", p.caller_id_name)
        add("Caller-ID-Number", p.caller_id_number)
        add("Orig-Caller-ID-Name", p.orig_caller_id_name)
        add("Orig-Caller-ID-Number", p.orig_caller_id_number)
        add("Callee-ID-Name", p.callee_id_name)
        add("Callee-ID-Number", p.callee_id_number)
        add("Network-Addr", p.network_addr)
        add("ANI", p.ani)
        add("Destination-Number", p.destination_number)
        add("Unique-ID", self.uuid)
        add("Source", p.source)
        if not other_leg:
            add("Transfer-Source", p.transfer_source)
        add("Context", p.context)
        add("RDNIS", p.rdnis)
        add("Channel-Name", self.name)
        if not other_leg:
            out.append(("Profile-Index", str(p.index)))
        out += [
            ("Profile-Created-Time", str(p.created_us)),
            ("Channel-Created-Time", str(self.created_us)),
            ("Channel-Answered-Time", str(self.answered_us)),
            ("Channel-Progress-Time", str(self.progress_us)),
            ("Channel-Progress-Media-Time", "0"),
            ("Channel-Hangup-Time", str(self.hangup_us)),
            ("Channel-Transfer-Time", "0"),
            ("Channel-Resurrect-Time", "0"),
            ("Channel-Bridged-Time", str(p.bridged_us)),
            ("Channel-Last-Hold", "0"),
            ("Channel-Hold-Accum", "0"),
            ("Screen-Bit", "true"),
            ("Privacy-Hide-Name", "false"),
            ("Privacy-Hide-Number", "false"),
        ]
        return out

    def channel_headers(self, name: str) -> Headers:
        h: Headers = [
            ("Channel-State", self.state),
            ("Channel-Call-State", self.call_state),
            ("Channel-State-Number", STATE_NUMBERS.get(self.state, "0")),
            ("Channel-Name", self.name),
            ("Unique-ID", self.uuid),
            ("Call-Direction", self.direction),
            ("Presence-Call-Direction", self.direction),
            ("Channel-HIT-Dialplan", "true" if self.hit_dialplan else "false"),
            ("Channel-Call-UUID", self.call_uuid),
            ("Answer-State", self.answer_state),
        ]
        if self.hangup_cause is not None and name != "CHANNEL_HANGUP_COMPLETE":
            h.append(("Hangup-Cause", self.hangup_cause))
        if self.media:
            h.extend(CODEC_HEADERS)
        h.extend(("Caller-" + k, v) for k, v in self.profile_fields())
        if self.other_type is not None:
            h.append(("Other-Type", self.other_type))
            h.extend(self._other_headers)
        return h

    def emit(
        self,
        name: str,
        *,
        prefix: Headers = (),  # type: ignore[assignment]
        suffix: Headers = (),  # type: ignore[assignment]
        body: bytes = b"",
        variables: bool | None = None,
    ) -> None:
        headers: Headers = list(prefix)
        if name == "CHANNEL_HANGUP_COMPLETE" and self.hangup_cause is not None:
            headers.append(("Hangup-Cause", self.hangup_cause))
        headers.extend(self.channel_headers(name))
        if variables if variables is not None else name in VARIABLE_EVENTS:
            headers.extend(("variable_" + k, v) for k, v in self.variables.items())
        headers.extend(suffix)
        self.env.fire(name, headers, body)
