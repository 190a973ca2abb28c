"""The fake FreeSWITCH's Event Socket: a real TCP server speaking inbound ESL.

Rules:
- Replies are byte-for-byte what FreeSWITCH 1.10.12 sends on an inbound connection
  (tests/data/esl-traces 01 and 02 are the reference); anything the traces do not show
  follows mod_event_socket.c's behaviour.
- Commands of one connection are handled one at a time, in order, as FreeSWITCH does
  (an ``api`` blocks that connection; ``bgapi`` runs its job in a greenlet).
- Telephony lives behind ``Backend`` (fsworker.testing.fakeswitch.pbx); events arrive through
  ``EventBus.publish`` and each session applies its own subscription and filters.
- The password is never logged; the command log records ``auth`` without it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from typing import Self

import gevent
from gevent.server import StreamServer

from fsworker.core.clock import Clock
from fsworker.testing.fakeswitch.bus import Backend, EventBus, MinimalBackend
from fsworker.testing.fakeswitch.session import SHUTDOWN_TEXT, Session, disconnect_frame

log = logging.getLogger(__name__)

# `freeswitch -stop`: how long the Event Socket kept answering after the calls were gone
SHUTDOWN_NOTICE_AFTER_S = 1.8

__all__ = ["Backend", "EventBus", "FakeSwitchServer", "MinimalBackend"]


class FakeSwitchServer:
    """An inbound ESL server for tests and ``fsworker fake-switch``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        password: str = "ClueCon",
        backend: Backend | None = None,
        clock: Clock | None = None,
        *,
        heartbeat_interval: float | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self._password = password
        self.bus = EventBus(clock)
        self.clock = self.bus.clock
        self.backend: Backend = backend if backend is not None else MinimalBackend(self.bus.clock)
        self.heartbeat_interval = heartbeat_interval
        #: every command received, in order, as (connection number, command line);
        #: ``auth`` lines are recorded without the password.
        self.commands: list[tuple[int, str]] = []
        #: every command block received, raw: (connection number, the header block's
        #: bytes up to the blank line, the body counted by Content-Length). Nothing is
        #: decoded or stripped, so a stray CR or NUL shows; ``auth`` is redacted.
        self.frames: list[tuple[int, bytes, bytes]] = []
        self.connections_accepted = 0
        self.sessions: set[Session] = set()
        self._server: StreamServer | None = None
        self._heartbeat: gevent.Greenlet | None = None

    def __repr__(self) -> str:
        return f"<FakeSwitchServer {self.host}:{self._port} sessions={len(self.sessions)}>"

    # -- lifecycle -----------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> Self:
        """Listen (again, on the same port after a ``stop``)."""
        if self._server is not None:
            return self
        server = StreamServer((self.host, self._port), self._handle)
        server.start()
        self._server = server
        self._port = server.server_port
        if self.heartbeat_interval and self._heartbeat is None:
            self._heartbeat = gevent.spawn(self._heartbeats, self.heartbeat_interval)
        log.info("fake switch listening on %s:%s", self.host, self._port)
        return self

    def stop(self) -> None:
        """Stop listening and drop every client (the switch "dies")."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        if self._heartbeat is not None:
            self._heartbeat.kill(block=False)
            self._heartbeat = None
        self.kill_connections()

    def shutdown(self, notice_after: float = SHUTDOWN_NOTICE_AFTER_S) -> None:
        """Stop as ``freeswitch -stop`` does with calls up: the backend hangs every call
        up (SYSTEM_SHUTDOWN) and refuses originates, the Event Socket keeps answering for
        ``notice_after`` seconds, then every client gets the shutdown notice and the
        socket closes (esl-traces/NOTES.md). ``stop`` is the switch dying instead."""
        begin = getattr(self.backend, "shutdown", None)
        if begin is not None:
            begin()
        gevent.sleep(notice_after)
        for session in list(self.sessions):
            session.send(disconnect_frame(SHUTDOWN_TEXT))  # a failed send ends that session
        self.stop()

    def serve_forever(self) -> None:
        self.start()
        try:
            while self._server is not None:
                gevent.sleep(1.0)
        finally:
            self.stop()

    def kill_connections(self) -> None:
        """Close every client socket at once, mid-command or not."""
        for session in list(self.sessions):
            session.kill()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for tests ---------------------------------------------------------
    def command_lines(self, connection: int | None = None) -> list[str]:
        return [c for n, c in self.commands if connection is None or n == connection]

    def raw_frames(self, connection: int | None = None) -> list[tuple[bytes, bytes]]:
        """(header block, body) of every command received, as bytes on the wire."""
        return [(h, b) for n, h, b in self.frames if connection is None or n == connection]

    def publish_heartbeat(self) -> None:
        headers = self.bus.common_headers("HEARTBEAT", "switch_core.c", "send_heartbeat", 95)
        headers += [("Event-Info", "System Ready"), ("FreeSWITCH-Version", "1.10.12-release+fake")]
        self.bus.publish(headers)

    def _heartbeats(self, interval: float) -> None:
        while True:
            gevent.sleep(interval)
            self.publish_heartbeat()

    # -- sessions ------------------------------------------------------------------
    def _handle(self, sock: object, address: Sequence[object]) -> None:
        # mod_event_socket sets TCP_NODELAY on every accepted ESL socket: without it,
        # Nagle holds a small event back until the client acknowledges the previous
        # one, and the client's delayed acknowledgement made one loss -> task in
        # twenty ~15 ms late in bench/loss_to_task_rate.py.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]
        self.connections_accepted += 1
        session = Session(self, sock, self.connections_accepted)
        self.sessions.add(session)
        self.bus.subscribe(session.deliver)
        try:
            session.run()
        finally:
            self.bus.unsubscribe(session.deliver)
            self.sessions.discard(session)

    def _record(self, connection: int, line: str) -> None:
        if line.startswith("auth "):
            line = "auth <redacted>"
        self.commands.append((connection, line))

    def _record_raw(self, connection: int, block: bytes, body: bytes) -> None:
        if block.startswith(b"auth "):
            block = b"auth <redacted>"
        self.frames.append((connection, block, body))

    def _check_password(self, given: str) -> bool:
        return given == self._password

    def run_api(self, command: str, arg: str) -> str:
        """Fire the API event FreeSWITCH fires for every api/bgapi, then run it."""
        headers = self.bus.common_headers("API", "switch_loadable_module.c", "switch_api_execute", 2954)
        headers.append(("API-Command", command))
        if arg:
            headers.append(("API-Command-Argument", arg))
        self.bus.publish(headers)
        return self.backend.api(command, arg)

    def run_bgapi(self, job_uuid: str, command: str, arg: str) -> None:
        try:
            out = self.run_api(command, arg)
        except Exception:
            log.exception("fake switch: bgapi job %s (%s) failed in the backend", job_uuid, command)
            out = f"-ERR {command} Command failed!\n"
        headers = self.bus.common_headers("BACKGROUND_JOB", "mod_event_socket.c", "api_exec", 1572)
        headers += [("Job-UUID", job_uuid), ("Job-Command", command)]
        if arg:
            headers.append(("Job-Command-Arg", arg))
        self.bus.publish(headers, out.encode("utf-8"))

