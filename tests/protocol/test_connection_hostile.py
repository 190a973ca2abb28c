"""The connection against a hostile peer on loopback (issue 13 items 1 and 2): an
event with too many headers is dropped and the link stays; the backlog is bounded by
bytes; a peer that drips bytes without ever finishing a frame is declared dead."""

from __future__ import annotations

import time

import gevent
import gevent.event
import pytest

from fsworker.esl.connection import ConnectionHooks, ESLConnection, Subscription
from fsworker.esl.proto.backoff import Backoff
from fsworker.esl.proto.errors import TooManyHeadersError
from tests.hostile.esl_peer import HostilePeer, PeerLink, drip, event_frame, heartbeat

FAST = Backoff(initial=0.05, cap=0.3, jitter=0.0)


def wait_until(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        gevent.sleep(0.02)
    return bool(cond())


class Hooks(ConnectionHooks):
    def __init__(self) -> None:
        self.dropped: list[TooManyHeadersError] = []
        self.trips: list[float] = []

    def event_dropped(self, exc: TooManyHeadersError) -> None:
        self.dropped.append(exc)

    def watchdog_tripped(self, quiet_s: float) -> None:
        self.trips.append(quiet_s)


@pytest.fixture()
def peers():
    started: list[HostilePeer] = []
    conns: list[ESLConnection] = []

    def make(script, **kw) -> tuple[HostilePeer, ESLConnection]:
        peer = HostilePeer(script, max_connections=kw.pop("max_connections", 1_000_000)).start()
        started.append(peer)
        kw.setdefault("backoff", FAST)
        kw.setdefault("connect_timeout", 2.0)
        kw.setdefault("command_timeout", 2.0)
        kw.setdefault("idle_timeout", None)
        conn = ESLConnection("127.0.0.1", peer.port, "ClueCon", subscription=Subscription(events=("ALL",)), **kw)
        conns.append(conn)
        return peer, conn

    yield make
    for conn in conns:
        conn.close()
    for peer in started:
        peer.stop()


def test_event_with_too_many_headers_is_dropped_and_the_link_stays(peers):
    over = b"Event-Name: CUSTOM\nEvent-Subclass: flood\n" + b"x: \n" * 3000 + b"\n"

    def script(link: PeerLink) -> None:
        link.send(heartbeat(1) + event_frame(over) + heartbeat(2))

    hooks = Hooks()
    _, conn = peers(script, hooks=hooks, max_event_headers=2000)
    seen: list[str] = []
    conn.register_handle("*", lambda ev: seen.append(f"{ev.name}:{ev.sequence}"))
    conn.connect()
    assert wait_until(lambda: len(seen) == 2, 5.0), seen
    assert seen == ["HEARTBEAT:1", "HEARTBEAT:2"]
    assert conn.stats.oversized_events == 1 and conn.stats.links_lost == 0 and conn.is_connected
    [exc] = hooks.dropped
    assert exc.count == 3002 and exc.limit == 2000


def test_backlog_is_bounded_by_bytes_and_loses_nothing(peers):
    big = b"Event-Name: CUSTOM\nEvent-Subclass: big\nPayload: " + b"y" * 100_000 + b"\n\n"

    def script(link: PeerLink) -> None:
        link.send(b"".join(event_frame(big) for _ in range(40)))

    _, conn = peers(script, backlog_bytes=1_000_000)
    gate = gevent.event.Event()
    handled: list[int] = []

    def slow(ev) -> None:
        gate.wait()
        handled.append(len(ev.body or b"") + 1)

    conn.register_handle("*", slow)
    conn.connect()
    # Handlers are stuck: the reader stops once ~1 MB of events is held.
    assert wait_until(lambda: conn.backlog.held_bytes >= 900_000, 5.0)
    gevent.sleep(0.3)
    assert conn.backlog.held_bytes <= 1_000_000
    assert conn.stats.events_received < 40
    gate.set()
    assert wait_until(lambda: len(handled) == 40, 5.0), len(handled)
    assert conn.backlog.peak_bytes <= 1_000_000 and conn.backlog.held_bytes == 0
    assert conn.is_connected


def test_a_peer_dripping_bytes_is_declared_dead(peers):
    """One byte every 50 ms never finishes a frame: the watchdog asks `api status`, the
    deaf peer never answers, the link is dropped (and, refused, stays down)."""
    hooks = Hooks()
    peer, conn = peers(lambda link: drip(link, every=0.05), hooks=hooks, idle_timeout=0.5,
                       command_timeout=0.5, max_connections=1)
    conn.connect()
    started = time.monotonic()
    assert wait_until(lambda: conn.stats.watchdog_trips == 1, 5.0)
    assert time.monotonic() - started < 2.5
    assert not conn.is_connected and hooks.trips and hooks.trips[0] > 0.5
    assert "api status" in peer.links[0].commands
