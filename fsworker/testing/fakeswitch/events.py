# Building the header lists of the events the fake PBX emits, in FreeSWITCH 1.10.12's
# order (derived from tests/data/esl-traces). Rules: pure functions and a tiny
# list-collecting bus; no I/O, no clock reads (times are passed in), no protocol
# knowledge (the server owns framing and subscriptions).
"""Event header builders for the fake PBX.

Layout of a channel event, as recorded (``tests/data/esl-traces``)::

    common prefix (Event-Name .. Event-Sequence)
    event-specific prefix (Bridge-A/B-Unique-ID, Original-Channel-Call-State, ...)
    [Hangup-Cause first on CHANNEL_HANGUP_COMPLETE]
    Channel-State .. Answer-State, [Hangup-Cause], [Channel-*-Codec-* once media is up]
    Caller-* (empty fields omitted), [Other-Type + Other-Leg-*]
    [variable_* on the events that carry them]
    event-specific suffix (Application*, Playback-*)
"""

from __future__ import annotations

import uuid as _uuid
from datetime import UTC, datetime
from typing import Protocol

HOSTNAME = "vm"
IPV4 = "192.0.2.2"
IPV6 = "fd00::2"

# Event-Calling-File / -Function / -Line-Number as FreeSWITCH 1.10.12 stamps them.
CALLING: dict[str, tuple[str, str, str]] = {
    "API": ("switch_loadable_module.c", "switch_api_execute", "2954"),
    "CALL_UPDATE": ("mod_sofia.c", "sofia_receive_message", "2100"),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", "3846"),
    "CHANNEL_BRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", "1689"),
    "CHANNEL_CALLSTATE": ("switch_channel.c", "switch_channel_perform_set_callstate", "301"),
    "CHANNEL_CREATE": ("switch_core_state_machine.c", "switch_core_session_run", "626"),
    "CHANNEL_DESTROY": ("switch_core_session.c", "switch_core_session_perform_destroy", "1584"),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", "2944"),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", "2967"),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", "3445"),
    "CHANNEL_HANGUP_COMPLETE": (
        "switch_core_state_machine.c", "switch_core_session_reporting_state", "943"),
    "CHANNEL_ORIGINATE": ("switch_core_state_machine.c", "switch_core_session_run", "632"),
    "CHANNEL_OUTGOING": (
        "switch_core_session.c", "switch_core_session_outgoing_channel", "768"),
    "CHANNEL_PARK": ("switch_ivr.c", "switch_ivr_park", "1002"),
    "CHANNEL_PROGRESS": (
        "switch_channel.c", "switch_channel_perform_mark_ring_ready_value", "3505"),
    "CHANNEL_STATE": ("switch_channel.c", "switch_channel_perform_set_running_state", "2408"),
    "CHANNEL_UNBRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", "1879"),
    "CHANNEL_UNPARK": ("switch_ivr.c", "switch_ivr_park", "1213"),
    "PLAYBACK_START": ("switch_ivr_play_say.c", "switch_ivr_play_file", "1646"),
    "PLAYBACK_STOP": ("switch_ivr_play_say.c", "switch_ivr_play_file", "2020"),
    "PRIVATE_COMMAND": ("switch_ivr.c", "switch_ivr_parse_next_event", "804"),
    "CUSTOM": ("mod_callcenter.c", "cc_queue_count", "878"),
}

# Events that carry the channel's variable_* headers (the others stop at Other-Leg-*).
VARIABLE_EVENTS = frozenset({
    "CHANNEL_CREATE", "CHANNEL_ORIGINATE", "CHANNEL_PROGRESS", "CHANNEL_ANSWER",
    "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE",
    "CALL_UPDATE", "CHANNEL_PARK", "CHANNEL_UNPARK", "PLAYBACK_START", "PLAYBACK_STOP",
    "CUSTOM",
})

CODEC_HEADERS = (
    ("Channel-Read-Codec-Name", "PCMU"),
    ("Channel-Read-Codec-Rate", "8000"),
    ("Channel-Read-Codec-Bit-Rate", "64000"),
    ("Channel-Write-Codec-Name", "PCMU"),
    ("Channel-Write-Codec-Rate", "8000"),
    ("Channel-Write-Codec-Bit-Rate", "64000"),
)

STATE_NUMBERS = {
    "CS_NEW": "0", "CS_INIT": "1", "CS_ROUTING": "2", "CS_SOFT_EXECUTE": "3",
    "CS_EXECUTE": "4", "CS_EXCHANGE_MEDIA": "5", "CS_PARK": "6", "CS_CONSUME_MEDIA": "7",
    "CS_HIBERNATE": "8", "CS_RESET": "9", "CS_HANGUP": "10", "CS_REPORTING": "11",
    "CS_DESTROY": "12", "CS_NONE": "13",
}
CALL_STATE_NUMBERS = {
    "DOWN": "0", "DIALING": "1", "RINGING": "2", "EARLY": "3", "ACTIVE": "4",
    "HELD": "5", "RING_WAIT": "6", "HANGUP": "7", "UNHELD": "8",
}

Headers = list[tuple[str, str]]


class Bus(Protocol):
    def publish(self, headers: Headers, body: bytes = b"") -> None: ...


def format_times(t_us: int) -> tuple[str, str]:
    """Event-Date-Local / Event-Date-GMT for a µs epoch (the recording host ran UTC)."""
    d = datetime.fromtimestamp(t_us / 1e6, UTC)
    return d.strftime("%Y-%m-%d %H:%M:%S"), d.strftime("%a, %d %b %Y %H:%M:%S GMT")


class EventStamp:
    """The common prefix of every event: Core-UUID, host, dates, sequence.

    Used when the bus offers no ``common_headers`` of its own (unit tests, replays)."""

    def __init__(self, core_uuid: str | None = None, first_sequence: int = 1) -> None:
        self.core_uuid = core_uuid or str(_uuid.uuid4())
        self._seq = first_sequence

    def __call__(self, name: str, t_us: int) -> Headers:
        local, gmt = format_times(t_us)
        f, fn, line = CALLING.get(name, ("switch_event.c", "switch_event_fire_detailed", "1"))
        seq = self._seq
        self._seq += 1
        return [
            ("Event-Name", name), ("Core-UUID", self.core_uuid),
            ("FreeSWITCH-Hostname", HOSTNAME), ("FreeSWITCH-Switchname", HOSTNAME),
            ("FreeSWITCH-IPv4", IPV4), ("FreeSWITCH-IPv6", IPV6),
            ("Event-Date-Local", local), ("Event-Date-GMT", gmt),
            ("Event-Date-Timestamp", str(t_us)),
            ("Event-Calling-File", f), ("Event-Calling-Function", fn),
            ("Event-Calling-Line-Number", line), ("Event-Sequence", str(seq)),
        ]


class ListBus:
    """A bus that keeps what was published: for unit tests and the fidelity tests."""

    def __init__(self) -> None:
        self.events: list[tuple[Headers, bytes]] = []

    def publish(self, headers: Headers, body: bytes = b"") -> None:
        self.events.append((list(headers), body))

    def names(self) -> list[str]:
        return [h[0][1] for h, _ in self.events]

    def dicts(self) -> list[dict[str, str]]:
        return [dict(h) for h, _ in self.events]

    def clear(self) -> None:
        self.events.clear()
