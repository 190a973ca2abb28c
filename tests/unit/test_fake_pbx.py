"""FakePBX without sockets: api texts, directory behaviours, leg log, spoken log, clock."""

from __future__ import annotations

import math

import pytest

from fsworker.core.clock import ManualClock
from fsworker.core.errors import ValidationError
from fsworker.testing.fakeswitch.dialing import parse_dial_string
from fsworker.testing.fakeswitch.directory import Behaviour
from fsworker.testing.fakeswitch.events import ListBus
from fsworker.testing.fakeswitch.pbx import FakePBX
from fsworker.testing.fakeswitch.scheduler import Scheduler


@pytest.fixture
def pbx() -> FakePBX:
    return FakePBX(ListBus())


def originate(pbx: FakePBX, arg: str) -> list[str]:
    out: list[str] = []
    pbx.api_async("originate", arg, out.append)
    return out


def test_api_texts_as_freeswitch_gives_them(pbx: FakePBX) -> None:
    assert pbx.api("uuid_exists", "00000000-0000-0000-0000-000000000000") == "false"
    assert pbx.api("uuid_kill", "nope") == "-ERR No such channel!\n"
    assert pbx.api("nosuchcommand", "") == "-ERR nosuchcommand Command not found!\n"
    assert pbx.api("show", "channels as json") == '{"row_count": 0}\n'
    assert pbx.api("status", "").startswith("UP 0 years, 0 days")
    assert pbx.api("hupall", "") == "+OK hangup all channels with cause MANAGER_REQUEST\n"
    assert pbx.sendmsg("nope", {"call-command": "execute"}, b"").startswith("-ERR invalid")


@pytest.mark.parametrize("behaviour,result", [
    (Behaviour.busy(), "-ERR USER_BUSY\n"),
    (Behaviour.unallocated(), "-ERR UNALLOCATED_NUMBER\n"),
    (Behaviour.rejects(), "-ERR CALL_REJECTED\n"),
    (Behaviour.rings(), "-ERR NO_ANSWER\n"),
])
def test_originate_failures(pbx: FakePBX, behaviour: Behaviour, result: str) -> None:
    pbx.directory.set("user/101", behaviour)
    out = originate(pbx, "{originate_timeout=5}user/101 &park()")
    pbx.advance(4.9)
    assert out == ([] if behaviour == Behaviour.rings() else [result])
    pbx.advance(0.2)
    assert out == [result]
    assert pbx.legs.legs[0].cause == result[5:-1]


@pytest.mark.parametrize("offset,rang", [(0.0, 3.0), (0.18, 2.82), (0.6, 2.4), (0.86, 2.14)])
def test_originate_timeout_ends_on_a_whole_second_of_the_switch_clock(offset: float, rang: float) -> None:
    """The real switch: originate_timeout=3 from .18/.60/.86 of a second rang 2.82/2.40/2.14 s,
    ending on the second tick (issue 18.4, tests/data/esl-traces/NOTES.md)."""
    pbx = FakePBX(ListBus(), clock=ManualClock(1000.0 + offset))
    pbx.directory.set("user/101", Behaviour.rings())
    out = originate(pbx, "{originate_timeout=3}user/101 &park()")
    pbx.advance(rang - 0.01)
    assert out == []
    pbx.advance(0.02)
    assert out == ["-ERR NO_ANSWER\n"]
    leg = pbx.legs.legs[0]
    assert leg.ended_at is not None and leg.ended_at - leg.started_at == pytest.approx(rang, abs=0.02)


@pytest.mark.parametrize("offset", [0.0, 0.3, 0.7])
def test_a_bridge_leg_timeout_ends_one_second_tick_later(offset: float) -> None:
    """The real switch: a bridge's leg_timeout=3 from .06/.18/.68 of a second rang 3.94/3.82/3.36 s
    (10.58 s for 10 in trace 03): on the second tick after the originate_timeout's one."""
    pbx = FakePBX(ListBus(), clock=ManualClock(1000.0 + offset))
    pbx.inbound_call("79161234567", "74950000001", vars={"fsw_number": "74950000001"},
                     ring=[["sofia/internal/101@pbx"], ["sofia/internal/102@pbx"]], leg_timeout=3,
                     customer_hangs_up_after=20)
    pbx.advance(6)
    leg = pbx.legs.outbound()[0]
    assert leg.cause == "ALLOTTED_TIMEOUT"
    assert leg.ended_at == pytest.approx(math.floor(leg.started_at) + 4)
    assert 3 < leg.ended_at - leg.started_at <= 4


@pytest.mark.parametrize("sent,shown", [("x${y}", "x%{y}"), ("a$b c", "a$b c"), ("p%q {z}", "p%q {z}")])
def test_a_callers_display_name_has_variable_expansion_defused(pbx: FakePBX, sent: str, shown: str) -> None:
    """What the real switch did with these From display names (SIPp, issue 18.4)."""
    u = pbx.inbound_call("79161234567", "74950000001", caller_name=sent, ring=[["sofia/internal/101@pbx"]],
                         customer_hangs_up_after=1)
    pbx.advance(2)
    create = next(dict(h) for h, _ in pbx.bus.events
                  if dict(h)["Event-Name"] == "CHANNEL_CREATE" and dict(h)["Unique-ID"] == u)
    assert create["Caller-Caller-ID-Name"] == shown
    assert create["variable_caller_id_name"] == shown


def test_originate_answer_vars_getvar_and_kill(pbx: FakePBX) -> None:
    pbx.directory.set("101", Behaviour.answers(after=2))
    out = originate(pbx, "{origination_uuid=u1,fsw_task_id=7,origination_caller_id_number="
                         "79161234567}sofia/internal/101@pbx &park()")
    pbx.advance(1.9)
    assert out == []
    pbx.advance(0.2)
    assert out == ["+OK u1\n"]
    assert pbx.api("uuid_exists", "u1") == "true"
    assert pbx.api("uuid_getvar", "u1 fsw_task_id") == "7"
    assert pbx.api("uuid_setvar", "u1 x y") == "+OK\n"
    assert pbx.api("uuid_getvar", "u1 x") == "y"
    assert '"row_count": 1' in pbx.api("show", "channels as json")
    assert pbx.api("uuid_kill", "u1") == "+OK\n"
    pbx.advance(0.1)
    assert pbx.api("uuid_exists", "u1") == "false"
    leg = pbx.legs.by_uuid("u1")
    assert leg is not None and leg.caller_id_number == "79161234567"
    assert leg.answered_at == pytest.approx(leg.started_at + 2)


def test_the_leg_log_stamps_whole_microseconds_as_the_events_do() -> None:
    """Found by the kill -9 chaos test: a leg hung up (uuid_exists false) and a new one
    originated in the same clock tick looked overlapping by 0.2 µs, its start being the
    raw clock (1939.8959448) and the old leg's end its µs event time (1939.895945)."""
    pbx = FakePBX(ListBus(), clock=ManualClock(1796569939.8959448))
    pbx.directory.set("user/101", Behaviour.answers(after=30))
    originate(pbx, "{origination_uuid=old}user/101 &park()")
    pbx.advance(2.0)
    assert pbx.api("uuid_kill", "old") == "+OK\n"
    assert pbx.api("uuid_exists", "old") == "false"
    originate(pbx, "{origination_uuid=new}user/101 &park()")  # the same tick
    pbx.advance(0.1)
    old, new = pbx.legs.by_uuid("old"), pbx.legs.by_uuid("new")
    assert old is not None and new is not None and old.ended_at is not None
    assert new.started_at == old.ended_at
    for t in (old.started_at, old.ended_at, new.started_at):
        assert t == round(t * 1e6) / 1e6


def test_speak_and_playback_take_their_time_and_are_logged() -> None:
    pbx = FakePBX(ListBus(), speak_seconds=3.0, playback_seconds={"hint.wav": 5.0})
    pbx.directory.set("101", Behaviour.answers(after=1))
    originate(pbx, "{origination_uuid=e}user/101 &park()")
    pbx.advance(1.1)
    pbx.sendmsg("e", {"call-command": "execute", "execute-app-name": "speak",
                      "execute-app-arg": "flite|kal|hello"}, b"")
    pbx.sendmsg("e", {"call-command": "execute", "execute-app-name": "playback",
                      "execute-app-arg": "hint.wav"}, b"")
    pbx.advance(2.9)
    bus = pbx.bus
    assert "CHANNEL_EXECUTE_COMPLETE" not in bus.names()[-3:]
    pbx.advance(5.2)
    done = [dict(h) for h, _ in bus.events if h[0][1] == "CHANNEL_EXECUTE_COMPLETE"]
    assert [(d["Application"], d["Application-Response"]) for d in done] == [
        ("speak", "_none_"), ("playback", "FILE PLAYED")]
    spoken = pbx.spoken_on("e")
    assert [(a, g) for a, g, _, _ in spoken] == [("speak", "flite|kal|hello"),
                                                 ("playback", "hint.wav")]
    assert spoken[0][3] - spoken[0][2] == pytest.approx(3.0)
    assert spoken[1][2] == pytest.approx(spoken[0][3])  # played after the speech ended


def test_inbound_group_ring_log_and_hangup_summary(pbx: FakePBX) -> None:
    pbx.directory.set("sofia/internal/103@pbx", Behaviour.answers(after=2))
    u = pbx.inbound_call("79161234567", "74950000001",
                         vars={"fsw_number": "74950000001", "fsw_scenario": "sales"},
                         ring=[["sofia/internal/101@pbx", "sofia/internal/102@pbx"],
                               ["sofia/internal/103@pbx"]],
                         leg_timeout=10, customer_hangs_up_after=20)
    pbx.advance(25)
    groups = [[r.endpoint for r in g] for g in pbx.legs.groups()]
    assert groups == [["sofia/internal/101@pbx", "sofia/internal/102@pbx"],
                      ["sofia/internal/103@pbx"]]
    assert [r.cause for r in pbx.legs.outbound()] == [
        "ALLOTTED_TIMEOUT", "ALLOTTED_TIMEOUT", "NORMAL_CLEARING"]
    assert all(r.caller_id_number == "79161234567" for r in pbx.legs.outbound())
    hc = next(dict(h) for h, _ in pbx.bus.events
          if h[0][1] == "CHANNEL_HANGUP_COMPLETE" and dict(h)["Unique-ID"] == u)
    assert hc["variable_fsw_scenario"] == "sales"
    assert hc["variable_DIALSTATUS"] == "SUCCESS"
    assert hc["variable_originate_causes"].endswith(";NONE")
    assert hc["variable_originated_legs"].count("|:") == 2


def test_employee_call_answered_is_a_contact(pbx: FakePBX) -> None:
    pbx.directory.set("79161234567", Behaviour.answers(after=3))
    pbx.employee_call("101", "79161234567", talk=5)
    pbx.advance(10)
    legs = pbx.legs.legs
    assert [r.origin for r in legs] == ["inbound", "bridge"]
    assert legs[1].answered and legs[1].endpoint == "sofia/gateway/pstn/79161234567"
    assert pbx.channels == {}


def test_inputs_are_validated(pbx: FakePBX) -> None:
    with pytest.raises(ValidationError):
        pbx.inbound_call("7916 123", "74950000001")
    with pytest.raises(ValidationError):
        pbx.inbound_call("79161234567", "74950000001", ring=[["user/1,user/2"]])
    assert pbx.api("originate", "{a=b user/1 &park()").startswith("-ERR")
    assert pbx.api("originate", "user/1").startswith("-USAGE")


def test_dial_string_parsing() -> None:
    d = parse_dial_string("{a=1,b='x y'}[leg_timeout=5]user/1,user/2|sofia/gateway/g/79")
    assert d.variables == {"a": "1", "b": "x y"}
    assert [[leg.endpoint for leg in step] for step in d.steps] == [
        ["user/1", "user/2"], ["sofia/gateway/g/79"]]
    assert d.steps[0][0].variables == {"leg_timeout": "5"}


def test_scheduler_runs_timers_in_order_at_their_time() -> None:
    clock = ManualClock(1000.0)
    s = Scheduler(clock)
    seen: list[tuple[str, float]] = []
    s.call_later(2, lambda: seen.append(("b", clock.time())))
    s.call_later(1, lambda: seen.append(("a", clock.time())))
    s.call_later(1, lambda: s.call_later(0, lambda: seen.append(("a2", clock.time()))))
    assert s.advance(0.5) == 0
    s.advance(5)
    assert seen == [("a", 1001.0), ("a2", 1001.0), ("b", 1002.0)]
    assert clock.time() == 1005.5
    with pytest.raises(ValueError):
        s.advance(-1)
