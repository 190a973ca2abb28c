"""The gevent inbound Event Socket client: connect, auth, subscribe, commands, events.

Rules:
- Built on greenswitch's ``ESLProtocol`` for what serves: its handler registry
  (``register_handle`` / ``unregister_handle``, ``event_handlers``; ``'*'`` = every
  event, CUSTOM events are keyed by subclass). Replaced here, and why:
  * reading: greenswitch reads line by line and URL-decodes the whole buffer at once
    (a ``%0A`` in a value forges a header line, and it is slow); we feed ``sock.recv``
    chunks to our sans-I/O ``Parser``, which decodes each value after splitting.
  * ``send``: greenswitch has no timeout and no lock, so two greenlets can interleave
    writes and a reply can go to the wrong caller; ours appends the waiter and writes
    under one lock (reply order = wire order) and every call has a timeout.
  * no reconnect, bare ``except:``, root-logger logging: we reconnect with a capped
    exponential back-off (``Backoff``) and re-subscribe, catch what we mean, and log
    to ``fsworker.esl.connection`` without ever the password.
- When a link drops, every waiter (api, bgapi jobs, event waiters) fails with
  ``ConnectionLostError``; nothing waits forever. The one exception is asked for: a
  bgapi job started with ``survive_reconnect=True`` keeps waiting for its
  BACKGROUND_JOB on the next link (FreeSWITCH fires it to every subscriber, not to the
  link that sent the job, so a job accepted before a cut completes after it); its
  ``get(timeout)`` still bounds the wait, and ``close()`` fails it.
- The reader never runs user code: events go to a backlog bounded by count and by
  bytes (``EventBacklog``: an event is held until its handlers are done) that at most
  ``pool_size`` long-lived handler greenlets (a ``gevent.pool.Pool``) take them from, in
  order; a failing handler is logged and counted. (A greenlet spawned per event cost
  more than parsing the event: ~70 µs against ~35.)
- A malformed frame drops the link (the stream cannot be re-synchronised); a malformed
  single event, or one with more headers than ``max_event_headers``, is logged and
  counted and the link stays.
- Liveness is counted in complete frames, not bytes: a peer that drips bytes that
  never finish a frame is not alive. A link with no frame for ``idle_timeout`` (the
  switch sends HEARTBEAT every 20 s) is asked ``api status`` under a deadline; no
  reply, and the link is dropped and reopened.
"""

from __future__ import annotations

import enum
import logging
import socket
import time
import uuid as uuidlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Self

import gevent
import gevent.event
import gevent.lock
import gevent.pool
import gevent.socket
from greenswitch.esl import ESLProtocol

from fsworker.esl.backlog import DEFAULT_MAX_BYTES, EventBacklog
from fsworker.esl.proto import commands
from fsworker.esl.proto.backoff import Backoff
from fsworker.esl.proto.errors import (
    AuthenticationError,
    CommandError,
    CommandTimeoutError,
    ConnectionLostError,
    ESLConnectionError,
    ESLError,
    LocalProtocolError,
    NotConnectedError,
    RemoteProtocolError,
    TooManyHeadersError,
)
from fsworker.esl.proto.frames import (
    API_RESPONSE,
    AUTH_REQUEST,
    COMMAND_REPLY,
    DISCONNECT_NOTICE,
    LOG_DATA,
    RUDE_REJECTION,
    Event,
    Frame,
)
from fsworker.esl.proto.parser import DEFAULT_MAX_EVENT_HEADERS, NEED_DATA, Parser

log = logging.getLogger(__name__)

Handler = Callable[[Event], Any]
Predicate = Callable[[Event], bool]


class ConnectionState(enum.StrEnum):
    """Observable link state (for metrics and health checks)."""

    DISCONNECTED = "disconnected"  #: no link; the supervisor is retrying
    CONNECTING = "connecting"  #: TCP connect / auth / subscribe in progress
    CONNECTED = "connected"  #: authenticated and subscribed
    CLOSED = "closed"  #: close() was called; no more reconnects


class ConnectionHooks:
    """Observer for metrics: subclass and override what you need (all no-ops here).
    Hooks run in the reader or the caller's greenlet: keep them cheap, never block."""

    def state_changed(self, old: ConnectionState, new: ConnectionState) -> None: ...

    def event_received(self, name: str) -> None: ...

    def command_done(self, verb: str, seconds: float, ok: bool) -> None: ...

    def handler_failed(self, event_name: str, exc: BaseException) -> None: ...

    def malformed_event(self, exc: RemoteProtocolError) -> None: ...

    def event_dropped(self, exc: TooManyHeadersError) -> None: ...

    def watchdog_tripped(self, quiet_s: float) -> None: ...

    def reconnect_scheduled(self, attempt: int, delay: float) -> None: ...


@dataclass(kw_only=True, slots=True)
class ConnectionStats:
    """Counters the connection keeps itself (mutable on purpose: they count)."""

    events_received: int = 0
    handler_errors: int = 0
    malformed_events: int = 0
    oversized_events: int = 0
    links_opened: int = 0
    links_lost: int = 0
    watchdog_trips: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Subscription:
    """What to ask the switch for, replayed after every reconnect.

    BACKGROUND_JOB (bgapi results) and HEARTBEAT (the watchdog's pulse) are always
    added, also as filters when filters are used: without them bgapi would hang and a
    quiet link would look dead."""

    events: tuple[str, ...] = ("ALL",)
    fmt: commands.EventFormat = commands.EventFormat.PLAIN
    filters: tuple[tuple[str, str], ...] = ()

    def commands(self) -> list[tuple[bytes, str]]:
        events = list(self.events)
        if "ALL" not in events:
            # Words after CUSTOM are subclasses: put ours first.
            events = [n for n in ("BACKGROUND_JOB", "HEARTBEAT") if n not in events] + events
        out = [(commands.event(events, self.fmt), f"event {self.fmt}")]
        if self.filters:
            filters = list(self.filters)
            for need in ("BACKGROUND_JOB", "HEARTBEAT"):
                if ("Event-Name", need) not in filters:
                    filters.append(("Event-Name", need))
            out += [(commands.filter_add(h, v), "filter") for h, v in filters]
        return out


def match_event(
    name: str | None = None, uuid: str | None = None, **headers: str
) -> Predicate:
    """A predicate: Event-Name, Unique-ID and any headers (``Application="speak"``;
    underscores in keyword names stand for '-')."""
    wanted = {k.replace("_", "-") if not k.startswith("variable_") else k: v for k, v in headers.items()}

    def predicate(ev: Event) -> bool:
        if name is not None and ev.name != name:
            return False
        if uuid is not None and ev.uuid != uuid:
            return False
        return all(ev.get(k) == v for k, v in wanted.items())

    return predicate


class EventWaiter:
    """A future for "the next event matching this predicate". Register it (``expect``)
    *before* sending the command that causes the event, then ``get``."""

    def __init__(self, conn: ESLConnection, predicate: Predicate, what: str) -> None:
        self._conn = conn
        self.predicate = predicate
        self.what = what
        self.result: gevent.event.AsyncResult = gevent.event.AsyncResult()

    def get(self, timeout: float) -> Event:
        try:
            return self.result.get(timeout=timeout)
        except gevent.Timeout:
            raise CommandTimeoutError(f"no event matching {self.what} within {timeout}s") from None
        finally:
            self.cancel()

    def cancel(self) -> None:
        self._conn._waiters.pop(id(self), None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


class BackgroundJob:
    """A bgapi job accepted by the switch; ``get`` waits for its BACKGROUND_JOB."""

    def __init__(self, conn: ESLConnection, job_uuid: str, command: str) -> None:
        self._conn = conn
        self.uuid = job_uuid
        self.command = command
        self.result: gevent.event.AsyncResult = gevent.event.AsyncResult()

    def get(self, timeout: float | None = None) -> str:
        timeout = self._conn.command_timeout if timeout is None else timeout
        try:
            return self.result.get(timeout=timeout)
        except gevent.Timeout:
            raise CommandTimeoutError(
                f"bgapi {self.command} job {self.uuid}: no BACKGROUND_JOB within {timeout}s"
            ) from None
        finally:
            self._conn._jobs.pop(self.uuid, None)
            self._conn._durable_jobs.discard(self.uuid)


@dataclass(eq=False, slots=True)
class _Link:
    """One TCP connection; a new one after every reconnect."""

    sock: Any
    number: int
    parser: Parser = field(default_factory=Parser)
    pending: deque = field(default_factory=deque)
    wlock: gevent.lock.RLock = field(default_factory=gevent.lock.RLock)
    auth_request: gevent.event.AsyncResult = field(default_factory=gevent.event.AsyncResult)
    dead: gevent.event.Event = field(default_factory=gevent.event.Event)
    alive: bool = True
    reader_busy: bool = False
    last_frame: float = field(default_factory=time.monotonic)  #: when the last complete frame came
    reader: Any = None
    watchdog: Any = None


DEFAULT_BACKOFF = Backoff()
DEFAULT_SUBSCRIPTION = Subscription()


class ESLConnection(ESLProtocol):
    """An inbound ESL connection that stays connected until ``close()``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8021,
        password: str = "ClueCon",
        *,
        connect_timeout: float = 5.0,
        command_timeout: float = 10.0,
        idle_timeout: float | None = 60.0,
        backoff: Backoff = DEFAULT_BACKOFF,
        subscription: Subscription = DEFAULT_SUBSCRIPTION,
        pool_size: int = 100,
        backlog: int = 10_000,
        backlog_bytes: int = DEFAULT_MAX_BYTES,
        max_event_headers: int = DEFAULT_MAX_EVENT_HEADERS,
        hooks: ConnectionHooks | None = None,
    ) -> None:
        super().__init__()  # greenswitch: event_handlers registry and its flags
        commands.auth(password)  # validate now, not at the first connect
        self.host = host
        self.port = port
        self._password = password
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.idle_timeout = idle_timeout
        self.max_event_headers = max_event_headers
        self.backoff = backoff
        self.subscription = subscription
        self.hooks = hooks or ConnectionHooks()
        self.stats = ConnectionStats()
        self.state = ConnectionState.DISCONNECTED
        self._link: _Link | None = None
        self._jobs: dict[str, gevent.event.AsyncResult] = {}
        self._durable_jobs: set[str] = set()  #: Job-UUIDs that outlive a dropped link
        self._waiters: dict[int, EventWaiter] = {}
        self._pool = gevent.pool.Pool(pool_size)
        self._backlog: EventBacklog[tuple[list[Handler], Event, str]] = EventBacklog(
            max_events=backlog, max_bytes=backlog_bytes)
        self._connected = gevent.event.Event()
        self._closed = False
        self._supervisor: gevent.Greenlet | None = None
        self._idle_workers = 0  #: handler greenlets waiting on the backlog
        self._running = 0  #: handlers running now
        self._links = 0

    def __repr__(self) -> str:
        return f"<ESLConnection {self.host}:{self.port} {self.state}>"

    # -- lifecycle -----------------------------------------------------------------
    def connect(self) -> None:
        """Connect, authenticate and subscribe now (raising on failure), then keep the
        link up in the background."""
        if self._closed:
            raise NotConnectedError(f"connection to {self.host}:{self.port} was closed")
        if self._supervisor is not None:
            return
        link = self._open_link()
        self._supervisor = gevent.spawn(self._supervise, link)

    def start(self) -> None:
        """Like ``connect`` but never raises: the first attempt happens in the
        background too (``wait_connected`` to block)."""
        if self._supervisor is None and not self._closed:
            self._supervisor = gevent.spawn(self._supervise, None)

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    @property
    def is_connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    def close(self) -> None:
        """Say ``exit``, drop the link, stop reconnecting; pending calls fail."""
        if self._closed:
            return
        self._closed = True
        link = self._link
        if link is not None and link.alive:
            try:
                self._request(commands.exit_(), "exit", min(1.0, self.command_timeout), link=link)
            except ESLError as exc:
                log.debug("ESL %s:%s: exit not acknowledged: %s", self.host, self.port, exc)
            self._drop_link(link, "closed by us")
        jobs, self._jobs = self._jobs, {}  # jobs that outlived a link wait no more
        self._durable_jobs.clear()
        for r in jobs.values():
            if not r.ready():
                r.set_exception(NotConnectedError(f"connection to {self.host}:{self.port} was closed"))
        if self._supervisor is not None:
            self._supervisor.kill(block=False)
        # Handlers already running may finish (for up to a second); the backlog is dropped.
        deadline = time.monotonic() + 1.0
        while self._running and time.monotonic() < deadline:
            gevent.sleep(0.01)
        self._pool.kill(block=False)
        self._set_state(ConnectionState.CLOSED)

    stop = close  # greenswitch's name

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- greenswitch parts we replace --------------------------------------------
    def receive_events(self) -> None:  # pragma: no cover - guard
        raise NotImplementedError("fsworker reads with its own Parser (see module docstring)")

    def process_events(self) -> None:  # pragma: no cover - guard
        raise NotImplementedError("fsworker dispatches events through a bounded pool")

    def handle_event(self, event: object) -> None:  # pragma: no cover - guard
        raise NotImplementedError("fsworker dispatches frames in _on_frame")

    def send(self, data: str, timeout: float | None = None) -> Frame:  # type: ignore[override]
        """A raw one-line command (greenswitch's ``send``, with a lock and a timeout)."""
        if not isinstance(data, str) or any(c in data for c in "\r\n\x00") or not data.strip():
            raise LocalProtocolError("command", data, "one non-empty line")
        return self._request(f"{data}\n\n".encode(), data.split(" ", 1)[0], timeout)

    # -- commands ------------------------------------------------------------------
    def api(self, command: str, arg: str = "", *, timeout: float | None = None) -> str:
        """The api/response body (``-ERR ...`` bodies are returned, not raised)."""
        frame = self._request(commands.api(command, arg), f"api {command}", timeout)
        if frame.content_type != API_RESPONSE:
            raise CommandError(f"api {command}", frame.reply_text or frame.content_type)
        return frame.text

    def bgapi_start(
        self, command: str, arg: str = "", *, job_uuid: str | None = None, timeout: float | None = None,
        survive_reconnect: bool = False,
    ) -> BackgroundJob:
        """Send ``bgapi`` with our Job-UUID; returns once the switch accepted it.
        ``survive_reconnect``: once accepted, the job keeps waiting for its result
        across a dropped link (see the module rules) instead of failing with it."""
        job = BackgroundJob(self, job_uuid or str(uuidlib.uuid4()), command)
        data = commands.bgapi(command, arg, job_uuid=job.uuid)
        if job.uuid in self._jobs:
            raise LocalProtocolError("job_uuid", job.uuid, "a Job-UUID not already in use")
        # Registered before sending: the BACKGROUND_JOB may follow the reply at once
        # (and the link may drop right after the reply, before this greenlet runs again).
        self._jobs[job.uuid] = job.result
        if survive_reconnect:
            self._durable_jobs.add(job.uuid)
        try:
            frame = self._request(data, f"bgapi {command}", timeout)
        except ConnectionLostError:
            if not survive_reconnect:
                self._forget_job(job.uuid)
                raise
            # The link dropped before the reply: the switch may have taken the job, and
            # its BACKGROUND_JOB then reaches the next link. The caller's get(timeout)
            # bounds the wait if it never does.
            log.warning("ESL %s:%s: link lost before the reply to bgapi %s (job %s); waiting for its result "
                        "on the next link", self.host, self.port, command, job.uuid)
            return job
        except BaseException:
            # not known to be accepted: it must not wait for a result that may never come
            self._forget_job(job.uuid)
            raise
        if not frame.ok:
            self._forget_job(job.uuid)
            raise CommandError(f"bgapi {command}", frame.reply_text)
        return job

    def _forget_job(self, job_uuid: str) -> None:
        self._jobs.pop(job_uuid, None)
        self._durable_jobs.discard(job_uuid)

    def bgapi(
        self, command: str, arg: str = "", *, job_uuid: str | None = None, timeout: float | None = None
    ) -> str:
        """Run ``bgapi`` and wait for the job's output (the BACKGROUND_JOB body)."""
        timeout = self.command_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        job = self.bgapi_start(command, arg, job_uuid=job_uuid, timeout=timeout)
        return job.get(max(0.0, deadline - time.monotonic()))

    def sendmsg(
        self,
        uuid: str,
        app: str,
        arg: str = "",
        *,
        event_lock: bool = False,
        loops: int | None = None,
        timeout: float | None = None,
    ) -> str:
        """``sendmsg execute``; returns the Reply-Text, raises ``CommandError`` on -ERR.
        The application's end is its CHANNEL_EXECUTE_COMPLETE (use ``expect``)."""
        data = commands.sendmsg_execute(uuid, app, arg, event_lock=event_lock, loops=loops)
        frame = self._request(data, f"sendmsg {app}", timeout)
        if not frame.ok:
            raise CommandError(f"sendmsg {uuid} {app}", frame.reply_text)
        return frame.reply_text

    def hangup(self, uuid: str, cause: str = "NORMAL_CLEARING", *, timeout: float | None = None) -> str:
        frame = self._request(commands.sendmsg_hangup(uuid, cause), "sendmsg hangup", timeout)
        if not frame.ok:
            raise CommandError(f"sendmsg {uuid} hangup", frame.reply_text)
        return frame.reply_text

    def subscribe(
        self,
        events: Iterable[str] = ("ALL",),
        fmt: commands.EventFormat | str = commands.EventFormat.PLAIN,
        filters: Iterable[tuple[str, str]] = (),
        *,
        timeout: float | None = None,
    ) -> None:
        """Replace the subscription; applied now if connected and after every reconnect."""
        sub = Subscription(
            events=tuple(events), fmt=commands.EventFormat(fmt), filters=tuple(filters)
        )
        cmds = sub.commands()  # validates before anything is stored
        self.subscription = sub
        link = self._link
        if link is None:
            return
        self._request(commands.noevents(), "noevents", timeout, link=link)
        self._request(commands.filter_delete("all"), "filter delete", timeout, link=link)
        for data, verb in cmds:
            frame = self._request(data, verb, timeout, link=link)
            if not frame.ok:
                raise CommandError(verb, frame.reply_text)

    # -- waiting for events --------------------------------------------------------
    def expect(
        self, predicate: Predicate | None = None, *, name: str | None = None, uuid: str | None = None, **headers: str
    ) -> EventWaiter:
        """Register interest in the next matching event (before causing it)."""
        if predicate is None:
            predicate = match_event(name, uuid, **headers)
        what = f"name={name} uuid={uuid} {headers}" if name or uuid or headers else repr(predicate)
        waiter = EventWaiter(self, predicate, what)
        self._waiters[id(waiter)] = waiter
        return waiter

    def wait_for_event(
        self, predicate: Predicate | None = None, *, timeout: float, name: str | None = None,
        uuid: str | None = None, **headers: str
    ) -> Event:
        return self.expect(predicate, name=name, uuid=uuid, **headers).get(timeout)

    # -- internals: sending ------------------------------------------------------
    def _request(self, data: bytes, verb: str, timeout: float | None, *, link: _Link | None = None) -> Frame:
        timeout = self.command_timeout if timeout is None else timeout
        link = link or self._link
        if link is None or not link.alive:
            raise NotConnectedError(f"{verb}: not connected to {self.host}:{self.port}")
        result = gevent.event.AsyncResult()
        started = time.monotonic()
        ok = False
        timer = gevent.Timeout(timeout)
        timer.start()
        try:
            # One lock around "append waiter + write": replies come back in wire order,
            # so the FIFO of waiters is the order the commands hit the socket.
            with link.wlock:
                if not link.alive:
                    raise NotConnectedError(f"{verb}: link to {self.host}:{self.port} is down")
                link.pending.append(result)
                try:
                    link.sock.sendall(data)
                except OSError as exc:
                    self._drop_link(link, f"send failed: {exc}")
                    raise ConnectionLostError(f"{verb}: send to {self.host}:{self.port} failed: {exc}") from exc
                except gevent.Timeout:
                    # A partial write leaves the stream unusable.
                    self._drop_link(link, "send timed out")
                    raise
            frame: Frame = result.get()
            ok = True
            return frame
        except gevent.Timeout as t:
            if t is not timer:
                raise
            # The waiter stays queued: its late reply is consumed in order and dropped.
            raise CommandTimeoutError(f"{verb}: no reply from {self.host}:{self.port} within {timeout}s") from None
        finally:
            timer.close()
            self.hooks.command_done(verb, time.monotonic() - started, ok)

    # -- internals: links --------------------------------------------------------
    def _open_link(self) -> _Link:
        self._set_state(ConnectionState.CONNECTING)
        try:
            sock = gevent.socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            self._set_state(ConnectionState.DISCONNECTED)
            raise NotConnectedError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._links += 1
        link = _Link(sock, self._links, Parser(max_event_headers=self.max_event_headers))
        link.reader = gevent.spawn(self._read_loop, link)
        try:
            try:
                link.auth_request.get(timeout=self.connect_timeout)
            except gevent.Timeout:
                raise NotConnectedError(
                    f"no auth/request from {self.host}:{self.port} within {self.connect_timeout}s"
                ) from None
            frame = self._request(commands.auth(self._password), "auth", self.connect_timeout, link=link)
            if not frame.ok:
                raise AuthenticationError(f"{self.host}:{self.port} refused our password: {frame.reply_text}")
            for data, verb in self.subscription.commands():
                frame = self._request(data, verb, self.connect_timeout, link=link)
                if not frame.ok:
                    raise CommandError(verb, frame.reply_text)
        except BaseException as exc:
            self._drop_link(link, f"handshake failed: {exc}")
            if self._link is None and not self._closed:
                self._set_state(ConnectionState.DISCONNECTED)
            raise
        self._link = link
        self.stats.links_opened += 1
        if self.idle_timeout:
            link.watchdog = gevent.spawn(self._watchdog, link)
        self._connected.set()
        self._set_state(ConnectionState.CONNECTED)
        log.info("ESL %s:%s: link #%s up, subscribed", self.host, self.port, link.number)
        return link

    def _supervise(self, link: _Link | None) -> None:
        backoff = self.backoff.reset()
        while not self._closed:
            if link is not None:
                link.dead.wait()
                link = None
                if self._closed:
                    return
            delay = backoff.delay() if self.stats.links_opened or backoff.attempt else 0.0
            self.hooks.reconnect_scheduled(backoff.attempt + 1, delay)
            gevent.sleep(delay)
            if self._closed:
                return
            try:
                link = self._open_link()
                backoff = backoff.reset()
            except (ESLConnectionError, CommandError, CommandTimeoutError) as exc:
                level = logging.ERROR if isinstance(exc, AuthenticationError) else logging.WARNING
                log.log(level, "ESL %s:%s: reconnect attempt %s failed: %s",
                        self.host, self.port, backoff.attempt + 1, exc)
                backoff = backoff.next()

    def _drop_link(self, link: _Link, reason: str) -> None:
        """Idempotent: close the socket and fail everything that waited on this link."""
        if not link.alive:
            return
        link.alive = False
        try:
            link.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        link.sock.close()
        exc = ConnectionLostError(f"link #{link.number} to {self.host}:{self.port} lost: {reason}")
        while link.pending:
            r = link.pending.popleft()
            if not r.ready():
                r.set_exception(exc)
        if not link.auth_request.ready():
            link.auth_request.set_exception(exc)
        if self._link is link:
            self._link = None
            self.stats.links_lost += 1
            self._connected.clear()
            jobs = {u: r for u, r in self._jobs.items() if u not in self._durable_jobs or self._closed}
            self._jobs = {u: r for u, r in self._jobs.items() if u not in jobs}
            for u, r in jobs.items():
                self._durable_jobs.discard(u)
                r.set_exception(exc)
            waiters, self._waiters = self._waiters, {}
            for w in waiters.values():
                w.result.set_exception(exc)
            # After close() the switch hanging up on our `exit` is the expected end.
            log.log(logging.INFO if self._closed else logging.WARNING,
                    "ESL %s:%s: link #%s down: %s", self.host, self.port, link.number, reason)
            self._set_state(ConnectionState.CLOSED if self._closed else ConnectionState.DISCONNECTED)
        link.dead.set()

    def _watchdog(self, link: _Link) -> None:
        assert self.idle_timeout
        interval = max(0.01, self.idle_timeout / 4)
        while link.alive:
            link.dead.wait(interval)
            if not link.alive:
                return
            if self._quiet(link) is None:
                continue
            # A whole period without a frame (FreeSWITCH's HEARTBEAT comes every 20 s):
            # ask. The reply is a frame; bytes that never finish one do not count.
            probe = min(self.command_timeout, self.idle_timeout)
            try:
                self._request(commands.api("status"), "api status", probe, link=link)
            except CommandTimeoutError:
                quiet = self._quiet(link)
                if quiet is None:
                    continue  # a frame came meanwhile, or the reader waits on our backlog
                self.stats.watchdog_trips += 1
                self.hooks.watchdog_tripped(quiet)
                self._drop_link(link, f"watchdog: no complete frame for {quiet:.1f}s "
                                      f"(idle_timeout {self.idle_timeout}s) and no reply to api status "
                                      f"within {probe}s")
                return
            except ESLError:
                return  # the link went down by itself

    def _quiet(self, link: _Link) -> float | None:
        """Seconds since the link's last complete frame when over ``idle_timeout``;
        None while frames flow or the reader waits on our own backlog, not the switch."""
        assert self.idle_timeout
        if link.reader_busy:
            return None
        quiet = time.monotonic() - link.last_frame
        return quiet if quiet > self.idle_timeout else None

    def _set_state(self, new: ConnectionState) -> None:
        old, self.state = self.state, new
        self.connected = new is ConnectionState.CONNECTED  # greenswitch's flag
        if old is not new:
            try:
                self.hooks.state_changed(old, new)
            except Exception:
                log.exception("ESL %s:%s: state hook failed", self.host, self.port)

    # -- internals: reading ------------------------------------------------------
    def _read_loop(self, link: _Link) -> None:
        reason = "closed by the switch"
        try:
            while link.alive:
                data = link.sock.recv(65536)
                if not data:
                    break
                link.parser.feed(data)
                while True:
                    try:
                        frame = link.parser.next_frame()
                    except TooManyHeadersError as exc:
                        link.last_frame = time.monotonic()  # whole, and skipped: still in sync
                        self._oversized(link, exc)
                        continue
                    if frame is NEED_DATA:
                        break
                    link.last_frame = time.monotonic()
                    self._on_frame(link, frame)  # type: ignore[arg-type]
        except RemoteProtocolError as exc:
            reason = f"malformed data: {exc}"
            log.error("ESL %s:%s: link #%s: %s", self.host, self.port, link.number, reason)
        except OSError as exc:
            reason = f"socket error: {exc}"
        finally:
            self._drop_link(link, reason)

    def _on_frame(self, link: _Link, frame: Frame) -> None:
        ct = frame.content_type
        if ct in (COMMAND_REPLY, API_RESPONSE):
            if not link.pending:
                raise RemoteProtocolError(f"{ct} with no command waiting", frame.offset)
            link.pending.popleft().set(frame)
        elif frame.is_event:
            self._on_event(link, frame)
        elif ct == AUTH_REQUEST:
            link.auth_request.set(True)
        elif ct == DISCONNECT_NOTICE:
            if not frame.linger:
                log.info("ESL %s:%s: disconnect notice: %s", self.host, self.port, frame.text.strip().replace("\n", " "))
        elif ct == RUDE_REJECTION:
            if not link.auth_request.ready():
                link.auth_request.set_exception(
                    NotConnectedError(f"{self.host}:{self.port} rejected us: {frame.text.strip()}")
                )
        elif ct != LOG_DATA:
            log.warning("ESL %s:%s: ignoring frame of type %r", self.host, self.port, ct)

    def _on_event(self, link: _Link, frame: Frame) -> None:
        self.stats.events_received += 1
        try:
            ev = frame.event
            name = ev.name
            key = (ev.subclass or name) if name == "CUSTOM" else name
            if name == "BACKGROUND_JOB":
                job = self._jobs.pop(ev.job_uuid or "", None)
                self._durable_jobs.discard(ev.job_uuid or "")
                if job is not None:
                    job.set(ev.body_text)
        except RemoteProtocolError as exc:
            self._malformed(exc)
            return
        self.hooks.event_received(name)
        for wid, waiter in list(self._waiters.items()):
            try:
                matched = waiter.predicate(ev)
            except RemoteProtocolError as exc:
                self._malformed(exc)
                return
            except Exception as exc:
                log.exception("ESL %s:%s: event predicate %s raised", self.host, self.port, waiter.what)
                self._waiters.pop(wid, None)
                waiter.result.set_exception(exc)
                continue
            if matched:
                self._waiters.pop(wid, None)
                waiter.result.set(ev)
        handlers = list(self.event_handlers.get(key, ())) + list(self.event_handlers.get("*", ()))
        if handlers:
            if not self._idle_workers and len(self._pool) < self._pool.size:
                self._pool.spawn(self._work)
            link.reader_busy = True
            try:
                # Blocks only when the backlog is full (by count or bytes).
                self._backlog.put((handlers, ev, name), len(frame.body))
            finally:
                link.reader_busy = False

    def _malformed(self, exc: RemoteProtocolError) -> None:
        self.stats.malformed_events += 1
        log.error("ESL %s:%s: malformed event dropped: %s", self.host, self.port, exc)
        self.hooks.malformed_event(exc)

    def _oversized(self, link: _Link, exc: TooManyHeadersError) -> None:
        self.stats.oversized_events += 1
        log.error("ESL %s:%s: link #%s: event dropped, the link stays: %s",
                  self.host, self.port, link.number, exc)
        self.hooks.event_dropped(exc)

    @property
    def backlog(self) -> EventBacklog[tuple[list[Handler], Event, str]]:
        """Events waiting for or in their handlers (for metrics and tests)."""
        return self._backlog

    def _work(self) -> None:
        """One handler greenlet: takes events from the backlog until the connection closes."""
        backlog = self._backlog
        while not self._closed:
            self._idle_workers += 1
            try:
                (handlers, ev, name), size = backlog.get()
            finally:
                self._idle_workers -= 1
            if self._closed:
                backlog.release(size)
                return
            self._running += 1
            try:
                self._run_handlers(handlers, ev, name, size)
            finally:
                self._running -= 1

    def _run_handlers(self, handlers: list[Handler], ev: Event, name: str, size: int = 0) -> None:
        try:
            self._handle(handlers, ev, name)
        finally:
            self._backlog.release(size)

    def _handle(self, handlers: list[Handler], ev: Event, name: str) -> None:
        for handler in handlers:
            try:
                handler(ev)
            except RemoteProtocolError as exc:
                self._malformed(exc)
                return
            except Exception as exc:
                self.stats.handler_errors += 1
                try:
                    leg = ev.get("Unique-ID")
                except RemoteProtocolError:
                    leg = None
                log.exception(
                    "ESL %s:%s: handler %s failed on %s (uuid %s)",
                    self.host, self.port, getattr(handler, "__qualname__", handler), name, leg,
                )
                self.hooks.handler_failed(name, exc)
