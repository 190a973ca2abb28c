"""The seam between the fake switch's protocol core and its telephony backend.

Rules:
- ``EventBus`` is the only way an event reaches clients: the backend (fake PBX) calls
  ``publish`` with the full ordered header list (starting with ``Event-Name``, usually
  built with ``common_headers``) and an optional own body; the bus hands it to every
  connected session, and each session applies its own subscription and filters.
  PRIVATE_COMMAND alone carries the sendmsg headers *before* Event-Name, as FreeSWITCH
  sends it (trace 08): read the name with ``event_name``, never ``headers[0]``.
- ``common_headers`` stamps the prefix FreeSWITCH 1.10.12 writes on every event, in
  the traces' order, with the next ``Event-Sequence`` and the clock's time (µs).
- ``Backend`` is what the protocol core asks for ``api``/``bgapi`` and ``sendmsg``; it
  never raises for an unknown command (it answers as FreeSWITCH does).
- No sockets here; ``MinimalBackend`` answers the few commands that need no channels.
"""

from __future__ import annotations

import itertools
import logging
import threading
import uuid as uuidlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from fsworker.core.clock import Clock, SystemClock

log = logging.getLogger(__name__)

Headers = list[tuple[str, str]]
Subscriber = Callable[[Sequence[tuple[str, str]], bytes], None]


@runtime_checkable
class Backend(Protocol):
    def api(self, command: str, arg: str) -> str:
        """The api/response body; ``-ERR <cmd> Command not found!\\n`` for unknown ones."""
        ...

    def sendmsg(self, uuid: str, headers: dict[str, str], body: bytes) -> str:
        """The Reply-Text: ``+OK`` or ``-ERR invalid session id [<uuid>]``."""
        ...


def event_name(headers: Sequence[tuple[str, str]]) -> str | None:
    """The Event-Name of a header list (the first header, except on PRIVATE_COMMAND)."""
    for key, value in headers:
        if key == "Event-Name":
            return value
    return None


class EventBus:
    """Fans events out to the connected sessions; owns Event-Sequence and Core-UUID."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        core_uuid: str | None = None,
        hostname: str = "vm",
        ipv4: str = "192.0.2.2",
        ipv6: str = "fd00::2",
        first_sequence: int = 1,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        # Host values as on the recording host (trace README), so byte comparisons
        # against the traces only differ in uuids, times and sequence numbers.
        self.core_uuid = core_uuid or str(uuidlib.uuid4())
        self.hostname = hostname
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self._seq = itertools.count(first_sequence)
        self._seq_lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        try:
            self._subscribers.remove(subscriber)
        except ValueError:
            pass

    def next_sequence(self) -> int:
        with self._seq_lock:
            return next(self._seq)

    def common_headers(
        self, event_name: str, calling_file: str, calling_function: str, line: int | str
    ) -> Headers:
        """The standard prefix, Event-Name first, as in the traces."""
        t = self.clock.time()
        when = datetime.fromtimestamp(t, UTC)
        # The recording host ran in UTC, so Local == GMT there; we keep that.
        return [
            ("Event-Name", event_name),
            ("Core-UUID", self.core_uuid),
            ("FreeSWITCH-Hostname", self.hostname),
            ("FreeSWITCH-Switchname", self.hostname),
            ("FreeSWITCH-IPv4", self.ipv4),
            ("FreeSWITCH-IPv6", self.ipv6),
            ("Event-Date-Local", when.strftime("%Y-%m-%d %H:%M:%S")),
            ("Event-Date-GMT", when.strftime("%a, %d %b %Y %H:%M:%S GMT")),
            ("Event-Date-Timestamp", str(round(t * 1_000_000))),
            ("Event-Calling-File", calling_file),
            ("Event-Calling-Function", calling_function),
            ("Event-Calling-Line-Number", str(line)),
            ("Event-Sequence", str(self.next_sequence())),
        ]

    def publish(self, headers: list[tuple[str, str]], body: bytes = b"") -> None:
        name = event_name(headers)
        if name is None:
            raise ValueError("an event's header list must carry Event-Name")
        for sub in list(self._subscribers):
            try:
                sub(headers, body)
            except Exception:
                log.exception("fake switch: delivering %s to a session failed", name)


_STATUS = (
    "UP 0 years, 0 days, 0 hours, 0 minutes, {s} seconds, {ms} milliseconds, 0 microseconds\n"
    "FreeSWITCH (Version 1.10.12-release git a88d069 2024-08-02 21:02:27Z 64bit) is ready\n"
    "0 session(s) since startup\n"
    "0 session(s) - peak 0, last 5min 0 \n"
    "0 session(s) per Sec out of max 100, peak 0, last 5min 0 \n"
    "1000 session(s) max\n"
    "min idle cpu 0.00/100.00\n"
    "Current Stack Size/Max 240K/8192K\n"
)


class MinimalBackend:
    """A switch with no channels: enough for protocol tests and ``fake-switch`` when the
    fake PBX is not installed."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._started = self.clock.time()

    def api(self, command: str, arg: str) -> str:
        if command == "status":
            up = max(0.0, self.clock.time() - self._started)
            return _STATUS.format(s=int(up) % 60, ms=int(up * 1000) % 1000)
        if command == "uuid_exists":
            return "false"
        if command in ("uuid_kill", "uuid_bridge", "uuid_broadcast", "uuid_transfer", "uuid_setvar", "uuid_getvar"):
            return "-ERR No such channel!\n"
        if command == "show" and arg.strip() == "channels as json":
            return '{"row_count": 0}\n'
        if command == "show" and arg.strip() == "channels":
            return "\n0 total.\n"
        if command == "echo":
            return arg
        if command == "hupall":
            return "+OK hangup all channels with cause NORMAL_CLEARING\n"
        return f"-ERR {command} Command not found!\n"

    def sendmsg(self, uuid: str, headers: dict[str, str], body: bytes) -> str:
        return f"-ERR invalid session id [{uuid}]"
