"""Lost-call intake inside the running service (issue 4): exactly once across workers,
reconciliation after a dropped link, several switches."""

from __future__ import annotations

import gevent
import pytest

from fsworker.core.outcomes import SkipReason
from fsworker.service.app import Service
from tests.e2e.harness import ENV, Harness, callback_legs


def _lost_calls(h: Harness) -> list:
    assert h.service is not None
    return h.service.queue.list_tasks()


def test_two_workers_on_one_switch_take_a_lost_call_in_once(harness: Harness) -> None:
    """Two fsworker processes listen to the same switch: one task per call UUID,
    decided by the database (each process has its own detector in memory)."""
    h = harness
    h.add_staff()
    h.add_rule(name="sales group", strategy="group", target="sales", intervals=(3600,))
    first = h.start()
    second = Service(h.config, clock=h.clock, environ=ENV)
    second.start(metrics=False)
    try:
        assert second.wait_connected(5)
        uuid = h.lost_call(hangs_up_after=8)
        assert h.run_until(lambda: len(first.queue.list_tasks()) == 1, max_sim_s=30)
        h.settle(0.5)
        tasks = first.queue.list_tasks()
        assert len(tasks) == 1 and tasks[0].lost_call_uuids == (uuid,)
        # both detectors saw the call; exactly one of them took it in
        lost_counts = [s.observer.funnel.get("lost", 0) for s in (first, second)]
        assert sorted(lost_counts) == [0, 1]
    finally:
        second.stop(grace_s=1)


def test_call_ending_while_the_link_is_down_is_reconciled_after_reconnect(harness: Harness) -> None:
    """The hangup was never seen (link dropped): after reconnecting, the service asks
    the switch which calls still exist and concludes the missing one as lost."""
    h = harness
    h.add_staff()
    h.add_rule(name="sales group", strategy="group", target="sales", intervals=(3600,))
    service = h.start()
    uuid = h.lost_call(hangs_up_after=8)
    h.run_for(3)  # ringing, events seen
    server = h.servers[0]
    server.stop()  # the link drops; the customer hangs up meanwhile
    h.pbx.advance(10)
    server.start()
    assert h.run_until(lambda: len(service.queue.list_tasks()) == 1, max_sim_s=5, step_s=0.1, real_timeout_s=15)
    [task] = service.queue.list_tasks()
    assert task.lost_call_uuids == (uuid,)
    [call] = service.queue.lost_calls_for_task(task.task_id)
    assert call.reconciled and call.customer_number == "79161234567"


def test_lost_calls_from_two_switches_are_called_back(db_url: str) -> None:
    """Two FreeSWITCH nodes: calls lost on either become tasks; each callback is placed
    on the node its call was lost on."""
    from fsworker.core.outcomes import TaskStatus
    from fsworker.testing.fakeswitch.directory import Behaviour

    h = Harness(db_url, nodes=2)
    try:
        h.add_staff()
        h.add_rule(name="sales group", strategy="group", target="sales", intervals=(60,))
        h.start()
        h.lost_call(customer="79161111111", hangs_up_after=8, pbx=h.pbxs[0])
        h.lost_call(customer="79162222222", hangs_up_after=8, pbx=h.pbxs[1])

        def both_taken() -> bool:
            gevent.sleep(0)
            h.pbxs[1].advance(0.5)  # the second switch's timers (same clock)
            return len(h.tasks()) == 2

        assert h.run_until(both_taken, max_sim_s=30)
        for pbx in h.pbxs:
            pbx.directory.set("user/101", Behaviour.answers(after=2))
            for n in ("79161111111", "79162222222"):
                pbx.directory.set(f"sofia/gateway/pstn/{n}", Behaviour.answers(after=2, hangup_after=20))

        def all_done() -> bool:
            h.pbxs[1].scheduler.run_due()
            return all(t.status is TaskStatus.DONE for t in h.tasks())

        assert h.run_until(all_done, max_sim_s=300)
        assert {t.end_reason.value for t in h.tasks()} == {"success"}
        for t in h.tasks():
            [pbx] = [p for p in h.pbxs if callback_legs(p, t.task_id, "customer")]
            h.assert_bridged(t.task_id, pbx)
        # each callback went out through the switch the customer had called (issue 18)
        for pbx, number in zip(h.pbxs, ("79161111111", "79162222222")):
            legs = [leg.endpoint for leg in pbx.legs.legs if leg.variables.get("fsw_task_id")]
            assert legs[0] == "user/101" and legs[-1] == f"sofia/gateway/pstn/{number}", legs
            assert [x for x in legs if x.startswith("sofia/gateway/")] == [f"sofia/gateway/pstn/{number}"], legs
    finally:
        h.close()


def test_blacklisted_skip_is_recorded_with_its_reason(harness: Harness) -> None:
    from fsworker.core.model import BlacklistEntry

    h = harness
    h.add_staff()
    h.add_rule(name="sales group", strategy="group", target="sales", intervals=(60,))
    h.repo.add_blacklist(BlacklistEntry(number="79990000000"))
    service = h.start()
    uuid = h.lost_call(customer="79990000000", hangs_up_after=8)
    assert h.run_until(lambda: service.observer.funnel.get("lost", 0) == 1, max_sim_s=30)
    assert service.queue.lost_call_skip_reason(uuid) is SkipReason.BLACKLISTED
    assert service.queue.list_tasks() == []


def test_database_away_during_intake_loses_no_call(harness: Harness, monkeypatch) -> None:  # noqa: ANN001
    """The database fails once before the lost call is stored and twice after it was
    stored but before its task was created: the call waits in order and is taken in
    when the database is back — not skipped as a 'duplicate' of itself."""
    from fsworker.store.errors import StoreUnavailableError

    h = harness
    h.add_staff()
    h.add_rule(name="sales group", strategy="group", target="sales", intervals=(3600,))
    service = h.start()
    failures = {"record_lost_call_and_facts": 1, "create_or_join_task": 2}
    if service.queue.is_postgresql:
        # One round trip takes the usual call in (migration 0009): all of it, or nothing.
        failures = {"take_in_new_task_pg": 3}

    def flaky(name: str):  # noqa: ANN202
        real = getattr(service.queue, name)

        def call(*a, **kw):  # noqa: ANN002, ANN003, ANN202
            if failures[name] > 0:
                failures[name] -= 1
                raise StoreUnavailableError("sqlite:///x", "database is gone")
            return real(*a, **kw)

        return call

    for name in failures:
        monkeypatch.setattr(service.queue, name, flaky(name))
    uuid = h.lost_call(hangs_up_after=8)
    # the retries back off in real time (0.5 s, 1 s, 2 s ...): let enough of it pass
    assert h.run_until(lambda: len(service.queue.list_tasks()) == 1, max_sim_s=3000, real_timeout_s=30)
    [task] = service.queue.list_tasks()
    assert task.lost_call_uuids == (uuid,)
    assert service.queue.lost_call_skip_reason(uuid) is None
    assert set(failures.values()) == {0}
    assert service.observer.funnel.get("lost") == 1  # counted once, not per retry


def test_database_away_when_recording_an_attempt_keeps_the_worker_and_the_task(harness: Harness, monkeypatch) -> None:  # noqa: ANN001, E501
    """finish_attempt fails (database gone): the worker survives, the lease expires and
    the task is attempted again; nothing is lost."""
    from fsworker.core.outcomes import TaskStatus
    from fsworker.store.errors import StoreUnavailableError
    from fsworker.testing.fakeswitch.directory import Behaviour

    h = harness
    h.add_staff()
    h.add_rule(name="sales group", strategy="group", target="sales", intervals=(60,))
    service = h.start()
    h.lost_call(hangs_up_after=8)
    assert h.run_until(lambda: len(service.queue.list_tasks()) == 1, max_sim_s=30)
    h.pbx.directory.set("user/101", Behaviour.answers(after=2))
    h.pbx.directory.set("sofia/gateway/pstn/79161234567", Behaviour.answers(after=2, hangup_after=20))
    real = service.queue.finish_attempt
    failures = [1]

    def flaky(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        if failures[0]:
            failures[0] -= 1
            raise StoreUnavailableError("sqlite:///x", "database is gone")
        return real(*a, **kw)

    monkeypatch.setattr(service.queue, "finish_attempt", flaky)
    [task] = service.queue.list_tasks()
    # the first attempt's outcome cannot be stored; the lease (30 s) expires, the task
    # comes back and the second attempt's outcome is stored
    assert h.run_until(lambda: h.task(task.task_id).status is TaskStatus.DONE, max_sim_s=400)
    assert failures == [0]
    done = h.task(task.task_id)
    assert done.end_reason.value == "success"
    h.assert_bridged(task.task_id)
    assert all(not g.dead for g in service.dispatcher._workers)


@pytest.mark.parametrize("failover", [False, True])
def test_a_callback_waits_for_its_switch_unless_failover_is_on(db_url: str, failover: bool,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """The origin switch goes down after the loss: with failover off (the default) the
    callback waits for it, nobody is rung anywhere; with failover on it goes out through
    the other switch."""
    import dataclasses

    from fsworker.core.outcomes import TaskStatus
    from fsworker.testing.fakeswitch.directory import Behaviour

    h = Harness(db_url, nodes=2)
    h.config = dataclasses.replace(h.config, nodes=(dataclasses.replace(h.config.nodes[0], failover=failover),
                                                    h.config.nodes[1]))
    try:
        h.add_staff()
        h.add_rule(name="sales group", strategy="group", target="sales", intervals=(30,))
        h.start()
        h.lost_call(customer="79161111111", hangs_up_after=8, pbx=h.pbxs[0])
        assert h.run_until(lambda: len(h.tasks()) == 1, max_sim_s=30)
        for pbx in h.pbxs:
            pbx.directory.set("user/101", Behaviour.answers(after=2))
            pbx.directory.set("sofia/gateway/pstn/79161111111", Behaviour.answers(after=2, hangup_after=20))
        h.servers[0].stop()  # fs1, where the customer called, goes away
        assert h.run_until(lambda: not h.service.nodes[0].conn.is_connected, max_sim_s=5)

        def done() -> bool:
            h.pbxs[1].scheduler.run_due()
            return h.tasks()[0].status is TaskStatus.DONE

        if failover:
            assert h.run_until(done, max_sim_s=300)
            assert h.tasks()[0].end_reason.value == "success"
            legs = [leg.endpoint for leg in h.pbxs[1].legs.legs if leg.variables.get("fsw_task_id")]
            assert legs[0] == "user/101" and legs[-1] == "sofia/gateway/pstn/79161111111", legs
        else:
            assert not h.run_until(done, max_sim_s=120), "the callback went out through another switch"
            task = h.tasks()[0]
            assert (task.status, task.attempts) == (TaskStatus.PENDING, ()), task
            assert not [leg for pbx in h.pbxs for leg in pbx.legs.legs if leg.variables.get("fsw_task_id")]
            assert "origin node 'fs1' is down and its failover is off" in caplog.text
    finally:
        h.close()


def test_a_call_stored_at_once_but_not_yet_decided_is_decided_when_the_database_is_back(
        harness: Harness, monkeypatch) -> None:  # noqa: ANN001
    """PostgreSQL's one-round-trip intake stores a second lost call of a customer with an
    open task and leaves the decision (D1: join) to a transaction of its own; the
    database failing in that one leaves the call stored, and it is joined on the retry
    (as recorded, not skipped as a duplicate of itself), counted once."""
    from fsworker.store.errors import StoreUnavailableError

    h = harness
    h.add_staff()
    h.add_rule(name="sales group", strategy="group", target="sales", intervals=(3600,))
    service = h.start()
    first = h.lost_call(hangs_up_after=8)
    assert h.run_until(lambda: len(service.queue.list_tasks()) == 1, max_sim_s=600, real_timeout_s=30)
    real_join = service.queue.join_task
    fails = [2]

    def join_task(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        if fails[0] > 0:
            fails[0] -= 1
            raise StoreUnavailableError("postgresql://x", "database is gone")
        return real_join(*a, **kw)

    monkeypatch.setattr(service.queue, "join_task", join_task)
    second = h.lost_call(hangs_up_after=8)
    assert h.run_until(lambda: len(service.queue.list_tasks()[0].lost_call_uuids) == 2, max_sim_s=3000,
                       real_timeout_s=30)
    [task] = service.queue.list_tasks()
    assert set(task.lost_call_uuids) == {first, second} and fails == [0]
    assert service.queue.lost_call_skip_reason(second) is None
    assert service.observer.funnel.get("lost") == 2  # counted once each, not per retry
