"""A link cut with `uuid_bridge` in flight (issue 13 item 7): the customer may have
answered, so the attempt does not end: once the link is back both legs are looked at
on the switch and bridged (again, if the switch had not run the first command); the
callback succeeds with one customer leg, nobody is rung twice."""

from __future__ import annotations

import gevent
import pytest

from fsworker.core.outcomes import AttemptOutcome, TaskEndReason, TaskStatus
from fsworker.testing.fakeswitch.directory import Behaviour
from tests.e2e.harness import callback_legs

CUSTOMER = "79161234567"


@pytest.mark.parametrize("switch_ran_it", [True, False], ids=["bridged-then-cut", "cut-before-bridge"])
def test_link_cut_during_uuid_bridge_keeps_the_call(harness, switch_ran_it: bool) -> None:  # noqa: ANN001
    h = harness
    h.add_staff()
    h.add_rule(name="sales group", strategy="group", target="sales", intervals=(60, 60))
    service = h.start()
    pbx, server = h.pbx, h.servers[0]
    h.lost_call(hangs_up_after=12)
    assert h.run_until(lambda: len(h.tasks()) == 1, max_sim_s=30)
    pbx.directory.set("user/102", Behaviour.answers(after=2))
    pbx.directory.set(f"sofia/gateway/pstn/{CUSTOMER}", Behaviour.answers(after=3, hangup_after=20))

    cuts: list[str] = []
    run_api = server.run_api

    def cut_on_bridge(command: str, arg: str) -> str:
        if command == "uuid_bridge" and not cuts:
            cuts.append(arg)
            out = run_api(command, arg) if switch_ran_it else "+OK\n"
            server.kill_connections()  # the reply (and the bridge's events) never reach us
            return out
        return run_api(command, arg)

    server.run_api = cut_on_bridge  # type: ignore[method-assign]
    assert h.run_until(lambda: bool(cuts), max_sim_s=200)
    # The switch's clock stands still while the worker reconnects (real time).
    conn = service.nodes[0].conn
    deadline = gevent.get_hub().loop.now() + 10
    while conn.stats.links_opened < 2 and gevent.get_hub().loop.now() < deadline:
        gevent.sleep(0.05)
    assert conn.stats.links_opened == 2
    h.settle(1.0)
    assert h.run_until(lambda: any(t.status is TaskStatus.DONE for t in h.tasks()), max_sim_s=200)

    [task] = h.tasks()
    task = h.task(task.task_id)
    assert [a.outcome for a in task.attempts] == [AttemptOutcome.SUCCESS], task.attempts
    assert task.end_reason is TaskEndReason.SUCCESS
    assert task.attempts[0].talk_s is not None and task.attempts[0].talk_s >= 15
    customers = callback_legs(pbx, task.task_id, "customer")
    assert len(customers) == 1 and customers[0].answered
    bridges = [c for c in server.command_lines() if c.startswith("api uuid_bridge")]
    assert len(bridges) == (1 if switch_ran_it else 2), bridges
