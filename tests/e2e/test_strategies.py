"""The seven dial strategies of R5, end to end: a lost call goes into the fake switch,
fsworker calls back; asserted from the switch's side (legs rung, order, which together,
caller IDs, what the employee heard, customer only after the hint) and from the store
(task outcome and attempts). Every test runs on SQLite and PostgreSQL (``harness``).
"""

from __future__ import annotations

import pytest

from fsworker.core.calls import LossPlace
from fsworker.core.model import Campaign, Hint, HintKind, Scenario, TargetKind
from fsworker.core.outcomes import AttemptOutcome, TaskEndReason, TaskStatus
from fsworker.testing.fakeswitch.dialing import CreateOrder
from fsworker.testing.fakeswitch.directory import Behaviour
from tests.e2e.harness import CUSTOMER, CUSTOMER_EP, DID, Harness, callback_legs, dial_groups, take_in


def _until_done(h: Harness, task_id: int, max_sim_s: float = 300) -> object:
    assert h.run_until(lambda: h.task(task_id).status is TaskStatus.DONE, max_sim_s=max_sim_s), \
        f"task {task_id} did not end: {h.task(task_id)}"
    return h.task(task_id)


def _customer_answers(h: Harness, talk: float = 20) -> None:
    h.pbx.directory.set(CUSTOMER_EP, Behaviour.answers(after=3, hangup_after=talk))


def _assert_bridged_after_hint(h: Harness, task_id: int, employee_endpoint: str,
                               app: str = "speak") -> tuple[list, object]:
    """The answering employee heard the hint; the one customer leg started after it
    finished and showed the DID (D2). Returns (what was played, the customer leg)."""
    pbx = h.pbx
    answered = [leg for leg in callback_legs(pbx, task_id, "employee") if leg.answered]
    assert [leg.endpoint for leg in answered] == [employee_endpoint]
    played = pbx.spoken_on(answered[0].uuid)
    assert played and played[0][0] == app, played
    [customer] = callback_legs(pbx, task_id, "customer")
    assert customer.endpoint == CUSTOMER_EP
    assert customer.caller_id_number == DID
    assert customer.started_at >= played[0][3], "the customer was dialled before the hint finished"
    assert customer.started_at >= answered[0].answered_at
    # and success is what the switch saw: this employee and the customer bridged
    bridge = h.assert_bridged(task_id)
    assert bridge.partner_of(customer.uuid) == answered[0].uuid
    return played, customer


def _assert_success(task) -> None:
    assert task.end_reason is TaskEndReason.SUCCESS, task
    assert [a.outcome for a in task.attempts] == [AttemptOutcome.SUCCESS]


# -- a: campaign ---------------------------------------------------------------------------
def test_campaign_strategy_rings_the_campaign_target_group_with_a_text_hint(harness) -> None:
    h = harness
    h.add_staff(max_lines=2)
    h.repo.add(Campaign(name="cpc-42", target_kind=TargetKind.GROUP, target="sales"))
    h.add_rule(name="by campaign", strategy="campaign", intervals=(60,),
               hint=Hint(kind=HintKind.TEXT, text="Перезвон по кампании {{ campaign }}, сайт {{ site }}, "
                                                  "номер {{ customer_digits }}"))
    h.start()
    task_id = take_in(h)
    h.pbx.directory.set("user/103", Behaviour.answers(after=2))
    _customer_answers(h)
    task = _until_done(h, task_id)
    _assert_success(task)

    employee_legs = callback_legs(h.pbx, task_id, "employee")
    groups = dial_groups(employee_legs)
    # max_lines 2: ivanov and petrov together first, then sidorov alone.
    assert [sorted(leg.endpoint for leg in g) for g in groups] == [["user/101", "user/102"], ["user/103"]]
    assert groups[1][0].started_at > groups[0][0].started_at
    assert {leg.caller_id_number for leg in employee_legs} == {CUSTOMER}
    assert {leg.variables.get("fsw_attempt") for leg in employee_legs} == {"1"}
    played, _ = _assert_bridged_after_hint(h, task_id, "user/103")
    text = played[0][1]
    assert "Перезвон по кампании cpc-42" in text
    assert "shop.example.com" in text
    assert "7 9 1 6 1 2 3 4 5 6 7" in text


# -- b: group ------------------------------------------------------------------------------
def test_group_strategy_one_line_at_a_time_plays_a_file_hint(harness) -> None:
    h = harness
    h.add_staff(max_lines=1)
    h.add_rule(name="sales one by one", strategy="group", target="sales", intervals=(60,),
               hint=Hint(kind=HintKind.FILE, text="/var/lib/fsworker/hints/sales.wav"))
    h.start()
    task_id = take_in(h)
    h.pbx.directory.set("user/102", Behaviour.answers(after=2))
    _customer_answers(h)
    task = _until_done(h, task_id)
    _assert_success(task)

    groups = dial_groups(callback_legs(h.pbx, task_id, "employee"))
    # max_lines 1: one member per step, in the group's order; 102 answered, 103 never rang.
    assert [[leg.endpoint for leg in g] for g in groups] == [["user/101"], ["user/102"]]
    assert groups[0][0].cause == "NO_ANSWER"
    played, _ = _assert_bridged_after_hint(h, task_id, "user/102", app="playback")
    assert played[0][1] == "/var/lib/fsworker/hints/sales.wav"
    # recorded by name: the answering channel (sofia/internal/102@...) is user/102, petrov
    assert task.attempts[0].employee == "petrov"


# -- c: number -----------------------------------------------------------------------------
def test_number_strategy_dials_the_rule_number_through_the_external_template(harness) -> None:
    h = harness
    h.add_rule(name="duty phone", strategy="number", target="79031112233", intervals=(60,))
    h.start()
    task_id = take_in(h)
    duty = "sofia/gateway/pstn/79031112233"
    h.pbx.directory.set(duty, Behaviour.answers(after=2))
    _customer_answers(h)
    task = _until_done(h, task_id)
    _assert_success(task)

    employee_legs = callback_legs(h.pbx, task_id, "employee")
    assert [leg.endpoint for leg in employee_legs] == [duty]
    assert employee_legs[0].caller_id_number == CUSTOMER
    played, _ = _assert_bridged_after_hint(h, task_id, duty)
    assert "автоперезвон" in played[0][1]


# -- d: employee ---------------------------------------------------------------------------
def test_employee_strategy_rings_only_the_chosen_employee(harness) -> None:
    h = harness
    h.add_staff()
    h.add_rule(name="secretary", strategy="employee", target="secretary", intervals=(60,),
               hint=Hint(kind=HintKind.TEXT, text="Клиент с сайта {{ site }}"))
    h.start()
    task_id = take_in(h)
    h.pbx.directory.set("user/110", Behaviour.answers(after=4))
    # the others would answer at once: they must not be rung at all
    for ep in ("user/101", "user/102", "user/103"):
        h.pbx.directory.set(ep, Behaviour.answers(after=0.1))
    _customer_answers(h)
    task = _until_done(h, task_id)
    _assert_success(task)

    employee_legs = callback_legs(h.pbx, task_id, "employee")
    assert [leg.endpoint for leg in employee_legs] == ["user/110"]
    played, _ = _assert_bridged_after_hint(h, task_id, "user/110")
    assert "Клиент с сайта shop.example.com" in played[0][1]


# -- e: last attempted ---------------------------------------------------------------------
def test_last_attempted_grows_one_two_three_over_attempts(harness) -> None:
    h = harness
    h.add_staff(max_lines=3)
    h.add_rule(name="who was tried", strategy="last_attempted", intervals=(60, 60))
    h.start()
    # The lost call rang 101 and 102 together, then 103.
    task_id = take_in(h, ring=[["user/101", "user/102"], ["user/103"]])
    _customer_answers(h)
    # Attempt 1: nobody answers -> no_employee_answered; attempt 2 follows the same plan
    # and this time 103 answers.
    assert h.run_until(lambda: len(h.task(task_id).attempts) == 1 and h.task(task_id).attempts[0].outcome
                       is not None, max_sim_s=200)
    h.pbx.directory.set("user/103", Behaviour.answers(after=2))
    task = _until_done(h, task_id)
    assert task.end_reason is TaskEndReason.SUCCESS, task
    assert [a.outcome for a in task.attempts] == [AttemptOutcome.NO_EMPLOYEE_ANSWERED, AttemptOutcome.SUCCESS]

    legs = callback_legs(h.pbx, task_id, "employee")
    by_attempt = {n: [leg for leg in legs if leg.variables["fsw_attempt"] == str(n)] for n in (1, 2)}
    for n in (1, 2):
        groups = dial_groups(by_attempt[n])
        # 1 number, then 2 at once, then 3 at once, in the order the lost call tried them
        assert [sorted(leg.destination for leg in g) for g in groups] == [["101"], ["101", "102"],
                                                                            ["101", "102", "103"]], n
        starts = [g[0].started_at for g in groups]
        assert starts == sorted(starts)
        assert {leg.caller_id_number for leg in by_attempt[n]} == {CUSTOMER}
    assert [leg.destination for leg in by_attempt[2] if leg.answered] == ["103"]
    # the second attempt started no earlier than the interval after the first ended
    a1, a2 = task.attempts
    assert (a2.started_at - a1.ended_at).total_seconds() >= 60
    answered = next(leg for leg in by_attempt[2] if leg.answered)
    _assert_bridged_after_hint(h, task_id, answered.endpoint)


@pytest.mark.parametrize("order", [CreateOrder.DIAL, CreateOrder.REVERSED])
def test_last_attempted_rings_the_dial_strings_first_number_first(harness, order: CreateOrder) -> None:
    # A real switch may emit the CHANNEL_CREATEs of 'bridge user/102,user/101' in either
    # order (trace 17); "the first number" is the dial string's, every time.
    h = harness
    h.add_staff(max_lines=3)
    h.add_rule(name="who was tried", strategy="last_attempted", intervals=(60,))
    h.start()
    h.pbx.create_order = order
    task_id = take_in(h, ring=[["user/102", "user/101"]], hangs_up_after=4)
    rung = [r for r in h.pbx.legs.outbound() if "fsw_task_id" not in r.variables]
    assert [r.destination for r in rung] == ["102", "101"]
    created_first = min(rung, key=lambda r: r.create_index).destination
    assert created_first == ("102" if order is CreateOrder.DIAL else "101")
    [lost] = h.service.queue.lost_calls_for_task(task_id)
    assert [r.destination for r in lost.rung] == ["102", "101"]
    assert h.run_until(lambda: bool(callback_legs(h.pbx, task_id, "employee")), max_sim_s=120)
    [first] = callback_legs(h.pbx, task_id, "employee")
    assert first.destination == "102"


def test_last_attempted_with_max_lines_slides_the_window(harness) -> None:
    h = harness
    h.add_staff(max_lines=2)
    h.add_rule(name="who was tried", strategy="last_attempted", intervals=(60,))
    h.start()
    task_id = take_in(h, ring=[["user/101"], ["user/102"], ["user/103"]], hangs_up_after=14)
    task = _until_done(h, task_id)
    assert task.end_reason is TaskEndReason.ATTEMPTS_EXHAUSTED
    assert [a.outcome for a in task.attempts] == [AttemptOutcome.NO_EMPLOYEE_ANSWERED]
    groups = dial_groups(callback_legs(h.pbx, task_id, "employee"))
    # never more than max_lines (2) at once: [101], [101,102], [102,103]
    assert [sorted(leg.destination for leg in g) for g in groups] == [["101"], ["101", "102"], ["102", "103"]]
    assert not callback_legs(h.pbx, task_id, "customer")


def test_last_attempted_nobody_tried_ends_without_dialling(harness) -> None:
    h = harness
    h.add_staff()
    h.add_rule(name="who was tried", strategy="last_attempted", intervals=(30, 60))
    h.start()
    # Lost in a queue: no employee was ever rung on the customer's behalf.
    h.pbx.inbound_call(CUSTOMER, DID, vars={"fsw_number": DID}, queue="support", customer_hangs_up_after=20)
    assert h.run_until(lambda: len(h.tasks()) == 1, max_sim_s=40)
    task_id = h.tasks()[0].task_id
    task = _until_done(h, task_id, max_sim_s=120)
    assert task.end_reason is TaskEndReason.NO_EMPLOYEE_CALLS_FOUND
    assert [a.outcome for a in task.attempts] == [AttemptOutcome.NO_EMPLOYEE_CALLS_FOUND]
    assert not callback_legs(h.pbx), "nothing may be dialled when nobody was tried"
    h.run_for(90, step_s=3)
    assert not callback_legs(h.pbx)
    assert len(h.task(task_id).attempts) == 1


# -- f: last waiting phase -----------------------------------------------------------------
def test_last_waiting_phase_rings_transferrer_then_target(harness) -> None:
    h = harness
    h.add_staff()
    h.add_rule(name="transfers", place=LossPlace.TRANSFER, strategy="last_waiting_phase", intervals=(60,))
    h.start()
    pbx = h.pbx
    pbx.add_extension("105", ring=[["user/105"]], leg_timeout=10)
    # 101 answers the customer, then blind-transfers them to 105, who never answers.
    pbx.directory.set("user/101", Behaviour.answers(after=2))
    uuid = h.lost_call(ring=[["user/101"]], hangs_up_after=None)
    assert h.run_until(lambda: any(leg.endpoint == "user/101" and leg.answered for leg in pbx.legs.legs),
                       max_sim_s=10)
    h.run_for(3)
    pbx.transfer_call(uuid, "105")
    h.run_for(4)
    pbx.customer_hangup(uuid)
    assert h.run_until(lambda: len(h.tasks()) == 1, max_sim_s=30), \
        f"no task; lost call record: {h.service.observer.funnel}"
    task_id = h.tasks()[0].task_id
    lost = h.service.queue.lost_calls_for_task(task_id)[-1]
    assert lost.place is LossPlace.TRANSFER and lost.transfer is not None
    # For the callback: 101 does not answer any more, 105 does.
    pbx.directory.set("user/101", Behaviour.rings())
    pbx.directory.set("user/105", Behaviour.answers(after=2))
    _customer_answers(h)
    task = _until_done(h, task_id)
    _assert_success(task)
    groups = dial_groups(callback_legs(pbx, task_id, "employee"))
    assert [[leg.destination for leg in g] for g in groups] == [["101"], ["105"]]
    assert not groups[0][0].answered and groups[1][0].answered
    _assert_bridged_after_hint(h, task_id, groups[1][0].endpoint)


# -- g: scenario ---------------------------------------------------------------------------
def test_scenario_strategy_hands_the_callback_to_a_dialplan_extension(harness) -> None:
    h = harness
    h.repo.add(Scenario(name="ivr-sales", extension="5000", context="callback"))
    h.add_rule(name="to the IVR", strategy="scenario", target="ivr-sales", intervals=(60,),
               hint=Hint(kind=HintKind.TEXT, text="Сценарий {{ scenario }}"))
    h.start()
    task_id = take_in(h)
    h.pbx.directory.set("loopback/5000/callback", Behaviour.answers(after=1))
    _customer_answers(h)
    task = _until_done(h, task_id)
    _assert_success(task)
    employee_legs = callback_legs(h.pbx, task_id, "employee")
    assert [leg.endpoint for leg in employee_legs] == ["loopback/5000/callback"]
    assert employee_legs[0].caller_id_number == CUSTOMER
    played, _ = _assert_bridged_after_hint(h, task_id, "loopback/5000/callback")
    assert "Сценарий sales" in played[0][1]
