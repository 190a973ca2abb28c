"""The fake switch's control commands (fake_call, fake_endpoint, fake_transfer,
fake_status): strict parsing, validated numbers and endpoints, -ERR naming the field."""

from __future__ import annotations

import pytest

from fsworker.core.clock import ManualClock
from fsworker.testing.fakeswitch.directory import Reaction
from fsworker.testing.fakeswitch.events import ListBus
from fsworker.testing.fakeswitch.pbx import FakePBX


@pytest.fixture
def pbx() -> FakePBX:
    return FakePBX(bus=ListBus(), clock=ManualClock())


def test_fake_call_rings_groups_in_turn_and_sets_the_contract_variables(pbx: FakePBX) -> None:
    reply = pbx.api("fake_call", "79161234567 74950000001 ring=user/101,user/102|user/103 leg_timeout=5 "
                                 "hangup_after=8 site=shop.example.com campaign=c1 scenario=ivr1")
    assert reply.startswith("+OK ")
    uuid = reply.split()[1]
    pbx.advance(1)
    ch = pbx.channels[uuid]
    assert ch.variables["fsw_site"] == "shop.example.com"
    assert ch.variables["fsw_campaign"] == "c1" and ch.variables["fsw_scenario"] == "ivr1"
    assert [[r.endpoint for r in g] for g in pbx.legs.groups()] == [["user/101", "user/102"]]
    pbx.advance(5)
    assert [[r.endpoint for r in g] for g in pbx.legs.groups()][-1] == ["user/103"]
    pbx.advance(3)  # 8 s after calling, while user/103 rings
    assert pbx.legs.by_uuid(uuid).cause == "ORIGINATOR_CANCEL"


def test_fake_endpoint_scripts_the_directory(pbx: FakePBX) -> None:
    assert pbx.api("fake_endpoint", "user/101 answer after=2 hangup_after=9") == "+OK\n"
    b = pbx.directory.lookup("user/101")
    assert (b.reaction, b.after, b.hangup_after) == (Reaction.ANSWER, 2.0, 9.0)
    assert pbx.api("fake_endpoint", "79161234567 busy") == "+OK\n"
    assert pbx.directory.lookup("sofia/gateway/pstn/79161234567").reaction is Reaction.BUSY


@pytest.mark.parametrize(("command", "arg", "field"), [
    ("fake_call", "7916x 74950000001", "customer"),
    ("fake_call", "79161234567", "did"),
    ("fake_call", "79161234567 74950000001 ring=user/101,sofia/gateway/x/900}", "ring[0][1]"),
    ("fake_call", "79161234567 74950000001 ring=user/101||user/102", "ring[1]"),
    ("fake_call", "79161234567 74950000001 hangup_after=-1", "hangup_after"),
    ("fake_call", "79161234567 74950000001 hangup_after=nan", "hangup_after"),
    ("fake_call", "79161234567 74950000001 colour=red", "colour"),
    ("fake_call", "79161234567 74950000001 site=a site=b", "site"),
    ("fake_call", "79161234567 74950000001 site=a;hangup", "site"),
    ("fake_call", "79161234567 74950000001 ignore=yes", "ignore"),
    ("fake_call", "79161234567 74950000001 ring=user/101 queue=q", "queue"),
    ("fake_endpoint", "user/1,2 answer", "endpoint"),
    ("fake_endpoint", "user/101 explode", "action"),
    ("fake_endpoint", "user/101 ring after=3", "after"),
    ("fake_endpoint", "user/101 busy hangup_after=3", "hangup_after"),
    ("fake_transfer", "not-a-uuid 100", "uuid"),
    ("fake_status", "now", "argument"),
])
def test_bad_arguments_are_refused_naming_the_field(pbx: FakePBX, command: str, arg: str, field: str) -> None:
    reply = pbx.api(command, arg)
    assert reply.startswith(f"-ERR {field}: "), reply
    assert not pbx.channels and not pbx.legs.legs


def test_unknown_fake_command_answers_like_any_unknown_command(pbx: FakePBX) -> None:
    assert pbx.api("fake_explode", "now") == "-ERR fake_explode Command not found!\n"


def test_fake_transfer_and_status(pbx: FakePBX) -> None:
    uuid = pbx.api("fake_call", "79161234567 74950000001 ring=user/102").split()[1]
    pbx.api("fake_endpoint", "user/105 answer after=1")
    pbx.advance(1)
    assert pbx.api("fake_transfer", f"{uuid} 200 ring=user/105") == "+OK\n"
    pbx.advance(3)
    status = pbx.api("fake_status", "")
    assert status.startswith("channels up: ")
    assert f"{uuid} inbound" in status and "bridge user/105 cid=79161234567 answered up" in status
    target = pbx.legs.outbound()[-1]
    assert target.endpoint == "user/105" and f"ACTIVE bridged={target.uuid}" in status


def test_fake_config_scripts_the_create_order_of_legs_rung_together(pbx: FakePBX) -> None:
    assert pbx.api("fake_config", "create_order=reversed") == "+OK\n"
    pbx.api("fake_call", "79161234567 74950000001 ring=user/101,user/102 hangup_after=3")
    pbx.advance(4)
    legs = pbx.legs.outbound()
    assert [r.endpoint for r in legs] == ["user/101", "user/102"]  # announced in dial order
    assert [r.create_index for r in legs] == [2, 1]  # 102's CHANNEL_CREATE first
    assert pbx.api("fake_config", "create_order=shuffled seed=5") == "+OK\n"
    assert pbx.api("fake_config", "create_order=sideways").startswith("-ERR create_order")
    assert pbx.api("fake_config", "seed=-1").startswith("-ERR seed")


def test_uuid_dump_carries_the_moment_it_was_taken(pbx: FakePBX) -> None:
    """A real uuid_dump is a CHANNEL_DATA event with its Event-Date-Timestamp; recovery
    reads it as the time a bridged call was last seen up (its talk lasted at least that)."""
    import json

    uuid = pbx.api("fake_call", "79161234567 74950000001 ring=user/101 leg_timeout=5").split()[1]
    pbx.advance(2.5)
    dump = json.loads(pbx.api("uuid_dump", f"{uuid} json"))
    assert int(dump["Event-Date-Timestamp"]) == pbx.now_us()


def test_every_endpoint_action_of_the_cli_is_one_the_switch_takes(pbx: FakePBX) -> None:
    """`fsworker fake-switch endpoint` offers what fake_endpoint accepts (out_of_order:
    a phone that is down, DESTINATION_OUT_OF_ORDER, as a stopping switch also says)."""
    from fsworker.cli.cmd_fake_switch import _ACTIONS, _api_command
    from fsworker.cli.main import build_parser

    assert "out_of_order" in _ACTIONS
    for action in _ACTIONS:
        args = build_parser().parse_args(["fake-switch", "endpoint", "user/101", action])
        command, arg = _api_command(args)
        assert (command, arg) == ("fake_endpoint", f"user/101 {action}")
        assert pbx.api(command, arg) == "+OK\n", action
        assert pbx.directory.lookup("user/101").reaction is Reaction(action)
