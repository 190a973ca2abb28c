"""The switch's own record of a test: channel events from an independent ESL connection.

Rules: the observer only listens (one ``event plain`` subscription, no commands after
it); its socket has no timeout (a quiet switch is not a dead one); ``legs()`` rebuilds
every channel from the events so far, ordered by the switch's Event-Sequence.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from urllib.parse import unquote

from tests.chaos.procs import wait_for

EVENTS = ("CHANNEL_CREATE CHANNEL_OUTGOING CHANNEL_ANSWER CHANNEL_BRIDGE CHANNEL_UNBRIDGE "
          "CHANNEL_EXECUTE CHANNEL_HANGUP_COMPLETE")


# -- the switch's own record ---------------------------------------------------------------
@dataclass
class Leg:
    """One channel, as its events on the switch describe it."""

    uuid: str
    name: str = ""
    created_seq: int = 0
    created_us: int = 0  #: the switch's clock (Event-Date-Timestamp), not the host's
    ended_us: int | None = None
    outgoing_seq: int | None = None
    create: dict[str, str] = field(default_factory=dict)
    answered: bool = False
    bridged_to: str | None = None
    cause: str | None = None
    apps: list[tuple[str, str]] = field(default_factory=list)

    def var(self, name: str) -> str | None:
        return self.create.get(f"variable_{name}")

    @property
    def task_id(self) -> int | None:
        value = self.var("fsw_task_id")
        return int(value) if value else None

    @property
    def attempt(self) -> int | None:
        value = self.var("fsw_attempt")
        return int(value) if value else None

    @property
    def role(self) -> str | None:
        return self.var("fsw_role")

    @property
    def caller_id_number(self) -> str:
        return self.create.get("Caller-Caller-ID-Number", "")

    @property
    def ended(self) -> bool:
        return self.cause is not None


def _parse_plain(body: bytes) -> dict[str, str]:
    head = body.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    event: dict[str, str] = {}
    for line in head.splitlines():
        name, sep, value = line.partition(": ")
        if sep:
            event[name] = unquote(value)
    return event


class Observer:
    """Records the channel events of the whole switch on its own ESL connection.

    The socket has no timeout: a quiet switch is not a dead one. After a switch restart
    ``reconnect`` opens a new connection; events in between are lost, which the tests
    that restart the switch allow for."""

    def __init__(self, host: str, port: int, password: str) -> None:
        self.addr, self.password = (host, port), password
        self.events: list[dict[str, str]] = []
        #: the customers of this test: a switch may be shared, and fsworker's task ids (and
        #: so fsw_task_id) repeat across workers with their own databases
        self.numbers: set[str] = set()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.connect()

    def connect(self) -> None:
        sock = socket.create_connection(self.addr, timeout=5)
        buf = b""

        def frame() -> tuple[dict[str, str], bytes]:
            nonlocal buf
            while b"\n\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the switch closed the observer's connection")
                buf += chunk
            head, buf = buf.split(b"\n\n", 1)
            headers = dict(line.split(": ", 1) for line in head.decode().splitlines() if ": " in line)
            n = int(headers.get("Content-Length", "0"))
            while len(buf) < n:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the switch closed the observer's connection")
                buf += chunk
            body, buf = buf[:n], buf[n:]
            return headers, body

        frame()  # auth/request
        sock.sendall(f"auth {self.password}\n\n".encode())
        if not frame()[0].get("Reply-Text", "").startswith("+OK"):
            raise ConnectionError("the switch refused the observer's ESL password")
        sock.sendall(f"event plain {EVENTS}\n\n".encode())
        frame()
        sock.settimeout(None)
        self._sock = sock

        def pump() -> None:
            try:
                while True:
                    headers, body = frame()
                    if headers.get("Content-Type") == "text/event-plain":
                        event = _parse_plain(body)
                        with self._lock:
                            self.events.append(event)
            except (OSError, ConnectionError, ValueError):
                return

        self._thread = threading.Thread(target=pump, name="observer", daemon=True)
        self._thread.start()

    def reconnect(self) -> None:
        self.close()
        wait_for("the observer to reconnect", self._try_connect, 60, every=0.5)

    def _try_connect(self) -> bool:
        try:
            self.connect()
            return True
        except OSError:
            return False

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
            self._sock = None

    def legs(self) -> list[Leg]:
        """Every channel seen, in the order the switch created them (Event-Sequence)."""
        with self._lock:
            events = list(self.events)
        legs: dict[str, Leg] = {}
        for ev in events:
            uuid = ev.get("Unique-ID")
            if not uuid:
                continue
            leg = legs.setdefault(uuid, Leg(uuid=uuid))
            name = ev.get("Event-Name")
            seq = int(ev.get("Event-Sequence", "0"))
            if name == "CHANNEL_CREATE":
                leg.create, leg.created_seq, leg.name = ev, seq, ev.get("Channel-Name", "")
                leg.created_us = int(ev.get("Event-Date-Timestamp", "0"))
            elif name == "CHANNEL_OUTGOING":
                leg.outgoing_seq = seq
            elif name == "CHANNEL_ANSWER":
                leg.answered = True
            elif name == "CHANNEL_BRIDGE":
                leg.bridged_to = ev.get("Other-Leg-Unique-ID")
            elif name == "CHANNEL_EXECUTE":
                leg.apps.append((ev.get("Application", ""), ev.get("Application-Data", "")))
            elif name == "CHANNEL_HANGUP_COMPLETE":
                leg.cause = ev.get("Hangup-Cause", "")
                leg.ended_us = int(ev.get("Event-Date-Timestamp", "0"))
        return sorted((leg for leg in legs.values() if leg.create), key=lambda leg: leg.created_seq)

    def ours(self, leg: Leg) -> bool:
        """A leg of this test's customers: their own calls, or fsworker's calls for them
        (the employee leg shows the customer's number, the customer leg dials it)."""
        return any(n in leg.name or n == leg.caller_id_number for n in self.numbers)

    def callback_legs(self, task_id: int, role: str | None = None) -> list[Leg]:
        return [leg for leg in self.legs() if leg.task_id == task_id and (role is None or leg.role == role)
                and self.ours(leg)]

    def customer_legs(self, number: str) -> list[Leg]:
        """Inbound legs of a customer's own calls (not fsworker's)."""
        return [leg for leg in self.legs() if leg.caller_id_number == number and leg.task_id is None
                and leg.create.get("Call-Direction") == "inbound"]
