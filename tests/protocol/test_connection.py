"""The gevent ESL client over real TCP against the fake switch."""

from __future__ import annotations

import logging
import time

import gevent
import gevent.event
import pytest

from fsworker.esl.connection import (
    ConnectionHooks,
    ConnectionState,
    ESLConnection,
    Subscription,
)
from fsworker.esl.proto.backoff import Backoff
from fsworker.esl.proto.errors import (
    AuthenticationError,
    CommandError,
    CommandTimeoutError,
    ConnectionLostError,
    LocalProtocolError,
    NotConnectedError,
)

FAST = Backoff(initial=0.05, cap=0.3, jitter=0.0)


class Recorder(ConnectionHooks):
    def __init__(self) -> None:
        self.states: list[ConnectionState] = []
        self.commands: list[tuple[str, bool]] = []
        self.failed: list[str] = []

    def state_changed(self, old, new):
        self.states.append(new)

    def command_done(self, verb, seconds, ok):
        assert seconds >= 0
        self.commands.append((verb, ok))

    def handler_failed(self, event_name, exc):
        self.failed.append(event_name)


@pytest.fixture()
def make_conn(fake):
    conns = []

    def make(**kw) -> ESLConnection:
        kw.setdefault("connect_timeout", 1.0)
        kw.setdefault("command_timeout", 2.0)
        kw.setdefault("backoff", FAST)
        kw.setdefault("idle_timeout", None)
        conn = ESLConnection("127.0.0.1", fake.port, kw.pop("password", "ClueCon"), **kw)
        conns.append(conn)
        return conn

    yield make
    for conn in conns:
        conn.close()


def publish(fake, name, **headers):
    h = fake.bus.common_headers(name, "test.c", "test", 1)
    h += [(k.replace("_", "-"), v) for k, v in headers.items()]
    fake.bus.publish(h)


def wait_until(cond, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        gevent.sleep(0.01)
    return cond()


def test_auth_ok_and_subscribed(fake, make_conn):
    hooks = Recorder()
    conn = make_conn(hooks=hooks)
    conn.connect()
    assert conn.state is ConnectionState.CONNECTED and conn.connected
    assert fake.command_lines() == ["auth <redacted>", "event plain ALL"]
    assert hooks.states == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]
    assert "ClueCon" not in repr(conn)


def test_auth_wrong(fake, make_conn, caplog):
    caplog.set_level(logging.DEBUG)
    conn = make_conn(password="s3cret-wrong")
    with pytest.raises(AuthenticationError):
        conn.connect()
    assert conn.state is ConnectionState.DISCONNECTED
    assert "s3cret-wrong" not in caplog.text
    assert "s3cret-wrong" not in repr(conn)


def test_connect_refused_is_typed(make_conn, fake):
    fake.stop()
    with pytest.raises(NotConnectedError):
        make_conn().connect()


def test_api(fake, make_conn):
    conn = make_conn()
    conn.connect()
    assert conn.api("status").startswith("UP ")
    assert conn.api("uuid_exists", "00000000-0000-0000-0000-000000000000") == "false"
    assert conn.api("nosuchcommand") == "-ERR nosuchcommand Command not found!\n"
    with pytest.raises(LocalProtocolError):
        conn.api("status", "x\n\nexit")
    with pytest.raises(CommandTimeoutError):
        conn.api("slow", timeout=0.1)
    # The late reply of the timed-out command is consumed in order, not given to the next.
    fake.backend.gate.set()
    assert conn.api("echo", "next") == "next"


def test_bgapi_result_by_job_uuid(fake, make_conn):
    conn = make_conn()
    conn.connect()
    seen = []
    conn.register_handle("BACKGROUND_JOB", seen.append)
    out = conn.bgapi("echo", "hello", job_uuid="5a0c1e6e-0b1d-4c8e-9d39-000000000202")
    assert out == "hello"
    assert ("bgapi echo hello") in fake.command_lines()
    assert wait_until(lambda: seen)
    assert seen[0].job_uuid == "5a0c1e6e-0b1d-4c8e-9d39-000000000202"
    # Several jobs in flight complete independently.
    jobs = [conn.bgapi_start("echo", f"j{i}") for i in range(5)]
    assert [j.get(2.0) for j in reversed(jobs)] == [f"j{i}" for i in reversed(range(5))]


def test_bgapi_needs_background_job_even_with_a_narrow_subscription(fake, make_conn):
    conn = make_conn(subscription=Subscription(events=("CHANNEL_CREATE",), filters=(("Unique-ID", "x"),)))
    conn.connect()
    lines = fake.command_lines()
    assert lines[1] == "event plain BACKGROUND_JOB HEARTBEAT CHANNEL_CREATE"
    assert "filter Event-Name BACKGROUND_JOB" in lines and "filter Unique-ID x" in lines
    assert conn.bgapi("echo", "ok") == "ok"


def test_200_greenlets_each_get_their_own_reply(fake, make_conn):
    conn = make_conn()
    conn.connect()

    def call(i):
        return conn.api("echo", f"reply-{i}")

    greenlets = [gevent.spawn(call, i) for i in range(200)]
    gevent.joinall(greenlets, timeout=10, raise_error=True)
    assert [g.value for g in greenlets] == [f"reply-{i}" for i in range(200)]
    bg = [gevent.spawn(conn.bgapi, "echo", f"bg-{i}") for i in range(50)]
    gevent.joinall(bg, timeout=10, raise_error=True)
    assert [g.value for g in bg] == [f"bg-{i}" for i in range(50)]


def test_fake_killed_mid_command_then_back(fake, make_conn):
    hooks = Recorder()
    conn = make_conn(hooks=hooks)
    conn.connect()
    got = []
    conn.register_handle("CHANNEL_CREATE", got.append)
    caller = gevent.spawn(conn.api, "slow", timeout=3.0)
    job = gevent.spawn(conn.bgapi, "slow", timeout=3.0)
    gevent.sleep(0.1)
    t0 = time.monotonic()
    fake.stop()
    caller.join(2.9)
    job.join(2.9)
    assert isinstance(caller.exception, ConnectionLostError)
    assert isinstance(job.exception, ConnectionLostError)
    assert time.monotonic() - t0 < 1.0
    with pytest.raises((NotConnectedError, ConnectionLostError)):
        conn.api("status", timeout=0.5)
    gevent.sleep(0.5)  # the switch stays down while the client retries
    fake.backend.gate.set()
    fake.start()
    back = time.monotonic()
    assert conn.wait_connected(2.0)
    assert time.monotonic() - back < 2.0
    assert conn.api("echo", "again") == "again"
    # Re-subscribed on the new connection, events flow to the same handlers.
    assert fake.command_lines(fake.connections_accepted)[:2] == ["auth <redacted>", "event plain ALL"]
    publish(fake, "CHANNEL_CREATE", Unique_ID="after-restart")
    assert wait_until(lambda: got)
    assert got[0].uuid == "after-restart"
    assert conn.stats.links_lost == 1 and conn.stats.links_opened == 2
    assert ConnectionState.DISCONNECTED in hooks.states


def test_connection_killed_fails_waiters_and_recovers(fake, make_conn):
    conn = make_conn()
    conn.connect()
    waiter = conn.expect(name="CHANNEL_HANGUP", uuid="leg-1")
    caller = gevent.spawn(conn.api, "slow", timeout=3.0)
    gevent.sleep(0.05)
    fake.kill_connections()
    with pytest.raises(ConnectionLostError):
        waiter.get(2.0)
    caller.join(2.0)
    assert isinstance(caller.exception, ConnectionLostError)
    fake.backend.gate.set()
    assert wait_until(lambda: conn.is_connected, 2.0)
    assert conn.api("echo", "ok") == "ok"


def test_watchdog_reconnects_a_silent_link(fake, backend, make_conn):
    backend.hang.add("status")  # silent, and deaf to the watchdog's probe
    conn = make_conn(idle_timeout=0.3)
    conn.connect()
    assert wait_until(lambda: conn.stats.watchdog_trips >= 1, 2.0)
    backend.hang.clear()
    assert wait_until(lambda: fake.connections_accepted >= 2 and conn.is_connected, 2.0)
    assert conn.api("echo", "alive") == "alive"


def test_watchdog_quiet_while_heartbeats_flow(backend, make_conn):
    from fsworker.testing.fakeswitch.server import FakeSwitchServer

    server = FakeSwitchServer(backend=backend, heartbeat_interval=0.05).start()
    try:
        conn = ESLConnection("127.0.0.1", server.port, "ClueCon", idle_timeout=0.3, backoff=FAST,
                             subscription=Subscription(events=("CHANNEL_CREATE",)))
        conn.connect()
        gevent.sleep(1.0)
        assert conn.stats.watchdog_trips == 0
        assert server.connections_accepted == 1
        assert conn.stats.events_received >= 5
        conn.close()
    finally:
        server.stop()


def test_handler_exceptions_do_not_kill_the_reader(fake, make_conn, caplog):
    hooks = Recorder()
    conn = make_conn(hooks=hooks)
    conn.connect()
    good = []

    def bad(ev):
        raise RuntimeError("handler bug")

    conn.register_handle("CHANNEL_CREATE", bad)
    conn.register_handle("CHANNEL_CREATE", good.append)
    for i in range(3):
        publish(fake, "CHANNEL_CREATE", Unique_ID=f"leg-{i}")
    assert wait_until(lambda: len(good) == 3)
    assert conn.stats.handler_errors == 3
    assert hooks.failed == ["CHANNEL_CREATE"] * 3
    assert "handler bug" in caplog.text
    assert conn.is_connected and conn.api("echo", "x") == "x"


def test_bounded_pool_and_reader_not_blocked(fake, make_conn):
    conn = make_conn(pool_size=2)
    conn.connect()
    gate = gevent.event.Event()
    running = []
    peak = [0]
    done = []

    def slow(ev):
        running.append(ev)
        peak[0] = max(peak[0], len(running))
        gate.wait()
        running.remove(ev)
        done.append(ev.uuid)

    conn.register_handle("CHANNEL_CREATE", slow)
    for i in range(6):
        publish(fake, "CHANNEL_CREATE", Unique_ID=f"leg-{i}")
    assert wait_until(lambda: len(running) == 2)
    gevent.sleep(0.1)
    assert len(running) == 2
    # Handlers are stuck, yet replies are still read and delivered.
    assert conn.api("echo", "free") == "free"
    gate.set()
    assert wait_until(lambda: len(done) == 6)
    assert peak[0] == 2


def test_malformed_event_is_counted_and_the_link_stays(fake, make_conn):
    conn = make_conn()
    conn.connect()
    seen = []

    def reads_everything(ev):
        seen.append(ev.get("Unique-ID"))

    conn.register_handle("CUSTOM", reads_everything)
    body = b"Event-Name: CUSTOM\nthis line is broken\n\n"
    session = next(iter(fake.sessions))
    session.send(b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body)
    assert wait_until(lambda: conn.stats.malformed_events == 1)
    assert seen == []
    assert conn.is_connected and conn.api("echo", "still") == "still"
    assert conn.stats.links_lost == 0


def test_malformed_frame_drops_and_reconnects(fake, make_conn):
    conn = make_conn()
    conn.connect()
    next(iter(fake.sessions)).send(b"Content-Type: api/response\nContent-Length: banana\n\n")
    assert wait_until(lambda: conn.stats.links_lost == 1)
    assert wait_until(lambda: conn.is_connected and conn.stats.links_opened == 2)
    assert conn.api("echo", "ok") == "ok"


def test_wait_for_event(fake, make_conn):
    conn = make_conn()
    conn.connect()
    waiter = conn.expect(name="CHANNEL_EXECUTE_COMPLETE", uuid="leg-1", Application="speak")
    publish(fake, "CHANNEL_EXECUTE_COMPLETE", Unique_ID="leg-2", Application="speak")
    publish(fake, "CHANNEL_EXECUTE_COMPLETE", Unique_ID="leg-1", Application="playback")
    publish(fake, "CHANNEL_EXECUTE_COMPLETE", Unique_ID="leg-1", Application="speak")
    ev = waiter.get(2.0)
    assert (ev.uuid, ev.get("Application")) == ("leg-1", "speak")
    with pytest.raises(CommandTimeoutError):
        conn.wait_for_event(name="CHANNEL_HANGUP", timeout=0.1)
    assert conn._waiters == {}


def test_sendmsg(fake, make_conn):
    fake.backend.channels.add("leg-1")
    conn = make_conn()
    conn.connect()
    assert conn.sendmsg("leg-1", "speak", "flite|kal|Hello, world", event_lock=True) == "+OK"
    _, headers, body = fake.backend.sendmsgs[-1]
    assert headers["execute-app-name"] == "speak" and headers["event-lock"] == "true"
    assert body == b"flite|kal|Hello, world"
    with pytest.raises(CommandError):
        conn.sendmsg("leg-unknown", "answer")


def test_start_in_background_then_close(fake, make_conn):
    conn = make_conn()
    conn.start()
    assert conn.wait_connected(2.0)
    pending = gevent.spawn(conn.api, "slow", timeout=3.0)
    gevent.sleep(0.05)
    conn.close()
    pending.join(2.0)
    assert isinstance(pending.exception, ConnectionLostError)
    assert conn.state is ConnectionState.CLOSED
    gevent.sleep(0.3)
    assert fake.connections_accepted == 1  # no reconnect after close
    with pytest.raises(NotConnectedError):
        conn.api("status")


def test_backoff_policy_is_immutable_and_capped():
    b = Backoff(initial=0.1, factor=2, cap=1.0, jitter=0)
    delays = []
    for _ in range(8):
        delays.append(b.delay())
        b = b.next()
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    assert b.reset().attempt == 0 and b.attempt == 8
    with pytest.raises(AttributeError):
        b.attempt = 0  # type: ignore[misc]
    jittered = Backoff(initial=1, cap=10, jitter=0.5)
    assert all(0.5 <= jittered.delay() <= 1.5 for _ in range(50))
