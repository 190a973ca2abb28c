"""A switch shutting down must not spend a customer's attempt (issue 18;
tests/data/esl-traces/NOTES.md, "`freeswitch -stop` with calls up"): for about 1.8 s
before its disconnect notice, a stopping FreeSWITCH fails every originate at once with
DESTINATION_OUT_OF_ORDER. An attempt that meets that, and then the link dropping, gives
its task back uncounted; the same cause from a dead phone on a live switch still counts."""

from __future__ import annotations

import logging

import gevent
import pytest

from fsworker.core.outcomes import TaskStatus
from fsworker.testing.fakeswitch.directory import Behaviour
from tests.e2e.harness import Harness, callback_legs

CUSTOMER = "79161111111"
CUSTOMER_EP = f"sofia/gateway/pstn/{CUSTOMER}"


def _wait_real(predicate, seconds: float) -> bool:  # noqa: ANN001
    """Real time, simulated time standing still: the shutdown's notice is on a real timer."""
    deadline = gevent.get_hub().loop.now() + seconds
    while not predicate():
        if gevent.get_hub().loop.now() >= deadline:
            return False
        gevent.sleep(0.05)
    return True


def _originates(h: Harness) -> int:
    return sum(1 for line in h.servers[0].command_lines() if "originate" in line)


def test_an_attempt_refused_by_a_switch_shutting_down_is_not_counted(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fsworker.service.dispatcher")
    caplog.set_level(logging.INFO, logger="fsworker.service.callflow")
    h = harness
    h.add_staff()
    # one attempt only: were the refused one counted, the task would end unreached
    h.add_rule(name="sales group", strategy="group", target="sales", intervals=(30,))
    service = h.start()
    h.lost_call(customer=CUSTOMER, hangs_up_after=8)
    assert h.run_until(lambda: len(h.tasks()) == 1, max_sim_s=30)
    task_id = h.tasks()[0].task_id
    before = _originates(h)

    # `freeswitch -stop`: originates fail at once, the notice comes 3 s later
    stopping = gevent.spawn(h.servers[0].shutdown, 3.0)
    gevent.sleep(0.05)
    assert h.run_until(lambda: _originates(h) > before, max_sim_s=60), "the attempt never dialled"
    assert _wait_real(lambda: not service.nodes[0].conn.is_connected, 5)
    stopping.join(timeout=5)
    # given back uncounted (a claim finding no switch up gives it back at once too)
    assert _wait_real(lambda: (t := h.task(task_id)).status is TaskStatus.PENDING and not t.attempts, 5), \
        h.task(task_id)
    assert "DESTINATION_OUT_OF_ORDER and the link to node fs1 dropped" in caplog.text
    assert "attempt not counted" in caplog.text

    # the switch is back (a new process): the same first attempt goes out and reaches them
    h.pbx.shutting_down = False
    h.pbx.directory.set("user/101", Behaviour.answers(after=2))
    h.pbx.directory.set(CUSTOMER_EP, Behaviour.answers(after=2, hangup_after=20))
    h.servers[0].start()
    assert h.run_until(lambda: service.nodes[0].conn.is_connected, max_sim_s=30)
    assert h.run_until(lambda: h.task(task_id).status is TaskStatus.DONE, max_sim_s=120)
    task = h.task(task_id)
    assert task.end_reason.value == "success", task
    assert [(a.attempt_no, a.outcome.value) for a in task.attempts] == [(1, "success")], task
    assert [leg.endpoint for leg in callback_legs(h.pbx, task_id)][-1] == CUSTOMER_EP
    # nothing of the released attempt was swept once the link was back: its attempt id
    # can be the next claim's (SQLite), and that sweep hung up the new attempt's legs
    assert "hanging up what the interrupted attempt left" not in caplog.text


def test_a_dead_phone_on_a_live_switch_still_spends_the_attempt(harness: Harness) -> None:
    h = harness
    h.add_staff()
    h.add_rule(name="sales group", strategy="group", target="sales", intervals=(30,))
    h.start()
    for ep in ("user/101", "user/102", "user/103"):
        h.pbx.directory.set(ep, Behaviour.out_of_order())
    h.lost_call(customer=CUSTOMER, hangs_up_after=8)
    assert h.run_until(lambda: len(h.tasks()) == 1, max_sim_s=30)
    task_id = h.tasks()[0].task_id
    # the flow watches the link a few (real) seconds after each refusal: it stays up
    assert h.run_until(lambda: h.task(task_id).status is TaskStatus.DONE, max_sim_s=120, step_s=0.2,
                       real_timeout_s=90)
    task = h.task(task_id)
    assert [a.outcome.value for a in task.attempts] == ["no_employee_answered"], task
    assert "DESTINATION_OUT_OF_ORDER" in (task.attempts[0].detail or ""), task
