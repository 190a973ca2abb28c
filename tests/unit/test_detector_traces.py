"""The detector against the real FreeSWITCH 1.10 traces: every lost and answered situation
yields exactly the facts its .md / README lists (parsed from the recorded bytes)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fsworker.core.calls import ContactKind, LossPlace, LostCall, TransferKind
from fsworker.core.detector import IgnoreReason
from fsworker.core.strategies.last_attempted import tried_endpoints
from tests.unit._detector_helpers import (
    CUSTOMER,
    contacts,
    ignored,
    lost,
    run,
    trace_events,
)


def only_lost(name: str) -> LostCall:
    found = lost(run(trace_events(name)))
    assert len(found) == 1, found
    return found[0]


def rel(call: LostCall, us: int) -> float:
    """Seconds from the customer's channel creation (µs switch clock)."""
    created = call.lost_at.timestamp() - call.waited_s
    return us / 1e6 - created


def groups(call: LostCall) -> list[list[tuple[str, str | None, str]]]:
    return [
        [(r.destination, r.employee, r.cause) for r in g] for g in call.ring_groups()
    ]


def test_03_group_ring_lost_with_two_ring_groups() -> None:
    call = only_lost("03-lost-call-group-ring")
    assert call.call_uuid == "44cd0ee5-9b4d-4f61-9649-a8a8eb5bacc9"
    assert call.customer_number == CUSTOMER
    assert (call.virtual_number, call.scenario, call.site, call.campaign) == (
        "74950000001",
        "sales",
        "shop.example.com",
        "cpc-42",
    )
    assert call.place is LossPlace.SCENARIO
    assert call.waited_s == pytest.approx(12.02, abs=0.01)
    assert call.hangup_cause == "ORIGINATOR_CANCEL"
    assert call.transfer is None
    assert groups(call) == [
        [("101", "anna", "ALLOTTED_TIMEOUT"), ("102", "boris", "ALLOTTED_TIMEOUT")],
        [("103", "vera", "ORIGINATOR_CANCEL")],
    ]
    by_dest = {r.destination: r for r in call.rung}
    assert [r.uuid for r in call.rung] == [
        "86edfdfe-8c54-4c5d-9db1-4be48bf1dc46",
        "aef0faf5-9569-4567-978d-f03f3e7454ae",
        "be6e929d-ad08-43c7-b1a3-970e366e1dbb",
    ]
    assert rel(call, by_dest["101"].started_us) == pytest.approx(0.0, abs=0.03)
    assert rel(call, by_dest["102"].ended_us) == pytest.approx(10.58, abs=0.01)
    assert rel(call, by_dest["103"].started_us) == pytest.approx(10.60, abs=0.01)
    assert rel(call, by_dest["103"].ended_us) == pytest.approx(12.04, abs=0.01)
    assert by_dest["101"].endpoint == "sofia/internal/101@127.0.0.1:5072"
    assert not any(r.answered for r in call.rung)
    # lost_at is the CHANNEL_HANGUP event time (UTC), 16:25:37.44 on the recording host
    assert call.lost_at.tzinfo is UTC
    assert call.lost_at == datetime(2026, 11, 28, 16, 25, 37, 443098, tzinfo=UTC)


def test_17_ring_order_is_the_dial_strings_not_create_arrival() -> None:
    # The switch emitted CHANNEL_CREATE for 102 before 101 (both CHANNEL_OUTGOING
    # in dial-string order): "rung first" must still be 101, in every run.
    events = trace_events("17-lost-call-group-ring-create-order")
    creates = [e.get("Caller-Destination-Number") for e in events
               if e.name == "CHANNEL_CREATE" and e.get("Other-Type") == "originator"]
    assert creates == ["102", "101", "103"]  # the recording is what this test is about
    call = only_lost("17-lost-call-group-ring-create-order")
    assert call.call_uuid == "8ea093f0-b482-4566-adf8-593cceba1bd4"
    assert groups(call) == [
        [("101", "anna", "ALLOTTED_TIMEOUT"), ("102", "boris", "ALLOTTED_TIMEOUT")],
        [("103", "vera", "ORIGINATOR_CANCEL")],
    ]
    assert [r.uuid for r in call.rung] == [
        "c9272818-d443-481a-82d3-4b6605b8248a",
        "f6b98fc4-dcae-43a5-baeb-4c47d0d15fb4",
        "0c2caa16-f18d-48e6-b183-67e5830c0e0b",
    ]


def test_17_without_channel_outgoing_the_originated_legs_order_decides() -> None:
    # A subscription without CHANNEL_OUTGOING (an older config): the customer's
    # variable_originated_legs still lists the legs in dial-string order.
    events = [e for e in trace_events("17-lost-call-group-ring-create-order")
              if e.name != "CHANNEL_OUTGOING"]
    [call] = lost(run(events))
    assert [r.destination for r in call.rung] == ["101", "102", "103"]


def test_17_last_attempted_rings_the_dial_strings_first_number_first() -> None:
    call = only_lost("17-lost-call-group-ring-create-order")
    assert tried_endpoints(call) == (
        "sofia/internal/101@127.0.0.1:5072",
        "sofia/internal/102@127.0.0.1:5072",
        "sofia/internal/103@127.0.0.1:5072",
    )


def test_04_short_wait_two_rung_together_103_never() -> None:
    call = only_lost("04-lost-call-short-wait")
    assert call.call_uuid == "6981d824-3983-40c5-be63-4e59ccf0fce4"
    assert call.customer_number == CUSTOMER
    assert call.waited_s == pytest.approx(2.02, abs=0.01)
    assert (call.virtual_number, call.scenario, call.site, call.campaign) == (
        "74950000001",
        "sales",
        "shop.example.com",
        "cpc-42",
    )
    assert groups(call) == [
        [("101", "anna", "ORIGINATOR_CANCEL"), ("102", "boris", "ORIGINATOR_CANCEL")]
    ]


def test_05_answered_call_is_a_contact_not_lost() -> None:
    out = run(trace_events("05-answered-call"))
    assert lost(out) == []
    [contact] = contacts(out)
    assert contact.kind is ContactKind.INBOUND_ANSWERED
    assert contact.customer_number == CUSTOMER
    assert contact.call_uuid == "7995ff39-50b3-4c5c-a1da-6077c03e0335"
    assert contact.employee == "anna"
    assert contact.node == "test"
    # at the bridge (1.04 s), not at the hangup (4.06 s)
    assert contact.at == datetime(2026, 11, 28, 16, 25, 48, 783101, tzinfo=UTC)


def test_06_answered_by_the_pbx_queue_is_still_lost() -> None:
    out = run(trace_events("06-lost-in-queue"))
    assert contacts(out) == []
    [call] = lost(out)
    assert call.call_uuid == "461675c6-afbe-4465-aa21-66d3a9bd3066"
    assert call.waited_s == pytest.approx(6.02, abs=0.01)
    assert (call.virtual_number, call.scenario, call.site, call.campaign) == (
        "74950000003",
        "support",
        "help.example.com",
        "email-3",
    )
    assert call.place is LossPlace.SCENARIO
    assert call.rung == ()
    assert call.hangup_cause == "NORMAL_CLEARING"


@pytest.mark.parametrize(
    "name, uuid, did, kind, target_dest, wait",
    [
        (
            "07-lost-after-transfer",
            "9ca673c1-76c3-414e-9ee5-efdc2ebe5886",
            "74950000004",
            TransferKind.BLIND,
            "74950000005",
            10.06,
        ),
        (
            "07b-lost-during-attended-transfer",
            "48d0bfff-13ae-4d79-8124-a6a8ac1404d0",
            "74950000004",
            TransferKind.ATTENDED,
            "105",
            10.04,
        ),
        (
            "07c-lost-after-sip-refer-transfer",
            "0979566d-b09d-4ca7-972e-6b5870e37724",
            "74950000007",
            TransferKind.REFER,
            "74950000005",
            10.06,
        ),
    ],
)
def test_07_transfers_yield_contact_then_lost_in_transfer(
    name: str, uuid: str, did: str, kind: TransferKind, target_dest: str, wait: float
) -> None:
    out = run(trace_events(name))
    kinds = [type(o).__name__ for o in out]
    assert kinds == ["Contact", "LostCall"]  # the contact (bridge to 101) comes first
    contact, call = out
    assert contact.call_uuid == call.call_uuid == uuid
    assert contact.employee == "anna"
    assert contact.at < call.lost_at
    assert call.customer_number == CUSTOMER
    assert call.virtual_number == did  # fsw_number of the DID it came in on
    assert (call.scenario, call.site, call.campaign) == (
        "manager",
        "shop.example.com",
        "cpc-42",
    )
    assert call.place is LossPlace.TRANSFER
    assert call.lost_in_transfer
    # 07b: the CHANNEL_HANGUP time, not the late Hangup-Time (13.08 s)
    assert call.waited_s == pytest.approx(wait, abs=0.01)
    assert call.transfer is not None
    assert call.transfer.kind is kind
    assert call.transfer.transferrer_employee == "anna"
    assert call.transfer.transferrer_endpoint is not None
    assert call.transfer.transferrer_endpoint.startswith("sofia/internal/101@")
    assert call.transfer.target_employee == "gleb"
    assert call.transfer.target_endpoint == "sofia/internal/105@127.0.0.1:5072"
    assert call.transfer.target_destination == target_dest
    assert [(r.destination, r.ring_group, r.answered) for r in call.rung] == [
        ("101", 0, True),
        ("105", 1, False),
    ]


def test_07_and_07c_target_causes_known_07b_target_still_ringing() -> None:
    c07 = only_lost("07-lost-after-transfer")
    assert [r.cause for r in c07.rung] == ["NORMAL_CLEARING", "ORIGINATOR_CANCEL"]
    # 07b: the customer's call is concluded at its HANGUP_COMPLETE (13.08 s); 105 rings
    # on until 23.64 s, so its cause is not known yet (documented: no grace timer).
    c07b = only_lost("07b-lost-during-attended-transfer")
    assert c07b.rung[1].cause == ""
    assert c07b.rung[1].uuid == "6c17877e-5a43-46cf-b81a-9b7b1c686dbc"


@pytest.mark.parametrize(
    "name, own",
    [
        ("08-callback-success", 2),
        ("09-callback-employee-no-answer", 1),
        ("10-callback-employee-busy", 1),
        ("11-callback-customer-busy", 2),
        ("12-callback-bridge-app", 2),
        ("13-json-events", 2),
    ],
)
def test_fsworker_own_legs_are_never_customers(name: str, own: int) -> None:
    out = run(trace_events(name))
    assert lost(out) == []
    assert contacts(out) == []
    notes = ignored(out)
    assert len(notes) == own
    assert {n.reason for n in notes} == {IgnoreReason.OWN_LEG}
    assert len({n.call_uuid for n in notes}) == own


def test_14_load_sixteen_lost_calls_of_three_seconds() -> None:
    out = run(trace_events("14-events-during-load"))
    calls = lost(out)
    assert len(calls) == 16
    assert sorted(c.customer_number for c in calls) == [
        f"7916000{i:04d}" for i in range(1, 17)
    ]
    assert len({c.call_uuid for c in calls}) == 16
    for c in calls:
        assert 2.99 <= c.waited_s <= 3.03
        assert c.virtual_number == "74950000001"
        assert c.scenario == "sales"
        assert c.hangup_cause == "ORIGINATOR_CANCEL"
        assert [sorted(r.destination for r in g) for g in c.ring_groups()] == [
            ["101", "102"]
        ]
    assert contacts(out) == []


def test_15_employee_busy_lost_with_106_tried() -> None:
    call = only_lost("15-lost-call-employee-busy")
    assert call.call_uuid == "7cac6e61-92ab-4b24-acb5-68ff61f1c847"
    assert call.waited_s == pytest.approx(0.02, abs=0.01)
    assert call.hangup_cause == "USER_BUSY"
    assert (call.virtual_number, call.scenario, call.site, call.campaign) == (
        "74950000006",
        "direct-106",
        "shop.example.com",
        "cpc-42",
    )
    assert groups(call) == [[("106", "dina", "USER_BUSY")]]


def test_16_non_ascii_caller_name_and_restricted_subscription() -> None:
    out = run(trace_events("16-non-ascii"))
    [call] = lost(out)
    assert call.call_uuid == "448a0d80-ac4b-4055-99ce-3bcd06c4f8e5"
    assert call.caller_name == "Иван Петров"
    assert call.customer_number == CUSTOMER
    # no CHANNEL_HANGUP in this subscription: Caller-Channel-Hangup-Time (2.04 s)
    assert call.waited_s == pytest.approx(2.04, abs=0.01)
    assert sorted(r.destination for r in call.rung) == ["101", "102"]
    assert [n.call_uuid for n in ignored(out)] == [
        "feca3f74-d748-407f-a046-ca04d7f46696"
    ]


@pytest.mark.parametrize("name", ["01-handshake-wrong-password", "02-commands"])
def test_no_calls_no_outcomes(name: str) -> None:
    assert run(trace_events(name)) == []
