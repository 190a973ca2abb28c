"""The detector against the stream as it really arrives: duplicates, reordering,
interleaving, DESTROY before HANGUP_COMPLETE, links that drop, unbounded input."""

from __future__ import annotations

import random

import pytest

from fsworker.core.calls import ContactKind, LostCall
from fsworker.core.detector import INTERESTING_EVENTS, Detector, IgnoredCall, IgnoreReason
from fsworker.esl.proto.frames import Event
from fsworker.esl.proto.parser import parse_all
from tests.conftest import trace_bytes
from tests.unit._detector_helpers import (
    contacts,
    fact_key,
    ignored,
    lost,
    make_event,
    new_detector,
    run,
    trace_events,
)

LOAD = "14-events-during-load"
LOST_TRACES = [
    "03-lost-call-group-ring",
    "04-lost-call-short-wait",
    "06-lost-in-queue",
    "07-lost-after-transfer",
    "07b-lost-during-attended-transfer",
    "07c-lost-after-sip-refer-transfer",
    "15-lost-call-employee-busy",
]


def facts(calls: list[LostCall]) -> dict[str, tuple[object, ...]]:
    return {c.call_uuid: fact_key(c) for c in calls}


def waits(calls: list[LostCall]) -> dict[str, float]:
    return {c.call_uuid: c.waited_s for c in calls}


def shuffled(events: tuple[Event, ...], seed: int, window: int = 5) -> list[Event]:
    """Random swaps of events at most ``window - 1`` positions apart."""
    rng = random.Random(seed)
    out = list(events)
    for i in range(len(out)):
        j = min(len(out) - 1, i + rng.randrange(window))
        out[i], out[j] = out[j], out[i]
    return out


def customer_final(events: tuple[Event, ...], uuid: str) -> tuple[int, int]:
    hc = next(
        i
        for i, e in enumerate(events)
        if e.name == "CHANNEL_HANGUP_COMPLETE" and e.uuid == uuid
    )
    ds = next(
        i
        for i, e in enumerate(events)
        if e.name == "CHANNEL_DESTROY" and e.uuid == uuid
    )
    return hc, ds


# -- duplicates -------------------------------------------------------------------------
def test_load_trace_replayed_twice_yields_each_lost_call_once() -> None:
    events = trace_events(LOAD)
    det = new_detector()
    once = lost(run(events, det))
    again = lost(run(events, det))
    assert len(once) == 16
    assert again == []


def test_every_event_delivered_twice_in_a_row() -> None:
    for name in LOST_TRACES:
        det = new_detector()
        doubled = [e for ev in trace_events(name) for e in (ev, ev)]
        assert facts(lost(run(doubled, det))) == facts(lost(run(trace_events(name)))), (
            name
        )
        assert det.duplicates > 0


def test_replay_after_the_dedupe_window_is_still_once() -> None:
    # a tiny dedupe window: the concluded-call memory alone must prevent a second yield
    det = new_detector(dedupe_window=8)
    events = trace_events("03-lost-call-group-ring")
    assert len(lost(run(events, det))) == 1
    assert lost(run(events, det)) == []


# -- reordering ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6, 7, 8])
def test_load_trace_shuffled_within_five_events_same_lost_calls(seed: int) -> None:
    events = trace_events(LOAD)
    base = lost(run(events))
    got = lost(run(shuffled(events, seed)))
    assert facts(got) == facts(base)
    for uuid, wait in waits(got).items():
        assert wait == pytest.approx(waits(base)[uuid], abs=0.05)


@pytest.mark.parametrize("seed", [11, 12, 13])
@pytest.mark.parametrize("name", LOST_TRACES + ["05-answered-call"])
def test_single_traces_shuffled_same_outcome(name: str, seed: int) -> None:
    events = trace_events(name)
    base = run(events)
    got = run(shuffled(events, seed))
    assert facts(lost(got)) == facts(lost(base))
    assert [(c.call_uuid, c.kind) for c in contacts(got)] == [
        (c.call_uuid, c.kind) for c in contacts(base)
    ]
    # the same outcomes in the same order (a call's Contact always before its LostCall)
    assert [type(o).__name__ for o in got if not isinstance(o, IgnoredCall)] == [
        type(o).__name__ for o in base if not isinstance(o, IgnoredCall)
    ]


@pytest.mark.parametrize("seed", [21, 22, 23, 24, 25, 26])
@pytest.mark.parametrize(
    "name", ["03-lost-call-group-ring", "17-lost-call-group-ring-create-order"]
)
def test_ring_order_within_a_group_survives_reordered_delivery(
    name: str, seed: int
) -> None:
    # fact_key sorts legs inside a group; this checks the order itself (101 first:
    # the dial string's), whatever order CREATE / OUTGOING are delivered in.
    [call] = lost(run(shuffled(trace_events(name), seed)))
    assert [r.destination for r in call.rung] == ["101", "102", "103"]


def test_several_traces_interleaved_same_lost_calls() -> None:
    names = LOST_TRACES + [
        "05-answered-call",
        "08-callback-success",
        "12-callback-bridge-app",
        LOAD,
    ]
    rng = random.Random(42)
    queues = [list(trace_events(n)) for n in names]
    merged: list[Event] = []
    while any(queues):
        q = rng.choice([q for q in queues if q])
        merged.append(q.pop(0))
    expected: dict[str, tuple[object, ...]] = {}
    for n in names:
        expected.update(facts(lost(run(trace_events(n)))))
    out = run(merged)
    assert facts(lost(out)) == expected
    assert len(expected) == 16 + len(LOST_TRACES)
    assert {c.call_uuid for c in contacts(out)} == {
        "7995ff39-50b3-4c5c-a1da-6077c03e0335",  # 05
        "9ca673c1-76c3-414e-9ee5-efdc2ebe5886",  # 07
        "48d0bfff-13ae-4d79-8124-a6a8ac1404d0",  # 07b
        "0979566d-b09d-4ca7-972e-6b5870e37724",  # 07c
    }


def test_destroy_before_hangup_complete() -> None:
    uuid = "44cd0ee5-9b4d-4f61-9649-a8a8eb5bacc9"
    events = list(trace_events("03-lost-call-group-ring"))
    hc, ds = customer_final(tuple(events), uuid)
    events[hc], events[ds] = events[ds], events[hc]
    out = run(events)
    [call] = lost(out)
    assert fact_key(call) == fact_key(
        lost(run(trace_events("03-lost-call-group-ring")))[0]
    )
    assert call.waited_s == pytest.approx(12.02, abs=0.01)


def test_hangup_complete_missing_destroy_concludes() -> None:
    uuid = "9ca673c1-76c3-414e-9ee5-efdc2ebe5886"
    events = trace_events("07-lost-after-transfer")
    hc, _ = customer_final(events, uuid)
    [call] = lost(run(e for i, e in enumerate(events) if i != hc))
    assert call.call_uuid == uuid
    assert call.transfer is not None and call.transfer.target_employee == "gleb"


def test_att_xfer_end_delivered_before_customer_hangup_complete() -> None:
    # 07b: the att_xfer EXECUTE_COMPLETE (after the customer's CHANNEL_HANGUP in switch
    # order) arrives early: sequence order, not delivery order, decides.
    events = list(trace_events("07b-lost-during-attended-transfer"))
    end = next(
        i
        for i, e in enumerate(events)
        if e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application") == "att_xfer"
    )
    hc, _ = customer_final(tuple(events), "48d0bfff-13ae-4d79-8124-a6a8ac1404d0")
    moved = events.pop(end)
    events.insert(hc, moved)
    [call] = lost(run(events))
    assert call.transfer is not None


# -- unrelated events -------------------------------------------------------------------------
def test_uninteresting_events_are_skipped_by_name_without_parsing() -> None:
    det = new_detector()
    # a split of this header block would raise: proves only Event-Name was read
    bogus = Event.from_plain(b"Event-Name: HEARTBEAT\nnot a header line\n\n")
    assert det.feed(bogus) == []
    assert "HEARTBEAT" not in INTERESTING_EVENTS
    assert "CHANNEL_HANGUP_COMPLETE" in INTERESTING_EVENTS


def test_subscribing_to_interesting_events_only_changes_nothing() -> None:
    for name in LOST_TRACES + [LOAD]:
        events = trace_events(name)
        subset = [e for e in events if e.name in INTERESTING_EVENTS]
        assert facts(lost(run(subset))) == facts(lost(run(events))), name


# -- bounded memory, stale calls, reconciliation -------------------------------------------
_CREATE = (
    "Event-Name: CHANNEL_CREATE\nCore-UUID: core-1\nEvent-Sequence: {seq}\n"
    "Event-Date-Timestamp: {ts}\nUnique-ID: {uuid}\nChannel-Name: sofia/internal/{uuid}\n"
    "Caller-Orig-Caller-ID-Number: 79160000000\nCaller-Destination-Number: 74950000001\n"
    "Caller-Channel-Created-Time: {ts}\nCall-Direction: {direction}\n{other}\n"
)


def _create(uuid: str, seq: int, ts: int, *, parent: str | None = None) -> Event:
    other = f"Other-Type: originator\nOther-Leg-Unique-ID: {parent}\n" if parent else ""
    direction = "outbound" if parent else "inbound"
    text = _CREATE.format(seq=seq, ts=ts, uuid=uuid, direction=direction, other=other)
    return Event.from_plain(text.encode())


def test_never_ending_calls_stay_bounded() -> None:
    det = new_detector(
        max_calls=500, max_legs=1000, dedupe_window=2000, finished_window=2000
    )
    ts = 1_795_000_000_000_000
    for i in range(100_000):
        uuid = f"call-{i}"
        det.feed(_create(uuid, 2 * i + 1, ts + i * 1000))
        if i % 10 == 0:
            det.feed(_create(f"leg-{i}", 2 * i + 2, ts + i * 1000, parent=uuid))
        if i % 5000 == 0:
            assert det.tracked_count <= 500
            assert det.suspect_count <= 500
            assert det.leg_count <= 1000
    assert det.tracked_count == 500
    assert det.suspect_count == 500
    assert det.leg_count == 1000
    assert det.evicted_calls == 100_000 - 500
    assert det.dropped_calls == 100_000 - 1000
    # the newest calls are the ones still tracked / suspected
    assert det.stale_calls(ts) == [f"call-{i}" for i in range(99_000, 99_500)]


def _without_customer_end(name: str, uuid: str) -> list[Event]:
    return [
        e
        for e in trace_events(name)
        if not (
            e.uuid == uuid and e.name in ("CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY")
        )
    ]


def test_stale_call_kept_while_it_exists_then_concluded_as_lost() -> None:
    uuid = "44cd0ee5-9b4d-4f61-9649-a8a8eb5bacc9"
    det = new_detector(max_age_s=60)
    events = _without_customer_end("03-lost-call-group-ring", uuid)
    assert lost(run(events, det)) == []
    assert det.tracked_count == 1
    created_us = next(e for e in events if e.uuid == uuid).timestamp_us
    assert det.stale_calls(created_us + 59_000_000) == []
    assert det.stale_calls(created_us + 61_000_000) == [uuid]
    # still on the switch: kept, and no longer a suspect
    assert det.reconcile({uuid}) == []
    assert det.tracked_count == 1 and det.suspect_count == 0
    assert det.stale_calls(created_us + 62_000_000) == []
    # gone from the switch: concluded with what is known
    assert det.stale_calls(created_us + 200_000_000) == [uuid]
    [call] = det.reconcile(set())
    assert isinstance(call, LostCall)
    assert call.reconciled
    assert call.call_uuid == uuid
    assert call.customer_number == "79161234567"
    assert call.waited_s == pytest.approx(
        12.02, abs=0.01
    )  # its CHANNEL_HANGUP was seen
    assert sorted(r.destination for r in call.rung) == ["101", "102", "103"]
    assert det.tracked_count == 0
    assert det.reconcile(set()) == []


def test_reconcile_after_reconnect_checks_all_tracked_calls() -> None:
    uuid = "6981d824-3983-40c5-be63-4e59ccf0fce4"
    det = new_detector()
    # the link drops right after the customer's CHANNEL_HANGUP
    events = trace_events("04-lost-call-short-wait")
    cut = next(
        i for i, e in enumerate(events) if e.uuid == uuid and e.name == "CHANNEL_HANGUP"
    )
    run(events[: cut + 1], det)
    assert det.reconcile(set()) == []  # not a suspect yet: only suspects by default
    [call] = det.reconcile(set(), all_tracked=True)
    assert isinstance(call, LostCall) and call.reconciled
    assert call.waited_s == pytest.approx(2.02, abs=0.01)


def test_reconciled_answered_call_yields_nothing_more() -> None:
    uuid = "7995ff39-50b3-4c5c-a1da-6077c03e0335"
    det = new_detector()
    out = run(_without_customer_end("05-answered-call", uuid), det)
    assert [c.call_uuid for c in contacts(out)] == [uuid]
    assert det.reconcile(set(), all_tracked=True) == []


# -- synthetic situations the traces do not cover -----------------------------------------------
def test_fsw_ignore_true_is_skipped() -> None:
    uuid = "6981d824-3983-40c5-be63-4e59ccf0fce4"
    patched = []
    for frame in parse_all(trace_bytes("04-lost-call-short-wait")):
        if not frame.is_event:
            continue
        body = frame.body
        if frame.event.uuid == uuid and frame.event.get("variable_fsw_number"):
            # as if the dialplan had also run set(fsw_ignore=true)
            body = body.replace(
                b"\nvariable_fsw_number: ",
                b"\nvariable_fsw_ignore: true\nvariable_fsw_number: ",
                1,
            )
        patched.append(Event.from_plain(body))
    out = run(patched)
    assert lost(out) == []
    assert contacts(out) == []
    assert [(n.call_uuid, n.reason) for n in ignored(out)] == [
        (uuid, IgnoreReason.FSW_IGNORE)
    ]


def _ev(name: str, seq: int, **headers: str | int) -> Event:
    return make_event(
        Event_Name=name,
        Core_UUID="core-2",
        Event_Sequence=seq,
        Event_Date_Timestamp=1_795_000_000_000_000 + seq * 100_000,
        **headers,
    )


def test_employee_dialling_out_answered_is_an_outbound_contact() -> None:
    a = {
        "Unique_ID": "emp-a",
        "Call_Direction": "inbound",
        "Channel_Name": "sofia/internal/101@pbx",
        "Caller_Orig_Caller_ID_Number": "101",
        "Caller_Destination_Number": "79165554433",
    }
    b = {
        "Unique_ID": "gw-b",
        "Call_Direction": "outbound",
        "Other_Type": "originator",
        "Other_Leg_Unique_ID": "emp-a",
        "Channel_Name": "sofia/gateway/gw/79165554433",
        "Caller_Destination_Number": "79165554433",
    }
    events = [
        _ev("CHANNEL_CREATE", 1, **a),
        _ev("CHANNEL_CREATE", 2, **b),
        _ev("CHANNEL_ANSWER", 3, **b),
        _ev(
            "CHANNEL_BRIDGE",
            4,
            **a,
            Bridge_A_Unique_ID="emp-a",
            Bridge_B_Unique_ID="gw-b",
        ),
        _ev("CHANNEL_HANGUP", 5, **b, Hangup_Cause="NORMAL_CLEARING"),
        _ev("CHANNEL_HANGUP", 6, **a, Hangup_Cause="NORMAL_CLEARING"),
        _ev("CHANNEL_HANGUP_COMPLETE", 7, **b, Hangup_Cause="NORMAL_CLEARING"),
        _ev("CHANNEL_HANGUP_COMPLETE", 8, **a, Hangup_Cause="NORMAL_CLEARING"),
    ]
    out = run(events)
    assert lost(out) == []
    [contact] = contacts(out)
    assert contact.kind is ContactKind.OUTBOUND_ANSWERED
    assert contact.customer_number == "79165554433"
    assert contact.call_uuid == "gw-b"
    assert [(n.call_uuid, n.reason) for n in ignored(out)] == [
        ("emp-a", IgnoreReason.EMPLOYEE_CALLER)
    ]


def test_crm_originate_to_customer_answered_is_a_contact_employee_leg_is_not() -> None:
    cust = {
        "Unique_ID": "crm-c",
        "Call_Direction": "outbound",
        "Channel_Name": "sofia/gateway/gw/79167770000",
        "Caller_Destination_Number": "79167770000",
    }
    emp = {
        "Unique_ID": "crm-e",
        "Call_Direction": "outbound",
        "Channel_Name": "sofia/internal/101@pbx",
        "Caller_Destination_Number": "101",
    }
    events = [
        _ev("CHANNEL_CREATE", 1, **emp),
        _ev("CHANNEL_ANSWER", 2, **emp),
        _ev("CHANNEL_CREATE", 3, **cust),
        _ev("CHANNEL_ANSWER", 4, **cust),
        _ev("CHANNEL_HANGUP_COMPLETE", 5, **cust),
        _ev("CHANNEL_HANGUP_COMPLETE", 6, **emp),
    ]
    out = run(events)
    assert [(c.customer_number, c.kind) for c in contacts(out)] == [
        ("79167770000", ContactKind.OUTBOUND_ANSWERED)
    ]
    assert lost(out) == []


def test_outbound_leg_unanswered_is_no_contact_and_not_tracked_after_its_end() -> None:
    leg = {
        "Unique_ID": "crm-x",
        "Call_Direction": "outbound",
        "Channel_Name": "sofia/gateway/gw/79167770001",
        "Caller_Destination_Number": "79167770001",
    }
    det = new_detector()
    out = run(
        [_ev("CHANNEL_CREATE", 1, **leg), _ev("CHANNEL_HANGUP_COMPLETE", 2, **leg)], det
    )
    assert out == []
    assert det.leg_count == 0 and det.tracked_count == 0


def test_bad_limits_are_refused() -> None:
    from fsworker.core.errors import ValidationError

    with pytest.raises(ValidationError):
        Detector({}, max_calls=0)
    with pytest.raises(ValidationError):
        Detector({}, max_age_s=0)
