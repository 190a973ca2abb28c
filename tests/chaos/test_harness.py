"""The chaos harness's own pieces, fast (not marked ``chaos``): the fake's ``fake_legs``
/ ``fake_config`` control commands, and the proxy that cuts a stream mid-frame. A
harness that misreads the switch would let the chaos tests pass for nothing."""

from __future__ import annotations

import json
import socket

import pytest

from fsworker.core.clock import ManualClock
from fsworker.testing.fakeswitch.pbx import FakePBX
from tests.chaos.procs import CuttingProxy, Leg, wait_for


@pytest.fixture()
def pbx() -> FakePBX:
    return FakePBX(clock=ManualClock(1_700_000_000.0))


def _originate(pbx: FakePBX, arg: str, answers_after: float) -> str:
    results: list[str] = []
    pbx.api_async("originate", arg, results.append)
    pbx.advance(answers_after)
    assert results and results[0].startswith("+OK"), results
    return results[0].split()[1]


def _legs(pbx: FakePBX) -> list[Leg]:
    return [Leg.of(d) for d in json.loads(pbx.api("fake_legs", ""))["legs"]]


def test_fake_legs_reports_times_roles_bridges_and_the_running_app(pbx: FakePBX) -> None:
    pbx.api("fake_endpoint", "user/102 answer after=1")
    pbx.api("fake_endpoint", "79161234567 answer after=2")
    emp = _originate(pbx, "{fsw_task_id=7,fsw_attempt=1,fsw_role=employee}user/102 &park()", 1)
    assert pbx.api("fake_config", "speak_seconds=5") == "+OK\n"
    assert pbx.sendmsg(emp, {"call-command": "execute", "execute-app-name": "speak",
                             "execute-app-arg": "flite|slt|hello"}).startswith("+OK")
    pbx.advance(0.5)
    (e,) = _legs(pbx)
    assert (e.task_id, e.attempt, e.role, e.up, e.app) == (7, 1, "employee", True, "speak")
    assert e.answered_at is not None and e.ended_at is None and e.bridged_at is None
    pbx.advance(5)
    (e,) = _legs(pbx)
    assert e.app == "park" and e.spoken == ["flite|slt|hello"]

    c_uuid = _originate(pbx, "{fsw_task_id=7,fsw_attempt=1,fsw_role=customer}sofia/gateway/pstn/79161234567 "
                             "&park()", 2)
    assert pbx.api("uuid_bridge", f"{emp} {c_uuid}").startswith("+OK")
    legs = {g.uuid: g for g in _legs(pbx)}
    assert legs[c_uuid].role == "customer" and legs[c_uuid].destination == "79161234567"
    assert legs[c_uuid].bridged_to == emp and legs[emp].bridged_at is not None
    assert not legs[c_uuid].overlaps(legs[c_uuid].__class__(**{**legs[c_uuid].__dict__, "started_at": 1e12}),
                                     pbx.now())
    pbx.api("uuid_kill", emp)
    pbx.advance(1)
    doc = json.loads(pbx.api("fake_legs", ""))
    assert doc["up"] == 0 and all(d["ended_at"] is not None and d["bridged_to"] is None for d in doc["legs"])


@pytest.mark.parametrize(("command", "arg", "field"), [
    ("fake_legs", "now", "argument"),
    ("fake_config", "", "option"),
    ("fake_config", "speak_seconds=-1", "speak_seconds"),
    ("fake_config", "speed=2", "speed"),
])
def test_new_control_commands_refuse_bad_arguments(pbx: FakePBX, command: str, arg: str, field: str) -> None:
    assert pbx.api(command, arg).startswith(f"-ERR {field}: ")


def test_fake_config_auto_restores_speech_by_length(pbx: FakePBX) -> None:
    pbx.api("fake_config", "speak_seconds=9")
    assert pbx.speak_duration("x") == 9
    pbx.api("fake_config", "speak_seconds=auto")
    assert pbx.speak_duration("x" * 100) == pytest.approx(6.0)


def test_cutting_proxy_forwards_then_cuts_in_the_middle_of_a_chunk() -> None:
    upstream = socket.create_server(("127.0.0.1", 0))
    proxy = CuttingProxy(upstream.getsockname()[1])
    try:
        client = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        server, _ = upstream.accept()
        server.sendall(b"Content-Type: auth/request\n\n")
        assert client.recv(100) == b"Content-Type: auth/request\n\n"
        client.sendall(b"auth x\n\n")
        assert server.recv(100) == b"auth x\n\n"
        proxy.cut_mid_frame()
        frame = b"Content-Length: 40\nContent-Type: text/event-plain\n\n" + b"E" * 40
        server.sendall(frame)
        got = b""
        while chunk := client.recv(1000):
            got += chunk
        assert got == frame[: len(frame) // 2]  # half a frame, then EOF
        wait_for("the cut counted", lambda: proxy.cuts == 1, 5)
        client2 = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)  # and it serves again
        server2, _ = upstream.accept()
        server2.sendall(b"ok")
        assert client2.recv(10) == b"ok"
        for s in (client, server, client2, server2):
            s.close()
    finally:
        proxy.close()
        upstream.close()


def test_a_durable_bgapi_job_completes_on_the_next_link_an_ordinary_one_fails() -> None:
    """connection.py: ``bgapi_start(survive_reconnect=True)`` keeps waiting for its
    BACKGROUND_JOB across a cut link (FreeSWITCH fires it to every subscriber)."""
    from fsworker.esl.connection import ESLConnection, Subscription
    from fsworker.esl.proto.backoff import Backoff
    from fsworker.esl.proto.errors import ConnectionLostError, NotConnectedError
    from fsworker.testing.fakeswitch.directory import Behaviour
    from fsworker.testing.fakeswitch.server import FakeSwitchServer

    clock = ManualClock(1_700_000_000.0)
    server = FakeSwitchServer(clock=clock)
    pbx = FakePBX(server.bus, clock=clock)
    server.backend = pbx
    server.start()
    runner = pbx.run_realtime(1.0)
    pbx.directory.set("user/102", Behaviour.answers(1.0))
    conn = ESLConnection("127.0.0.1", server.port, "ClueCon", backoff=Backoff(initial=0.05),
                         subscription=Subscription(events=("CHANNEL_ANSWER",)))
    try:
        conn.connect()
        durable = conn.bgapi_start("originate", "user/102 &park()", survive_reconnect=True)
        ordinary = conn.bgapi_start("originate", "user/102 &park()")
        server.kill_connections()
        with pytest.raises(ConnectionLostError):
            ordinary.get(5)
        assert durable.get(5).startswith("+OK "), "the job's result came on the next link"
        assert conn.stats.links_opened == 2
        late = conn.bgapi_start("originate", "user/102 &park()", survive_reconnect=True)
        conn.close()
        with pytest.raises((ConnectionLostError, NotConnectedError)):  # close() ends every wait
            late.get(5)
    finally:
        conn.close()
        if hasattr(runner, "kill"):
            runner.kill()
        server.stop()
