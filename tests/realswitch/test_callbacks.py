"""The main callback flows of fsworker against a real FreeSWITCH and SIPp phones.

Each test starts `fsworker run` on its own SQLite database with a rule for one of the
tier's own DIDs (tests/data/realswitch/conf/dialplan/default/fsw_pbx.xml, 7495000001x),
makes a SIPp customer lose a call there, and reads what the switch did from an
independent ESL connection: which legs were dialled, in what order, with what caller
ID, what was spoken, what was bridged.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.realswitch.harness import Lab, unique_number

GROUP_DID = "74950000011"  # 101 + 102 ring 3 s, then 103 3 s (all on 5072: never answered)


def _sqlite(lab: Lab) -> str:
    return f"sqlite:///{lab.dir / 'fsworker.sqlite3'}"


def setup_group_rule(lab: Lab, cfg: Path, *, endpoints: dict[str, str], max_lines: int = 1,
                     strategy: str = "group", intervals: str = "0", did: str = GROUP_DID,
                     hint: str | None = None, max_concurrent: int = 1) -> None:
    lab.cli(cfg, "db", "upgrade")
    lab.cli(cfg, "numbers", "add", did)
    for name, endpoint in endpoints.items():
        lab.cli(cfg, "employees", "add", name, "--endpoint", endpoint)
    members = [arg for name in endpoints for arg in ("--member", name)]
    lab.cli(cfg, "groups", "add", "sales", *members, "--max-lines", str(max_lines))
    hint_args = ["--hint-text", hint, "--hint-language", "en"] if hint else []
    target = ["--target", "sales"] if strategy == "group" else []
    lab.cli(cfg, "rules", "add", "sales", "--strategy", strategy, *target, "--place", "number",
            "--place-value", did, "--intervals", intervals, "--min-wait", "1",
            "--max-concurrent", str(max_concurrent), *hint_args)


def hang_up_when_bridged(lab: Lab, task_id: int, after_s: float = 3.0) -> None:
    """The customer talks ``after_s`` seconds, then hangs up (SIPp phones never do)."""
    def bridged() -> str | None:
        legs = lab.observer.callback_legs(task_id, "customer")
        return next((leg.uuid for leg in legs if leg.bridged_to or any(
            other.bridged_to == leg.uuid for other in lab.observer.callback_legs(task_id))), None)

    uuid = lab.until(f"task {task_id}'s customer leg to be bridged", bridged, 60)
    time.sleep(after_s)
    lab.switch.esl.api("uuid_kill", uuid)


def test_group_ring_loss_is_called_back_with_a_hint_and_the_did_as_caller_id(lab: Lab) -> None:
    customer = unique_number()
    cfg = lab.config("w1", db_url=_sqlite(lab))
    setup_group_rule(lab, cfg, endpoints={"Anna": "sofia/internal/101@127.0.0.1:5071"},
                     hint="Call back from {{ site }}")
    lab.run("w1", cfg)

    lost = lab.lost_call(customer, GROUP_DID, ring_ms=4000)
    task = lab.until("a task for the lost call", lambda: lab.task_of(cfg, customer), 30)
    task_id = task["id"]
    hang_up_when_bridged(lab, task_id)
    task = lab.wait_task_done(cfg, customer, 60)
    assert task["end_reason"] == "success", task
    assert [a["outcome"] for a in task["attempts"]] == ["success"], task

    # the lost call, as the switch saw it: the customer on the DID, 101 + 102 rung together
    inbound = lab.observer.customer_legs(customer)
    assert [leg.create["Caller-Destination-Number"] for leg in inbound] == [GROUP_DID]
    assert [c["call_uuid"] for c in task["lost_calls"]] == [inbound[0].uuid]
    assert "CANCEL" in lost.trace()

    # the callback, as the switch saw it: employee first, the hint, then the customer
    employee = lab.observer.callback_legs(task_id, "employee")
    callee = lab.observer.callback_legs(task_id, "customer")
    assert [leg.name for leg in employee] == ["sofia/internal/101@127.0.0.1:5071"]
    assert [leg.name for leg in callee] == [f"sofia/internal/{customer}@127.0.0.1:5074"]
    assert employee[0].created_seq < callee[0].created_seq
    assert employee[0].answered and callee[0].answered
    spoken = [data for app, data in employee[0].apps if app == "speak"]
    assert spoken and "shop.example.com" in spoken[0], employee[0].apps
    # the employee sees the customer's number; the customer sees the DID they dialled
    assert employee[0].caller_id_number == customer
    assert callee[0].caller_id_number == GROUP_DID
    assert employee[0].bridged_to == callee[0].uuid or callee[0].bridged_to == employee[0].uuid
    lab.quiet([customer])


def test_employee_no_answer_is_retried_by_the_rules_intervals(lab: Lab) -> None:
    customer = unique_number()
    cfg = lab.config("w1", db_url=_sqlite(lab), employee_ring_s=5)
    setup_group_rule(lab, cfg, endpoints={"Anna": "sofia/internal/101@127.0.0.1:5072"}, intervals="0,5,5")
    lab.run("w1", cfg)

    lab.lost_call(customer, GROUP_DID, ring_ms=2000)
    task = lab.wait_task_done(cfg, customer, 90)
    assert task["end_reason"] == "attempts_exhausted", task
    assert [a["outcome"] for a in task["attempts"]] == ["no_employee_answered"] * 3, task

    legs = lab.observer.callback_legs(task["id"])
    assert [(leg.role, leg.attempt, leg.name) for leg in legs] == [
        ("employee", n, "sofia/internal/101@127.0.0.1:5072") for n in (1, 2, 3)]
    assert all(not leg.answered for leg in legs)
    # each rang about the ring time, and the next began an interval after it ended
    for leg in legs:
        assert leg.ended_us is not None
        assert 3.9 <= (leg.ended_us - leg.created_us) / 1e6 <= 6, leg
    for before, after in zip(legs, legs[1:], strict=False):
        assert before.ended_us is not None
        assert (after.created_us - before.ended_us) / 1e6 >= 4.5, (before, after)


def test_customer_busy_ends_the_attempt_customer_busy(lab: Lab) -> None:
    customer = unique_number()
    cfg = lab.config("w1", db_url=_sqlite(lab), customer_template="sofia/internal/{number}@127.0.0.1:5073")
    setup_group_rule(lab, cfg, endpoints={"Anna": "sofia/internal/101@127.0.0.1:5071"})
    lab.run("w1", cfg)

    lab.lost_call(customer, GROUP_DID, ring_ms=2000)
    task = lab.wait_task_done(cfg, customer, 60)
    assert task["end_reason"] == "attempts_exhausted", task
    assert [a["outcome"] for a in task["attempts"]] == ["customer_busy"], task

    employee = lab.observer.callback_legs(task["id"], "employee")
    callee = lab.observer.callback_legs(task["id"], "customer")
    assert len(employee) == 1 and employee[0].answered
    assert [leg.name for leg in callee] == [f"sofia/internal/{customer}@127.0.0.1:5073"]
    assert callee[0].cause == "USER_BUSY" and not callee[0].answered
    assert employee[0].ended and not employee[0].bridged_to
    lab.quiet([customer])


def _dial_groups(legs: list) -> list[list]:
    """Legs originated together (one dial string) start within a moment of each other."""
    groups: list[list] = []
    for leg in legs:
        if groups and leg.created_us - groups[-1][0].created_us < 500_000:
            groups[-1].append(leg)
        else:
            groups.append([leg])
    return groups


def test_last_attempted_rings_one_then_two_then_three_in_the_lost_calls_order(lab: Lab) -> None:
    customer = unique_number()
    cfg = lab.config("w1", db_url=_sqlite(lab), employee_ring_s=5)
    endpoints = {"Anna": "sofia/internal/101@127.0.0.1:5072", "Boris": "sofia/internal/102@127.0.0.1:5072",
                 "Vera": "sofia/internal/103@127.0.0.1:5072"}
    setup_group_rule(lab, cfg, endpoints=endpoints, max_lines=3, strategy="last_attempted")
    lab.run("w1", cfg)

    # 101 + 102 together for 3 s, then 103: the customer gives up after 5 s
    lab.lost_call(customer, GROUP_DID, ring_ms=5000)
    task = lab.wait_task_done(cfg, customer, 90)
    assert [a["outcome"] for a in task["attempts"]] == ["no_employee_answered"], task

    inbound = lab.observer.customer_legs(customer)[0]
    bridges = [data for app, data in inbound.apps if app == "bridge"]
    assert "101@" in bridges[0] and bridges[0].index("101@") < bridges[0].index("102@"), bridges
    rung = [leg for leg in lab.observer.legs() if leg.create.get("Other-Leg-Unique-ID") == inbound.uuid]
    assert sorted(leg.name.split("@")[0] for leg in rung) == [
        "sofia/internal/101", "sofia/internal/102", "sofia/internal/103"]

    groups = _dial_groups(lab.observer.callback_legs(task["id"], "employee"))
    # 1 number, then 2 at once, then 3 at once - the dial string's order, whatever order
    # the switch created the lost call's simultaneous legs in
    assert [[leg.name.split("@")[0].rsplit("/", 1)[1] for leg in sorted(g, key=_dial_position)]
            for g in groups] == [["101"], ["101", "102"], ["101", "102", "103"]], groups
    assert not lab.observer.callback_legs(task["id"], "customer")


def _dial_position(leg) -> int:
    """Where the leg stands in its dial string: the switch says so in CHANNEL_OUTGOING's order."""
    return leg.outgoing_seq if leg.outgoing_seq is not None else leg.created_seq


def test_contact_made_cancels_the_waiting_task(lab: Lab) -> None:
    customer = unique_number()
    cfg = lab.config("w1", db_url=_sqlite(lab))
    setup_group_rule(lab, cfg, endpoints={"Anna": "sofia/internal/101@127.0.0.1:5071"}, intervals="120")
    lab.run("w1", cfg)

    lab.lost_call(customer, GROUP_DID, ring_ms=2000)
    task = lab.until("the task", lambda: lab.task_of(cfg, customer), 30)
    assert task["status"] == "pending", task
    # the customer calls again and 101 answers: reached, the callback is not needed
    again = lab.customer(customer, "74950000012", scenario="uac_answer_bye.xml", hold_ms=2000)
    assert again.wait(30) == 0, again.out.read_text(errors="replace")
    task = lab.wait_task_done(cfg, customer, 30)
    assert task["end_reason"] == "cancelled_contact_made", task
    answered = lab.observer.customer_legs(customer)[-1]
    assert answered.create["Caller-Destination-Number"] == "74950000012" and answered.bridged_to
    assert not lab.observer.callback_legs(task["id"])


def test_lost_after_a_transfer_rings_the_transferrer_first(lab: Lab) -> None:
    customer = unique_number()
    cfg = lab.config("w1", db_url=_sqlite(lab))
    lab.cli(cfg, "db", "upgrade")
    lab.cli(cfg, "employees", "add", "Anna", "--endpoint", "sofia/internal/101@127.0.0.1:5071")
    lab.cli(cfg, "rules", "add", "transfers", "--strategy", "last_waiting_phase", "--place", "transfer",
            "--intervals", "0")
    lab.run("w1", cfg)

    # 101 answers the customer, then blind-transfers them to 74950000005, where 105 rings
    # and never answers; the customer hangs up there, 7 s after 101 answered
    caller = lab.customer(customer, "74950000014", scenario="uac_answer_bye.xml", hold_ms=7000)
    inbound = lab.until("101 to answer the customer", lambda: next(
        (leg for leg in lab.observer.customer_legs(customer) if leg.bridged_to), None), 20)
    time.sleep(1)
    lab.switch.esl.ok("uuid_transfer", f"{inbound.uuid} 74950000005 XML default")
    assert caller.wait(40) == 0, caller.out.read_text(errors="replace")
    task = lab.until("a task for the call lost in the transfer", lambda: lab.task_of(cfg, customer), 30)
    assert task["rule"] == "transfers", task
    hang_up_when_bridged(lab, task["id"])
    task = lab.wait_task_done(cfg, customer, 60)
    assert task["lost_calls"][0]["place"] == "transfer", task["lost_calls"]
    assert task["end_reason"] == "success", task

    rung = {leg.name for leg in lab.observer.legs() if leg.task_id is None
            and leg.create.get("Caller-Caller-ID-Number") == customer and leg.uuid != inbound.uuid}
    assert rung == {"sofia/internal/101@127.0.0.1:5071", "sofia/internal/105@127.0.0.1:5072"}, rung
    # the plan: the transferrer (101), then the target (105); 101 answers, so 105 is not rung
    assert "step 1/2 transferrer: sofia/internal/101@127.0.0.1:5071" in lab.procs[0].text()
    employee = lab.observer.callback_legs(task["id"], "employee")
    assert [leg.name for leg in employee] == ["sofia/internal/101@127.0.0.1:5071"]
    assert [leg.name for leg in lab.observer.callback_legs(task["id"], "customer")] == [
        f"sofia/internal/{customer}@127.0.0.1:5074"]
    lab.quiet([customer])


def test_a_callback_requested_in_the_dialplan_is_a_request_loss(lab: Lab) -> None:
    customer = unique_number()
    cfg = lab.config("w1", db_url=_sqlite(lab))
    lab.cli(cfg, "db", "upgrade")
    lab.cli(cfg, "employees", "add", "Anna", "--endpoint", "sofia/internal/101@127.0.0.1:5071")
    lab.cli(cfg, "groups", "add", "sales", "--member", "Anna")
    lab.cli(cfg, "rules", "add", "requests", "--strategy", "group", "--target", "sales", "--place", "request",
            "--intervals", "0")
    lab.run("w1", cfg)

    # 74950000018 sets fsw_callback_request=true (an IVR option "call me back"); the
    # customer hangs up after 1 s, before any minimum wait
    lab.lost_call(customer, "74950000018", ring_ms=1000)
    inbound = lab.observer.customer_legs(customer)[0]
    assert inbound.var("fsw_callback_request") is None  # set by the dialplan after CREATE
    task = lab.until("a task for the request", lambda: lab.task_of(cfg, customer), 30)
    assert task["rule"] == "requests" and task["lost_calls"][0]["place"] == "request", task
    hang_up_when_bridged(lab, task["id"])
    task = lab.wait_task_done(cfg, customer, 60)
    assert task["end_reason"] == "success", task
    assert [leg.name for leg in lab.observer.callback_legs(task["id"], "customer")] == [
        f"sofia/internal/{customer}@127.0.0.1:5074"]
