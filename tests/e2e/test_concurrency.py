"""R10 across workers (D3): a rule's cap of simultaneous callback calls holds across
two fsworker "processes" sharing one database and one switch.

The second process is a second ``Service`` in this Python process (its own worker id,
database engine, ESL connection, detector, intake and dispatcher with its own worker
greenlets); real OS processes cannot share the ManualClock that drives the fake
switch. Concurrency is counted on the fake switch's side. SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from fsworker.core.outcomes import AttemptOutcome, TaskEndReason, TaskStatus
from fsworker.testing.fakeswitch.directory import Behaviour
from tests.e2e.harness import MultiHarness, callback_legs

CUSTOMERS = [f"7916000000{i}" for i in range(5)]
DID = "74950000001"


@pytest.fixture()
def multi(db_url: str):
    h = MultiHarness(db_url, workers=1)
    yield h
    h.close()


def _live_callbacks(h: MultiHarness) -> set[str]:
    """Task ids with a callback leg up on the switch right now."""
    return {ch.variables.get("fsw_task_id") for ch in list(h.pbx.channels.values())
            if ch.alive and ch.variables.get("fsw_task_id")}


def test_cap_two_holds_across_two_worker_processes(multi) -> None:
    h = multi
    h.add_staff()
    h.add_rule(name="capped", strategy="group", target="sales", intervals=(60,), max_concurrent=2)
    # process 1 has one worker; process 2 (started once process 1 has a call up) has
    # three: together four workers for a cap of two, and process 2 alone could exceed
    # the cap if it were counted per process.
    first = h.start()
    for number in CUSTOMERS:
        h.lost_call(number, hangs_up_after=12)
    assert h.run_until(lambda: len(h.tasks()) == 5, max_sim_s=40), h.tasks()
    assert all(t.status is TaskStatus.PENDING for t in h.tasks())
    # All five become due at about the same time; everyone answers, each call lasts 30 s.
    h.pbx.directory.set("user/101", Behaviour.answers(after=2))
    for number in CUSTOMERS:
        h.pbx.directory.set(f"sofia/gateway/pstn/{number}", Behaviour.answers(after=3, hangup_after=30))
    assert h.run_until(lambda: len(_live_callbacks(h)) == 1, max_sim_s=120)
    second = h.start_another("proc-2", workers=3)
    peak = 0

    def done() -> bool:
        nonlocal peak
        peak = max(peak, len(_live_callbacks(h)))
        return all(t.status is TaskStatus.DONE for t in h.tasks())

    assert h.run_until(done, max_sim_s=600, step_s=0.5, real_timeout_s=90), h.tasks()
    tasks = h.tasks()
    assert all(t.end_reason is TaskEndReason.SUCCESS for t in tasks), tasks
    assert all([at.outcome for at in t.attempts] == [AttemptOutcome.SUCCESS] for t in tasks)
    for t in tasks:
        h.assert_bridged(t.task_id)
    # sampled live on the switch: the cap was reached and never exceeded
    assert peak == 2, peak
    # and from the legs log after the fact: each attempt's span from its first leg's
    # start to its last leg's end; at no instant more than 2 overlap
    spans: dict[str, list[float]] = {}
    for leg in callback_legs(h.pbx):
        key = f"{leg.variables['fsw_task_id']}/{leg.variables['fsw_attempt']}"
        s = spans.setdefault(key, [leg.started_at, leg.ended_at or float("inf")])
        s[0] = min(s[0], leg.started_at)
        s[1] = max(s[1], leg.ended_at or float("inf"))
    assert len(spans) == 5
    points = sorted([(s, 1) for s, _ in spans.values()] + [(e, -1) for _, e in spans.values()],
                    key=lambda p: (p[0], p[1]))
    up = max_up = 0
    for _, d in points:
        up += d
        max_up = max(max_up, up)
    assert max_up == 2, spans
    # both processes did callbacks
    workers = {t.attempts[0].worker for t in tasks}
    assert workers == {first.config.worker.effective_worker_id(), second.config.worker.effective_worker_id()}, workers
    # one customer leg per task, each to its own customer
    customers = sorted(leg.destination for leg in callback_legs(h.pbx, role="customer"))
    assert customers == sorted(CUSTOMERS)
