"""A lost call in, a bridged callback out — asserted from the fake switch's side (R1, D2)."""

from __future__ import annotations

from fsworker.core.outcomes import AttemptOutcome, TaskEndReason, TaskStatus
from fsworker.testing.fakeswitch.directory import Behaviour


def test_group_strategy_success(harness) -> None:  # noqa: ANN001
    h = harness
    h.add_staff()
    h.add_rule(name="sales group", strategy="group", target="sales", intervals=(60,))
    h.start()
    pbx = h.pbx
    h.lost_call(hangs_up_after=12)
    assert h.run_until(lambda: len(h.tasks()) == 1, max_sim_s=30)
    # Nobody answered the customer's call; for the callback a minute later, 102 does.
    pbx.directory.set("user/102", Behaviour.answers(after=2))
    pbx.directory.set("sofia/gateway/pstn/79161234567", Behaviour.answers(after=3, hangup_after=20))
    assert h.run_until(lambda: any(t.status is TaskStatus.DONE for t in h.tasks()), max_sim_s=200)
    [task] = h.tasks()
    task = h.task(task.task_id)
    assert task.end_reason is TaskEndReason.SUCCESS
    assert [a.outcome for a in task.attempts] == [AttemptOutcome.SUCCESS]

    callback_legs = [leg for leg in pbx.legs.legs if leg.variables.get("fsw_task_id") == str(task.task_id)]
    employee_legs = [leg for leg in callback_legs if leg.variables.get("fsw_role") == "employee"]
    customer_legs = [leg for leg in callback_legs if leg.variables.get("fsw_role") == "customer"]
    # R1: the whole group rang together first (max_lines 3), with the customer's number.
    assert sorted(leg.endpoint for leg in employee_legs) == ["user/101", "user/102", "user/103"]
    assert len({(leg.dial_id, leg.step) for leg in employee_legs}) == 1
    assert {leg.caller_id_number for leg in employee_legs} == {"79161234567"}
    # D2: the customer sees the number they dialled.
    [customer] = customer_legs
    assert customer.endpoint == "sofia/gateway/pstn/79161234567"
    assert customer.caller_id_number == "74950000001"
    # The hint was spoken to the employee who answered, and finished before the
    # customer leg started.
    answered = [leg for leg in employee_legs if leg.answered]
    assert [leg.endpoint for leg in answered] == ["user/102"]
    spoken = pbx.spoken_on(answered[0].uuid)
    assert spoken and spoken[0][0] == "speak" and "автоперезвон" in spoken[0][1]
    assert customer.started_at >= spoken[0][3]
    # Success as the switch saw it: 102 and the customer bridged for at least min_talk_s.
    bridge = h.assert_bridged(task.task_id)
    assert bridge.partner_of(customer.uuid) == answered[0].uuid
