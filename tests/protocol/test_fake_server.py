"""The fake switch's Event Socket against FreeSWITCH 1.10.12's recorded bytes."""

from __future__ import annotations

import json
import re

import gevent
import pytest

from fsworker.esl.proto import commands as c
from fsworker.esl.proto.frames import Event
from fsworker.esl.proto.parser import parse_all
from fsworker.testing.fakeswitch.server import FakeSwitchServer
from tests.conftest import TRACES
from tests.protocol.conftest import RawClient

COMMON = [
    "Event-Name", "Core-UUID", "FreeSWITCH-Hostname", "FreeSWITCH-Switchname", "FreeSWITCH-IPv4",
    "FreeSWITCH-IPv6", "Event-Date-Local", "Event-Date-GMT", "Event-Date-Timestamp",
    "Event-Calling-File", "Event-Calling-Function", "Event-Calling-Line-Number", "Event-Sequence",
]
# Values that legitimately differ between the recording and the fake.
VOLATILE = {"Core-UUID", "Event-Date-Local", "Event-Date-GMT", "Event-Date-Timestamp", "Event-Sequence"}


def _frames_with_raw(data: bytes):
    frames = parse_all(data)
    ends = [f.offset for f in frames[1:]] + [len(data)]
    return [(f, data[f.offset : end]) for f, end in zip(frames, ends)]


def _replay(port: int, client_bin: bytes) -> bytes:
    sock = RawClient(port)
    for block in client_bin.split(b"\n\n")[:-1]:
        sock.send(block + b"\n\n")
        gevent.sleep(0.02)  # as the recorder did: one command at a time
    assert sock.closed(3.0)
    sock.close()
    return bytes(sock.raw)


def test_trace_02_replies_byte_for_byte(fake):
    out = _replay(fake.port, (TRACES / "02-commands.client.bin").read_bytes())
    got = _frames_with_raw(out)
    want = _frames_with_raw((TRACES / "02-commands.fs.bin").read_bytes())
    assert [f.content_type for f, _ in got] == [f.content_type for f, _ in want]
    for (g, graw), (w, wraw) in zip(got, want):
        if g.is_event:
            ge, we = g.event, w.event
            assert list(ge.keys()) == list(we.keys())
            for k in list(we.keys()):
                if k not in VOLATILE and k != "Content-Length":
                    assert ge.raw(k) == we.raw(k), k
            assert re.fullmatch(r"[0-9]{16}", ge.raw("Event-Date-Timestamp"))
            assert ge.body.startswith(b"UP 0 years") and ge.body.endswith(b"8192K\n")
        elif w.body.startswith(b"UP 0 years"):  # `api status`: uptime and counters differ
            assert list(g.headers) == list(w.headers)
            assert g.body.splitlines()[1] == w.body.splitlines()[1]
            assert g.body.endswith(b"Current Stack Size/Max 240K/8192K\n")
        else:
            assert graw == wraw


def test_trace_01_wrong_password_byte_for_byte(fake):
    out = _replay(fake.port, (TRACES / "01-handshake-wrong-password.client.bin").read_bytes())
    assert out == (TRACES / "01-handshake-wrong-password.fs.bin").read_bytes()
    assert fake.command_lines() == ["auth <redacted>"]


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        (b"event plain\n\n", "-ERR no keywords supplied"),
        (b"event plain CHANNEL_CREATE BACKGROUND_JOB\n\n", "+OK event listener enabled plain"),
        (b"event json CHANNEL_CREATE\n\n", "+OK event listener enabled json"),
        (b"filter Event-Name BACKGROUND_JOB\n\n", "+OK filter added. [Event-Name]=[BACKGROUND_JOB]"),
        (b"nixevent CHANNEL_CREATE\n\n", "+OK events nixed"),
        (b"noevents\n\n", "-ERR not listening for events"),
        (b"linger\n\n", "-ERR not controlling a session"),
        (b"nosuchthing\n\n", "-ERR command not found"),
        (b"sendmsg 00000000-0000-0000-0000-000000000000\ncall-command: execute\nexecute-app-name: answer\n\n",
         "-ERR invalid session id [00000000-0000-0000-0000-000000000000]"),
    ],
)
def test_command_replies(raw_client, command, reply):
    client = raw_client()
    frame = client.command(command)
    assert frame.content_type == "command/reply"
    assert frame.reply_text == reply


def test_noevents_twice(raw_client):
    client = raw_client()
    assert client.command(c.event("ALL")).reply_text == "+OK event listener enabled plain"
    assert client.command(c.noevents()).reply_text == "+OK no longer listening for events"
    assert client.command(c.noevents()).reply_text == "-ERR not listening for events"


def test_api_bodies(raw_client):
    client = raw_client()
    f = client.command(c.uuid_exists("00000000-0000-0000-0000-000000000000"))
    assert (f.content_type, f.body) == ("api/response", b"false")
    assert client.command(c.api("nosuchcommand")).body == b"-ERR nosuchcommand Command not found!\n"
    assert client.command(c.uuid_kill("00000000-0000-0000-0000-000000000000")).body == b"-ERR No such channel!\n"


def test_exit_says_goodbye_and_closes(raw_client):
    client = raw_client()
    client.send(c.exit_())
    assert client.frame().reply_text == "+OK bye"
    notice = client.frame()
    assert notice.content_type == "text/disconnect-notice"
    assert notice.body == b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
    assert client.closed()


def test_bgapi_job_event_with_argument_and_header_order(raw_client):
    client = raw_client()
    assert client.command(c.event("ALL")).ok
    reply = client.command(c.bgapi("echo", "hello world", job_uuid="job-1"))
    assert reply.reply_text == "+OK Job-UUID: job-1" and reply.headers["Job-UUID"] == "job-1"
    api_ev = client.frame().event
    job_ev = client.frame().event
    assert api_ev.name == "API" and job_ev.name == "BACKGROUND_JOB"
    # Same header names in the same order as FreeSWITCH's (trace 08).
    traced = {f.event.name: f.event for f in parse_all((TRACES / "08-callback-success.fs.bin").read_bytes())
              if f.is_event and f.event.name in ("API", "BACKGROUND_JOB")}
    assert list(api_ev.keys()) == list(traced["API"].keys())
    assert list(job_ev.keys()) == list(traced["BACKGROUND_JOB"].keys())
    assert list(job_ev.keys())[:13] == COMMON
    for k in ("FreeSWITCH-Hostname", "FreeSWITCH-IPv6", "Event-Calling-File", "Event-Calling-Function",
              "Event-Calling-Line-Number"):
        assert job_ev.raw(k) == traced["BACKGROUND_JOB"].raw(k)
        assert api_ev.raw(k) == traced["API"].raw(k)
    assert job_ev.get("Job-Command-Arg") == "hello world"
    assert job_ev.body == b"hello world"
    assert api_ev.get("API-Command-Argument") == "hello world"
    assert int(job_ev.get("Event-Sequence")) == int(api_ev.get("Event-Sequence")) + 1


def test_events_only_reach_subscribers_and_pass_filters(fake, raw_client):
    quiet = raw_client()
    subscribed = raw_client()
    filtered = raw_client()
    assert subscribed.command(c.event(["CHANNEL_CREATE", "CUSTOM", "callcenter::info"])).ok
    assert filtered.command(c.event("ALL")).ok
    assert filtered.command(c.filter_add("Unique-ID", "leg-b")).ok
    bus = fake.bus
    for uuid in ("leg-a", "leg-b"):
        bus.publish(bus.common_headers("CHANNEL_CREATE", "f.c", "fn", 1) + [("Unique-ID", uuid)])
    bus.publish(bus.common_headers("CHANNEL_ANSWER", "f.c", "fn", 1) + [("Unique-ID", "leg-a")])
    bus.publish(bus.common_headers("CUSTOM", "f.c", "fn", 1) + [("Event-Subclass", "other::x")])
    bus.publish(bus.common_headers("CUSTOM", "f.c", "fn", 1) + [("Event-Subclass", "callcenter::info")])
    got = [subscribed.frame().event for _ in range(3)]
    assert [(e.name, e.uuid, e.subclass) for e in got] == [
        ("CHANNEL_CREATE", "leg-a", None), ("CHANNEL_CREATE", "leg-b", None), ("CUSTOM", None, "callcenter::info"),
    ]
    assert filtered.frame().event.uuid == "leg-b"
    # Nothing else arrives on either; the unsubscribed client got nothing at all.
    assert quiet.command(c.api("echo", "ping")).body == b"ping"
    with pytest.raises(gevent.Timeout):
        filtered.frame(timeout=0.2)
    with pytest.raises(gevent.Timeout):
        subscribed.frame(timeout=0.1)


def test_json_events(fake, raw_client):
    client = raw_client()
    assert client.command(c.event(["BACKGROUND_JOB"], "json")).reply_text == "+OK event listener enabled json"
    client.command(c.bgapi("echo", "Автоперезвон", job_uuid="j2"))
    frame = client.frame()
    assert frame.content_type == "text/event-json"
    obj = json.loads(frame.body)
    assert obj["Job-UUID"] == "j2" and obj["_body"] == "Автоперезвон"
    assert obj["Content-Length"] == str(len("Автоперезвон".encode()))
    ev = Event.from_json(frame.body)
    assert ev.body_text == "Автоперезвон" and ev.get("FreeSWITCH-IPv6") == "fd00::2"


def test_sendmsg_headers_and_counted_body_reach_the_backend(backend, raw_client):
    backend.channels.add("leg-1")
    client = raw_client()
    text = "tts|ru|Перезвон клиенту\nwith: colon"  # a body may hold anything: it is counted
    data = (b"sendmsg leg-1\ncall-command: execute\nexecute-app-name: speak\nevent-lock: true\n"
            b"content-length: %d\n\n" % len(text.encode()) + text.encode())
    assert client.command(data).reply_text == "+OK"
    uuid, headers, body = backend.sendmsgs[-1]
    assert uuid == "leg-1" and body == text.encode()
    assert headers["execute-app-name"] == "speak" and headers["event-lock"] == "true"
    # The next command is framed correctly after the body.
    assert client.command(c.api("echo", "after")).body == b"after"


def test_kill_connections_drops_every_client(fake, raw_client):
    a, b = raw_client(), raw_client()
    fake.kill_connections()
    assert a.closed() and b.closed()
    assert raw_client().command(c.api("echo", "x")).body == b"x"  # still listening


def test_restart_on_the_same_port(backend):
    server = FakeSwitchServer(backend=backend).start()
    port = server.port
    server.stop()
    server.start()
    try:
        assert server.port == port
        client = RawClient(port)
        assert client.frame().content_type == "auth/request"
        client.close()
    finally:
        server.stop()


def test_heartbeats_and_command_log(backend):
    server = FakeSwitchServer(backend=backend, heartbeat_interval=0.05).start()
    try:
        client = RawClient(server.port)
        client.frame()
        client.command(b"auth ClueCon\n\n")
        client.command(c.event(["HEARTBEAT"]))
        ev = client.frame().event
        assert ev.name == "HEARTBEAT" and ev.get("Event-Calling-Function") == "send_heartbeat"
        assert server.command_lines() == ["auth <redacted>", "event plain HEARTBEAT"]
        client.close()
    finally:
        server.stop()


def test_unauthenticated_commands_refused(raw_client):
    client = raw_client(auth=False)
    assert client.command(c.api("status")).reply_text == "-ERR command not found"
    assert client.command(b"auth ClueCon\n\n").reply_text == "+OK accepted"


def test_accepted_socket_has_nagle_off_like_mod_event_socket(fake, raw_client):
    """mod_event_socket.c sets TCP_NODELAY on every accepted socket. With Nagle on, the
    fake held a small event back until the client acknowledged the previous one: one
    lost call in twenty reached the worker ~15 ms late, and bench/loss_to_task_rate.py
    measured the fake, not fsworker."""
    import socket

    raw_client()
    (session,) = fake.sessions
    assert session.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
