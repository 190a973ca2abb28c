"""A worker that stops mid-call: the next one finds the call by its fsw_task_id tags and
adopts it (bridged) or hangs up what was left (not bridged) — never rings twice."""

from __future__ import annotations

import dataclasses

import gevent
import pytest

from fsworker.core.outcomes import AttemptOutcome, TaskEndReason, TaskStatus
from fsworker.testing.fakeswitch.directory import Behaviour
from tests.e2e.harness import ENV, Harness, callback_legs

CUSTOMER_EP = "sofia/gateway/pstn/79161234567"


def _second_worker(h: Harness):  # noqa: ANN202
    from fsworker.service.app import Service

    cfg = dataclasses.replace(h.config, worker=dataclasses.replace(h.config.worker, worker_id="second"))
    svc = Service(cfg, clock=h.clock, environ=ENV)
    svc.start(metrics=False)
    assert svc.wait_connected(5)
    return svc


def _bridge_recorded(h: Harness, task_id: int) -> bool:
    """The worker has written its attempt's bridge down (``TaskQueue.mark_bridged``)."""
    from sqlalchemy import select

    from fsworker.store import tables as t

    a = t.attempts
    with h.service.queue.engine.connect() as conn:
        return conn.execute(select(a.c.id).where(a.c.task_id == task_id, a.c.ended_at.is_(None),
                                                 a.c.bridged_at.is_not(None))).first() is not None


def _shutdown_history(recorded: bool, adopted: AttemptOutcome) -> list[tuple[AttemptOutcome, str]]:
    """The attempts of a task whose bridged call a stopping worker left up and the next
    adopted: the stopped attempt is kept (lease_lost) only when its bridge had been
    written, so that the fact survives even if the call ends before anyone looks."""
    kept = [(AttemptOutcome.LEASE_LOST, "released at shutdown with the customer bridged")] if recorded else []
    return [*kept, (adopted, "adopted")]


def _history(attempts) -> list[tuple[AttemptOutcome, str]]:  # noqa: ANN001
    return [(a.outcome, "adopted" if "adopted" in a.detail else a.detail) for a in attempts]


def _overlaps(legs: list) -> bool:  # noqa: ANN001
    spans = sorted((leg.started_at, leg.ended_at if leg.ended_at is not None else float("inf")) for leg in legs)
    return any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))


@pytest.mark.parametrize("recorded", [True, False], ids=["bridge-recorded", "stopped-before-the-write"])
def test_shutdown_leaves_the_bridged_call_and_the_next_worker_adopts_it(harness: Harness, recorded: bool) -> None:
    h = harness
    h.add_staff()
    h.add_rule(name="sales group", strategy="group", target="sales", intervals=(60,))
    h.start()
    pbx = h.pbx
    if not recorded:
        # The worker stops between the bridge and writing it down (a window of a few ms).
        h.service.queue.mark_bridged = lambda *args, **kwargs: True
    h.lost_call(hangs_up_after=12)
    assert h.run_until(lambda: len(h.tasks()) == 1, max_sim_s=30)
    pbx.directory.set("user/102", Behaviour.answers(after=2))
    pbx.directory.set(CUSTOMER_EP, Behaviour.answers(after=3, hangup_after=120))
    [task] = h.tasks()
    def bridged() -> bool:
        return any((ch := pbx.channels.get(leg.uuid)) is not None and ch.alive and ch.bridged_to
                   for leg in callback_legs(pbx, task.task_id, "customer"))
    assert h.run_until(bridged, max_sim_s=200)
    if recorded:
        assert h.run_until(lambda: _bridge_recorded(h, task.task_id), max_sim_s=5)
    calls_up = ("fsworker_callback_calls_up", {"rule": "sales group"})
    # Shut down with no grace: the bridged call must keep talking, the task go back.
    h.service.stop(grace_s=0)
    h.service = None
    [cust] = callback_legs(pbx, task.task_id, "customer")
    assert cust.ended_at is None, "the bridged call was cut at shutdown"
    second = _second_worker(h)
    try:
        # the adopted call counts as a callback call up on the worker that follows it
        assert h.run_until(lambda: second.metrics.value(calls_up[0], **calls_up[1]) == 1, max_sim_s=300)
        assert h.run_until(lambda: second.queue.get_task(task.task_id).status is TaskStatus.DONE, max_sim_s=300)
        done = second.queue.get_task(task.task_id)
        assert second.metrics.value(calls_up[0], **calls_up[1]) == 0
    finally:
        second.stop(grace_s=1)
    assert done.end_reason is TaskEndReason.SUCCESS
    assert _history(done.attempts) == _shutdown_history(recorded, AttemptOutcome.SUCCESS), done.attempts
    # Nobody was dialled again: one customer leg, one employee dial.
    assert len(callback_legs(pbx, task.task_id, "customer")) == 1
    # one bridge on the switch, from before the shutdown to the end of the talk
    assert h.assert_bridged(task.task_id).talk_us >= 100_000_000
    assert not _overlaps([leg for leg in pbx.legs.legs if leg.endpoint == CUSTOMER_EP])


@pytest.mark.parametrize("talk_s, expected", [
    (60.0, AttemptOutcome.SUCCESS),  # exactly min_talk_s: enough, for an adopted call too
    (59.999999, AttemptOutcome.CUSTOMER_SHORT_CALL),
])
def test_an_adopted_call_of_exactly_min_talk_s_is_a_success(db_url: str, talk_s: float,
                                                           expected: AttemptOutcome) -> None:
    # min_talk_s 60: long enough for the next worker to take the task over mid-talk
    h = Harness(db_url, min_talk_s=60)
    try:
        h.add_staff()
        h.add_rule(name="sales group", strategy="group", target="sales", intervals=(60,))
        h.start()
        pbx = h.pbx
        h.lost_call(hangs_up_after=12)
        assert h.run_until(lambda: len(h.tasks()) == 1, max_sim_s=30)
        pbx.directory.set("user/102", Behaviour.answers(after=2))
        pbx.directory.set(CUSTOMER_EP, Behaviour.answers(after=3, bye_after_bridge=talk_s))
        [task] = h.tasks()
        assert h.run_until(lambda: bool(pbx.legs.bridges()), max_sim_s=200)
        assert h.run_until(lambda: _bridge_recorded(h, task.task_id), max_sim_s=5)
        h.service.stop(grace_s=0)
        h.service = None
        second = _second_worker(h)
        try:
            assert h.run_until(lambda: second.queue.get_task(task.task_id).status is TaskStatus.DONE,
                               max_sim_s=300)
            done = second.queue.get_task(task.task_id)
        finally:
            second.stop(grace_s=1)
        assert _history(done.attempts) == _shutdown_history(True, expected), done.attempts
        [bridge] = pbx.legs.bridges()
        assert bridge.talk_us == round(talk_s * 1e6)  # the switch's own measure of the talk
    finally:
        h.close()


def test_legs_left_ringing_are_hung_up_before_the_next_attempt(harness: Harness) -> None:
    h = harness
    h.config = dataclasses.replace(h.config, worker=dataclasses.replace(h.config.worker, lease_s=10))
    h.add_staff()
    h.add_rule(name="sales group", strategy="group", target="sales", intervals=(60, 60))
    h.start()
    pbx = h.pbx
    h.lost_call(hangs_up_after=12)
    assert h.run_until(lambda: len(h.tasks()) == 1, max_sim_s=30)
    pbx.directory.set("user/102", Behaviour.answers(after=2))
    pbx.directory.set(CUSTOMER_EP, Behaviour.rings())
    [task] = h.tasks()
    assert h.run_until(lambda: bool(callback_legs(pbx, task.task_id, "customer")), max_sim_s=200)
    # The worker vanishes without a word (as after kill -9): its greenlets stop, its
    # link goes, nothing is cleaned up or recorded.
    svc = h.service
    h.service = None
    svc.dispatcher._heart.kill(block=True)
    for g in list(svc.dispatcher._pool) + svc.dispatcher._workers:
        g.kill(exception=gevent.GreenletExit, block=False)
        g._run = None
    for node in svc.nodes:
        node.conn.close()
    gevent.sleep(0.2)
    second = _second_worker(h)
    try:
        def customer_rung_again() -> bool:
            return len(callback_legs(pbx, task.task_id, "customer")) >= 2
        # the first attempt counts (the customer had been rung); the second comes 60 s later
        assert h.run_until(lambda: len(second.queue.get_task(task.task_id).attempts) >= 2
                           and second.queue.get_task(task.task_id).attempts[1].outcome is not None, max_sim_s=120)
        view = second.queue.get_task(task.task_id)
        assert [a.outcome for a in view.attempts][:2] == [AttemptOutcome.LEASE_LOST, AttemptOutcome.INTERRUPTED]
        # Hung up and confirmed gone (uuid_exists) before the attempt was recorded; the
        # fake writes its leg records down in its next step, at the same simulated time.
        assert h.run_until(lambda: all(leg.ended_at is not None for leg in callback_legs(pbx, task.task_id)),
                           max_sim_s=0.5, step_s=0.1)
        assert not customer_rung_again()
    finally:
        second.stop(grace_s=1)
    assert not _overlaps([leg for leg in pbx.legs.legs if leg.endpoint == CUSTOMER_EP])
