"""The fake switch's record of bridges: who with whom, from when until when, exactly as
its CHANNEL_BRIDGE / CHANNEL_UNBRIDGE events report them (traces 05, 08, 12). The e2e
tests take "bridged" from here, so it must never say more than the events do."""

from __future__ import annotations

import json

import pytest

from fsworker.testing.fakeswitch.directory import Behaviour
from fsworker.testing.fakeswitch.events import ListBus
from fsworker.testing.fakeswitch.pbx import FakePBX

EMPLOYEE, CUSTOMER = "e0000000-0000-0000-0000-000000000001", "c0000000-0000-0000-0000-000000000002"


@pytest.fixture
def pbx() -> FakePBX:
    pbx = FakePBX(ListBus())
    pbx.directory.set("user/101", Behaviour.answers(after=1))
    pbx.directory.set("79161234567", Behaviour.answers(after=2))
    return pbx


def bridge_events(pbx: FakePBX) -> list[tuple[str, str, str, str, int]]:
    """(event, Unique-ID, Bridge-A, Bridge-B, µs) of every (UN)BRIDGE, in order."""
    return [(e["Event-Name"], e["Unique-ID"], e["Bridge-A-Unique-ID"], e["Bridge-B-Unique-ID"],
             int(e["Event-Date-Timestamp"]))
            for e in pbx.bus.dicts() if e["Event-Name"] in ("CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE")]


def uuid_bridged(pbx: FakePBX) -> None:
    """A callback as fsworker places it: employee, customer, ``uuid_bridge`` (08)."""
    out: list[str] = []
    pbx.api_async("originate", f"{{origination_uuid={EMPLOYEE}}}user/101 &park()", out.append)
    pbx.advance(1.5)
    pbx.api_async("originate", f"{{origination_uuid={CUSTOMER}}}sofia/gateway/pstn/79161234567 &park()",
                  out.append)
    pbx.advance(2.5)
    assert out == [f"+OK {EMPLOYEE}\n", f"+OK {CUSTOMER}\n"]
    assert pbx.api("uuid_bridge", f"{EMPLOYEE} {CUSTOMER}") == f"+OK {CUSTOMER}\n"


def test_uuid_bridge_customer_hangs_up_first_as_in_08(pbx: FakePBX) -> None:
    uuid_bridged(pbx)
    pbx.advance(7)
    assert pbx.api("uuid_kill", CUSTOMER) == "+OK\n"
    pbx.advance(1)
    events = bridge_events(pbx)
    assert [(n, u, a, b) for n, u, a, b, _ in events] == [
        ("CHANNEL_BRIDGE", EMPLOYEE, EMPLOYEE, CUSTOMER),
        ("CHANNEL_UNBRIDGE", EMPLOYEE, EMPLOYEE, CUSTOMER),  # 08: B named, not empty
    ]
    [bridge] = pbx.legs.bridges()
    assert (bridge.a_uuid, bridge.b_uuid) == (EMPLOYEE, CUSTOMER)
    assert (bridge.started_us, bridge.ended_us) == (events[0][4], events[1][4])
    assert bridge.talk_us == 7_000_000
    for uuid in (EMPLOYEE, CUSTOMER):
        assert pbx.legs.by_uuid(uuid).bridges == [bridge]  # type: ignore[union-attr]
    assert bridge.partner_of(CUSTOMER) == EMPLOYEE


def test_uuid_bridge_employee_hangs_up_first_still_reports_the_unbridge(pbx: FakePBX) -> None:
    # 12 shows the A side's bridge thread reporting CHANNEL_UNBRIDGE after both hangups.
    uuid_bridged(pbx)
    pbx.advance(4)
    assert pbx.api("uuid_kill", EMPLOYEE) == "+OK\n"
    pbx.advance(1)
    names = [(e["Event-Name"], e["Unique-ID"]) for e in pbx.bus.dicts()
             if e["Event-Name"] in ("CHANNEL_HANGUP", "CHANNEL_UNBRIDGE")]
    assert names == [("CHANNEL_HANGUP", EMPLOYEE), ("CHANNEL_HANGUP", CUSTOMER),
                     ("CHANNEL_UNBRIDGE", EMPLOYEE)]
    [bridge] = pbx.legs.bridges()
    assert bridge.talk_us == 4_000_000


def test_no_uuid_bridge_no_bridge_record(pbx: FakePBX) -> None:
    out: list[str] = []
    pbx.api_async("originate", f"{{origination_uuid={EMPLOYEE}}}user/101 &park()", out.append)
    pbx.api_async("originate", f"{{origination_uuid={CUSTOMER}}}sofia/gateway/pstn/79161234567 &park()",
                  out.append)
    pbx.advance(10)
    assert len(out) == 2
    assert pbx.legs.bridges() == []
    assert all(r.bridges == [] for r in pbx.legs.legs)


def test_bridge_app_records_the_customer_and_the_employee_who_answered(pbx: FakePBX) -> None:
    u = pbx.inbound_call("79161234567", "74950000002", ring=[["user/102", "user/101"]],
                         customer_hangs_up_after=6)
    pbx.advance(8)
    [bridge] = pbx.legs.bridges()
    employee = next(r for r in pbx.legs.outbound() if r.endpoint == "user/101")
    assert (bridge.a_uuid, bridge.b_uuid) == (u, employee.uuid)
    assert bridge.ended_us is not None and bridge.talk_us > 0  # type: ignore[operator]
    other = next(r for r in pbx.legs.outbound() if r.endpoint == "user/102")
    assert other.bridges == []


def test_far_end_hangs_up_exactly_so_long_after_the_bridge(pbx: FakePBX) -> None:
    pbx.directory.set("79161234567", Behaviour.answers(after=2.37, bye_after_bridge=5))
    uuid_bridged(pbx)
    pbx.advance(0.013)  # an odd moment: the bridge is at some float time, the end exact
    pbx.advance(10)
    [bridge] = pbx.legs.bridges()
    assert bridge.talk_us == 5_000_000
    hangup = next(e for e in pbx.bus.dicts()
                  if e["Event-Name"] == "CHANNEL_HANGUP" and e["Unique-ID"] == CUSTOMER)
    assert int(hangup["Event-Date-Timestamp"]) - bridge.started_us == 5_000_000


def test_fake_legs_lists_each_legs_bridges(pbx: FakePBX) -> None:
    uuid_bridged(pbx)
    pbx.advance(3)
    doc = {leg["uuid"]: leg for leg in json.loads(pbx.api("fake_legs", ""))["legs"]}
    [open_bridge] = doc[CUSTOMER]["bridges"]
    assert open_bridge["a_uuid"] == EMPLOYEE and open_bridge["ended_us"] is None
    pbx.api("uuid_kill", CUSTOMER)
    pbx.advance(1)
    doc = {leg["uuid"]: leg for leg in json.loads(pbx.api("fake_legs", ""))["legs"]}
    assert doc[EMPLOYEE]["bridges"] == doc[CUSTOMER]["bridges"]
    [closed] = doc[EMPLOYEE]["bridges"]
    assert closed["ended_us"] - closed["started_us"] == 3_000_000
