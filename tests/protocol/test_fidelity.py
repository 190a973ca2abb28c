"""Fidelity of the fake PBX to FreeSWITCH 1.10.12, checked against the recorded traces.

For each traced situation the fake can produce, the fake is driven through the same
situation (same endpoints, same timings, same commands) and both event streams are
reduced to per-leg sequences: event name (CHANNEL_STATE / CALLSTATE with their state,
EXECUTE with its application), which header groups are present (C = codec headers,
O = Other-Type/Other-Leg-*, V = variable_*), the Other-Leg relationship (as a leg
label), direction, answer state and hangup cause. UUIDs and times are aside.

Not compared (timing arbitrary or not channel lifecycle): HEARTBEAT, RE_SCHEDULE, API,
CODEC, BACKGROUND_JOB, PRESENCE_IN, CUSTOM. The interleaving *between* legs is not
compared either (FreeSWITCH's own delivery order varies, README "Stream properties").
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fsworker.esl.proto.frames import Event
from fsworker.esl.proto.parser import parse_all
from fsworker.esl.proto.wire import event_plain_frame
from fsworker.testing.fakeswitch.dialing import CreateOrder
from fsworker.testing.fakeswitch.directory import Behaviour
from fsworker.testing.fakeswitch.events import ListBus
from fsworker.testing.fakeswitch.pbx import FakePBX
from tests.conftest import trace_bytes

SKIP = {"HEARTBEAT", "RE_SCHEDULE", "API", "CODEC", "BACKGROUND_JOB", "PRESENCE_IN", "CUSTOM"}
KEY_HEADERS = ("Unique-ID", "Channel-Name", "Channel-Call-UUID", "Call-Direction",
               "Answer-State", "Channel-State", "Channel-Call-State", "Event-Sequence",
               "Core-UUID", "Event-Date-Timestamp", "Caller-Caller-ID-Number",
               "Caller-Orig-Caller-ID-Number", "Caller-Destination-Number",
               "Caller-Channel-Created-Time", "Caller-Profile-Index")
RUNG = "sofia/internal/{}@127.0.0.1:5072"  # rings forever
ANSWERS_1S = "sofia/internal/101@127.0.0.1:5071"
BUSY = "sofia/internal/{}@127.0.0.1:5073"
CUSTOMER_PHONE = "sofia/internal/79161234567@127.0.0.1:5074"
FSW = {"fsw_number": "74950000001", "fsw_scenario": "sales", "fsw_site": "shop.example.com",
       "fsw_campaign": "cpc-42"}


def trace_events(name: str) -> list[Event]:
    return [f.event for f in parse_all(trace_bytes(name)) if f.is_event]


def fake_events(bus: ListBus) -> list[Event]:
    # Through the real serializer and parser: what a client of the fake would read.
    data = b"".join(event_plain_frame(h, b) for h, b in bus.events)
    return [f.event for f in parse_all(data)]


def label(e: Event) -> str:
    n = e.name.replace("CHANNEL_", "")
    if n == "STATE":
        n = "S:" + (e.get("Channel-State") or "")[3:]
    elif n == "CALLSTATE":
        n = "CS:" + (e.get("Channel-Call-State") or "")
    elif n in ("EXECUTE", "EXECUTE_COMPLETE"):
        n += ":" + (e.get("Application") or "")
    return n


def legs(events: list[Event]) -> tuple[dict[str, str], dict[str, list[tuple]]]:
    names: dict[str, str] = {}
    seqs: dict[str, list[tuple]] = {}
    for e in events:
        if e.name in SKIP or not e.get("Unique-ID"):
            continue
        u = e.get("Unique-ID") or ""
        if u not in names:
            names[u] = f"L{len(names) + 1}"
            seqs[u] = []
        keys = set(e.keys())
        flags = ("C" if "Channel-Read-Codec-Name" in keys else "") + (
            "O" if "Other-Type" in keys else "") + (
            "V" if any(k.startswith("variable_") for k in keys) else "")
        other = e.get("Other-Leg-Unique-ID")
        seqs[u].append((label(e), flags, names.get(other, "?") if other else "",
                        e.get("Call-Direction"), e.get("Answer-State"), e.get("Hangup-Cause"),
                        e.get("Other-Type")))
    return names, {names[u]: s for u, s in seqs.items()}


def assert_same_legs(real: list[Event], fake: list[Event]) -> None:
    _, real_legs = legs(real)
    _, fake_legs = legs(fake)
    assert list(real_legs) == list(fake_legs), "different number of legs"
    for leg in real_legs:
        r = [x[0] for x in real_legs[leg]]
        f = [x[0] for x in fake_legs[leg]]
        assert f == r, f"{leg}: event sequence differs"
        assert fake_legs[leg] == real_legs[leg], f"{leg}: headers / values differ"
    for e in fake:
        if e.name.startswith("CHANNEL_") and e.name not in SKIP:
            missing = [h for h in KEY_HEADERS if h not in e]
            assert not missing, f"{e.name} lacks {missing}"


def hangup_complete(events: list[Event], leg: str) -> Event:
    names, _ = legs(events)
    uuid = next(u for u, n in names.items() if n == leg)
    return next(e for e in events
                if e.name == "CHANNEL_HANGUP_COMPLETE" and e.get("Unique-ID") == uuid)


def causes(e: Event, events: list[Event]) -> list[tuple[str, str]]:
    names, _ = legs(events)
    raw = (e.variable("originate_causes") or "").removeprefix("ARRAY::")
    return [(names.get(x.split(";")[0], "?"), x.split(";")[1]) for x in raw.split("|:") if x]


MEANINGFUL_VARS = ("fsw_number", "fsw_scenario", "fsw_site", "fsw_campaign", "DIALSTATUS",
                   "originate_disposition", "hangup_cause", "sip_hangup_disposition",
                   "fsw_task_id", "fsw_attempt")


def assert_same_summary(real: list[Event], fake: list[Event], leg: str = "L1") -> None:
    r, f = hangup_complete(real, leg), hangup_complete(fake, leg)
    for var in MEANINGFUL_VARS:
        assert f.variable(var) == r.variable(var), var
    assert causes(f, fake) == causes(r, real)
    for var in ("originated_legs", "last_bridge_to", "bridge_uuid", "transfer_history"):
        assert (f.variable(var) is None) == (r.variable(var) is None), var


# -- scenarios: the same situation on the fake ------------------------------------------
def new_pbx() -> tuple[FakePBX, ListBus]:
    bus = ListBus()
    pbx = FakePBX(bus)
    for n in ("101", "102", "103", "105"):
        pbx.directory.set(RUNG.format(n), Behaviour.rings())
    pbx.directory.set(ANSWERS_1S, Behaviour.answers(1.0))
    pbx.directory.set(CUSTOMER_PHONE, Behaviour.answers(2.0))
    for n in ("106", "79161234567", "101"):
        pbx.directory.set(BUSY.format(n), Behaviour.busy())
    pbx.directory.set("sofia/internal/101@127.0.0.1:5075", Behaviour(
        reaction=Behaviour.answers().reaction, after=1.0, transfer_after=3.0,
        transfer_to="74950000005"))
    pbx.add_extension("74950000005", ring=[[RUNG.format("105")]], leg_timeout=30)
    return pbx, bus


def lost_group_ring(wait: float, order: CreateOrder = CreateOrder.DIAL) -> Callable[[], ListBus]:
    def run() -> ListBus:
        pbx, bus = new_pbx()
        pbx.create_order = order
        pbx.inbound_call("79161234567", "74950000001", vars=FSW,
                         ring=[[RUNG.format("101"), RUNG.format("102")], [RUNG.format("103")]],
                         leg_timeout=10, customer_hangs_up_after=wait)
        pbx.advance(wait + 2)
        return bus
    return run


def answered_call() -> ListBus:
    pbx, bus = new_pbx()
    pbx.inbound_call("79161234567", "74950000002", ring=[[ANSWERS_1S]],
                     vars={"fsw_number": "74950000002", "fsw_scenario": "reception",
                           "fsw_site": "www.example.com", "fsw_campaign": "seo-7"},
                     customer_hangs_up_after=4.0)
    pbx.advance(6)
    return bus


def queue_call() -> ListBus:
    pbx, bus = new_pbx()
    pbx.inbound_call("79161234567", "74950000003", queue="support@default",
                     vars={"fsw_number": "74950000003", "fsw_scenario": "support",
                           "fsw_site": "help.example.com", "fsw_campaign": "email-3"},
                     customer_hangs_up_after=6.0)
    pbx.advance(8)
    return bus


def blind_transfer() -> ListBus:
    pbx, bus = new_pbx()
    fsw = dict(FSW, fsw_number="74950000004", fsw_scenario="manager")
    u = pbx.inbound_call("79161234567", "74950000004", ring=[[ANSWERS_1S]], vars=fsw,
                         customer_hangs_up_after=10.0)
    pbx.advance(4.06)
    assert pbx.api("uuid_transfer", f"{u} 74950000005 XML default") == "+OK\n"
    pbx.advance(8)
    return bus


def attended_transfer() -> ListBus:
    pbx, bus = new_pbx()
    fsw = dict(FSW, fsw_number="74950000004", fsw_scenario="manager")
    u = pbx.inbound_call("79161234567", "74950000004", ring=[[ANSWERS_1S]], vars=fsw,
                         customer_hangs_up_after=10.0)
    pbx.advance(4.4)
    employee = pbx.channels[u].bridged_to
    assert employee
    pbx.attended_transfer(employee, RUNG.format("105"), originate_timeout=20)
    pbx.advance(8)
    pbx.api("uuid_kill", employee)
    pbx.advance(20)
    return bus


def employee_busy() -> ListBus:
    pbx, bus = new_pbx()
    pbx.inbound_call("79161234567", "74950000006", ring=[[BUSY.format("106")]],
                     vars=dict(FSW, fsw_number="74950000006", fsw_scenario="direct-106"))
    pbx.advance(2)
    return bus


def originate(pbx: FakePBX, uuid: str, endpoint: str, cid: str, timeout: int,
              name: str | None = "Callback", task: int = 17) -> list[str]:
    out: list[str] = []
    vars_ = f"origination_uuid={uuid},fsw_task_id={task},fsw_attempt=1," \
            f"origination_caller_id_number={cid},"
    if name:
        vars_ += f"origination_caller_id_name={name},"
    vars_ += f"originate_timeout={timeout},ignore_early_media=true"
    pbx.api_async("originate", f"{{{vars_}}}{endpoint} &park()", out.append)
    return out


def callback_success() -> ListBus:
    pbx, bus = new_pbx()
    e, c = "1aa7cb6e-a82a-4cd9-9995-35e7cfdc8f82", "b38ff880-7cc1-450e-90d5-42ee3084892a"
    r1 = originate(pbx, e, ANSWERS_1S, "79161234567", 15)
    pbx.advance(1.1)
    assert r1 == [f"+OK {e}\n"]
    assert pbx.sendmsg(e, {"call-command": "execute", "execute-app-name": "speak",
                           "execute-app-arg": "flite|kal|Callback to a missed call from "
                                              "shop.example.com",
                           "event-lock": "true"}) == "+OK"
    pbx.advance(3.5)
    r2 = originate(pbx, c, CUSTOMER_PHONE, "74950000001", 20, name=None)
    pbx.advance(2.1)
    assert r2 == [f"+OK {c}\n"]
    assert pbx.api("uuid_bridge", f"{e} {c}") == f"+OK {c}\n"
    pbx.advance(3)
    assert pbx.api("uuid_kill", c) == "+OK\n"
    pbx.advance(1)
    return bus


def callback_no_answer() -> ListBus:
    pbx, bus = new_pbx()
    r = originate(pbx, "f549a177-10ab-4f93-83e8-2412b0cd8d03", RUNG.format("101"),
                  "79161234567", 6, task=19)
    pbx.advance(7)
    assert r == ["-ERR NO_ANSWER\n"]
    return bus


def callback_employee_busy() -> ListBus:
    pbx, bus = new_pbx()
    r = originate(pbx, "5c44d268-9c6a-4cfc-bef8-5edd25e67920", BUSY.format("101"),
                  "79161234567", 15, task=20)
    pbx.advance(1)
    assert r == ["-ERR USER_BUSY\n"]
    return bus


def callback_customer_busy() -> ListBus:
    pbx, bus = new_pbx()
    e = "2e1740cb-6dd3-4461-a9c4-dd84dcaf5da4"
    originate(pbx, e, ANSWERS_1S, "79161234567", 15, task=21)
    pbx.advance(1.1)
    pbx.sendmsg(e, {"call-command": "execute", "execute-app-name": "playback",
                    "execute-app-arg": "tone_stream://%(500,0,440)", "event-lock": "true"})
    pbx.advance(1)
    r = originate(pbx, "3491c0bf-3dc4-40de-b4c3-4e50644c1526", BUSY.format("79161234567"),
                  "74950000001", 20, name=None, task=21)
    pbx.advance(1)
    assert r == ["-ERR USER_BUSY\n"]
    pbx.api("uuid_kill", e)
    pbx.advance(1)
    return bus


def callback_bridge_app() -> ListBus:
    pbx, bus = new_pbx()
    e = "7523815a-3c4f-484d-a7f0-952c1ccd322a"
    originate(pbx, e, ANSWERS_1S, "79161234567", 15, task=18)
    pbx.advance(1.1)
    pbx.sendmsg(e, {"call-command": "execute", "execute-app-name": "bridge",
                    "execute-app-arg": "{origination_caller_id_number=74950000001,"
                                       f"fsw_task_id=18}}{CUSTOMER_PHONE}"})
    pbx.advance(5)
    pbx.api("uuid_kill", e)
    pbx.advance(1)
    return bus


CASES = {
    "03-lost-call-group-ring": lost_group_ring(12.02),
    "04-lost-call-short-wait": lost_group_ring(2.02),
    "05-answered-call": answered_call,
    "06-lost-in-queue": queue_call,
    "07-lost-after-transfer": blind_transfer,
    "07b-lost-during-attended-transfer": attended_transfer,
    "08-callback-success": callback_success,
    "09-callback-employee-no-answer": callback_no_answer,
    "10-callback-employee-busy": callback_employee_busy,
    "11-callback-customer-busy": callback_customer_busy,
    "12-callback-bridge-app": callback_bridge_app,
    "15-lost-call-employee-busy": employee_busy,
    "17-lost-call-group-ring-create-order": lost_group_ring(12.02, CreateOrder.REVERSED),
}


@pytest.mark.parametrize("trace", sorted(CASES))
def test_per_leg_event_sequences_match_the_trace(trace: str) -> None:
    real = trace_events(trace)
    fake = fake_events(CASES[trace]())
    assert_same_legs(real, fake)


@pytest.mark.parametrize("trace", sorted(CASES))
def test_first_legs_hangup_summary_matches_the_trace(trace: str) -> None:
    real = trace_events(trace)
    fake = fake_events(CASES[trace]())
    assert_same_summary(real, fake)


def ring_start(events: list[Event]) -> list[tuple[str, str]]:
    """How the legs of the first ring group came up, across legs: (event, number) of
    every OUTGOING / CREATE / ORIGINATE of a B-leg until its first ringing."""
    out = []
    for e in events:
        if e.name in ("CHANNEL_PROGRESS", "CHANNEL_HANGUP") and e.get("Other-Type"):
            break
        if e.name in ("CHANNEL_OUTGOING", "CHANNEL_CREATE", "CHANNEL_ORIGINATE") \
                and e.get("Other-Type"):
            out.append((e.name.removeprefix("CHANNEL_"), e.get("Caller-Destination-Number") or ""))
    return out


@pytest.mark.parametrize("trace, order", [
    ("03-lost-call-group-ring", CreateOrder.DIAL),
    ("17-lost-call-group-ring-create-order", CreateOrder.REVERSED),
])
def test_a_ring_groups_legs_are_announced_in_dial_order_and_created_in_the_scripted_one(
        trace: str, order: CreateOrder) -> None:
    real = ring_start(trace_events(trace))
    fake = ring_start(fake_events(lost_group_ring(12.02, order)()))
    assert fake == real
    assert real[:2] == [("OUTGOING", "101"), ("OUTGOING", "102")]


def test_shuffled_create_order_is_repeatable_by_seed_and_covers_both_orders() -> None:
    def creates(seed: int) -> list[str]:
        bus = ListBus()
        pbx = FakePBX(bus, create_order=CreateOrder.SHUFFLED, seed=seed)
        for _ in range(8):
            pbx.inbound_call("79161234567", "74950000001",
                             ring=[[RUNG.format("101"), RUNG.format("102")]],
                             customer_hangs_up_after=1)
            pbx.advance(2)
        return [e["Caller-Destination-Number"] for e in bus.dicts()
                if e["Event-Name"] == "CHANNEL_CREATE" and e.get("Other-Type")]

    first = creates(7)
    assert first == creates(7)
    pairs = {tuple(first[i:i + 2]) for i in range(0, len(first), 2)}
    assert pairs == {("101", "102"), ("102", "101")}


def test_through_the_tcp_server_bgapi_originate_and_events() -> None:
    """The PBX as the server's backend: bgapi originate resolves when the test advances
    the shared ManualClock; the channel events reach an `event plain ALL` client."""
    import gevent
    import gevent.socket

    from fsworker.core.clock import ManualClock
    from fsworker.esl.proto.parser import NEED_DATA, Parser
    from fsworker.testing.fakeswitch.server import FakeSwitchServer

    clock = ManualClock()
    server = FakeSwitchServer(clock=clock)
    pbx = FakePBX(server.bus, clock=clock)
    server.backend = pbx
    pbx.directory.set("101", Behaviour.answers(after=1))
    with server:
        sock = gevent.socket.create_connection(("127.0.0.1", server.port), timeout=5)
        parser = Parser()

        def frame():  # type: ignore[no-untyped-def]
            while True:
                f = parser.next_frame()
                if f is not NEED_DATA:
                    return f
                parser.feed(sock.recv(65536))

        def send(cmd: str) -> None:
            sock.sendall(cmd.encode() + b"\n\n")

        assert frame().content_type == "auth/request"
        send("auth ClueCon")
        assert frame().reply_text == "+OK accepted"
        send("event plain ALL")
        assert frame().reply_text.startswith("+OK")
        send("bgapi originate {origination_uuid=e1,fsw_task_id=1}user/101 &park()\n"
             "Job-UUID: job-1")
        events: list[Event] = []
        job = None
        for _ in range(200):
            gevent.sleep(0.01)
            pbx.advance(0.1)
            while parser.buffered or job is None:
                sock.settimeout(0.05)
                try:
                    f = frame()
                except OSError:
                    break
                if f.is_event:
                    events.append(f.event)
                    if f.event.name == "BACKGROUND_JOB":
                        job = f.event
            if job is not None and any(e.name == "CHANNEL_PARK" for e in events):
                break
        assert job is not None and job.body == b"+OK e1\n"
        names = [e.name for e in events if e.get("Unique-ID") == "e1"]
        assert names[:3] == ["CHANNEL_OUTGOING", "CHANNEL_STATE", "CHANNEL_CREATE"]
        assert "CHANNEL_ANSWER" in names and "CHANNEL_PARK" in names
        created = next(e for e in events if e.name == "CHANNEL_CREATE")
        assert created.variable("fsw_task_id") == "1"
        assert created.get("Core-UUID") == server.bus.core_uuid
        sock.close()
