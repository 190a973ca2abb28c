"""Every promise the README makes about the running service, checked from outside the
process (issue 17, item 2): the metric table during a short workload, /healthz as the
switch goes away and comes back, the log, SIGTERM.

The tests share one `fsworker run` (the ``running`` fixture) and run in file order:
the workload, then the log of what it did, then the switch stopped and started, then a
dead phone, then SIGTERM. Each later test relies only on facts an earlier one wrote to
``running.facts``, never on in-process state.
"""

from __future__ import annotations

import json
import re
import signal
import time
from datetime import datetime

from tests.blackbox.conftest import (
    BLACKLISTED,
    DID_SALES,
    DID_SUPPORT,
    GRACE_S,
    SHUTDOWN_WAIT_S,
    Running,
    Scrape,
)
from tests.blackbox.readme import metric_table
from tests.chaos.procs import FakeSwitch, wait_for

C_SUCCESS = "79161110001"  #: answers the callback and talks
C_BUSY = "79161110002"  #: busy when called back: a failed attempt, the task waits; calls twice (joins)
C_BLACK = BLACKLISTED  #: a skip
C_SIGTERM = "79161110004"  #: bridged when the worker is told to stop
C_DEAD_PHONE = "79161110005"  #: its callback rings an employee phone that is down
TALK_S = 5


def script(sw: FakeSwitch) -> None:
    """Who answers how (again after a switch restart: the fake forgets it)."""
    sw.esl.ok("fake_config", "speak_seconds=0.5")
    sw.endpoint("user/101", "answer", after=0.3)
    sw.endpoint("user/102", "answer", after=3)  # long enough for the second lost call to join
    sw.endpoint("user/299", "ring")
    sw.endpoint(C_SUCCESS, "answer", after=0.3, hangup_after=TALK_S)
    sw.endpoint(C_BUSY, "busy")
    sw.endpoint(C_SIGTERM, "answer", after=0.3, hangup_after=3)


def lose(sw: FakeSwitch, customer: str, did: str) -> str:
    return sw.call(customer, did, ring="user/299", hangup_after=0.4)


def task_of(running: Running, customer: str) -> dict | None:
    return next((t for t in running.tasks() if t["customer_number"] == customer), None)


def assert_documented_shape(scrape: Scrape) -> None:
    """Each metric of the README's table is exposed, with its type and exactly its labels."""
    problems = []
    for doc in metric_table():
        kind = scrape.types.get(doc.family)
        if kind is None:
            problems.append(f"{doc.name}: not on /metrics")
            continue
        if kind != doc.type:
            problems.append(f"{doc.name}: type {kind}, README says {doc.type}")
        label_sets = [set(labels) - {"le"} for labels in scrape.labels[doc.family]]
        if not label_sets:
            problems.append(f"{doc.name}: no series")
        for labels in label_sets:
            if labels != doc.labels:
                problems.append(f"{doc.name}: labels {sorted(labels)}, README says {sorted(doc.labels)}")
                break
    created = sorted({name for name, _ in scrape.samples if name.endswith("_created")})
    if created:
        problems.append(f"*_created series on /metrics: {created[:5]}")
    assert not problems, "\n".join(problems)


def test_workload_moves_every_metric_as_documented(running: Running) -> None:
    sw = running.switch
    script(sw)
    before = running.scrape()
    assert before.value("fsworker_esl_up", node="fs1") == 1
    assert before.value("fsworker_callback_calls_up", rule="sales") in (None, 0)

    lost_success = lose(sw, C_SUCCESS, DID_SALES)
    lost_busy = lose(sw, C_BUSY, DID_SUPPORT)
    lose(sw, C_BLACK, DID_SALES)
    # the busy customer calls again while their task is open: D1, the call joins it
    wait_for("the busy customer's task", lambda: running.scrape().value("fsworker_tasks_created_total",
                                                                        rule="support") == 1,
             20, alive=lambda: running.worker.alive)
    lost_again = lose(sw, C_BUSY, DID_SUPPORT)

    # while the successful callback talks: one call up for its rule
    wait_for("fsworker_callback_calls_up{rule=sales} == 1 while bridged",
             lambda: running.scrape().value("fsworker_callback_calls_up", rule="sales") == 1, 20, every=0.2,
             alive=lambda: running.worker.alive)
    legs = {leg.role: leg for leg in sw.ours() if leg.destination == C_SUCCESS or leg.endpoint == "user/101"}
    assert legs["customer"].bridged_at is not None and legs["customer"].bridged_to == legs["employee"].uuid

    def both_attempts_done() -> bool:
        got = running.scrape()
        return all((got.value("fsworker_attempts_total", outcome=outcome) or 0)
                   - (before.value("fsworker_attempts_total", outcome=outcome) or 0) == 1
                   for outcome in ("success", "customer_busy"))

    wait_for("the success and the busy attempt recorded", both_attempts_done, 30, every=0.3,
             alive=lambda: running.worker.alive)
    # the busy customer's task waits 600 s for its next attempt: a pending task (the
    # gauge is read from the database at most every 5 s, hence the wait)
    wait_for("fsworker_pending_tasks == 1", lambda: running.scrape().value("fsworker_pending_tasks") == 1, 10,
             every=0.5)
    waiting = task_of(running, C_BUSY)
    assert waiting is not None and waiting["status"] == "pending" and len(waiting["attempts"]) == 1, waiting
    running.cli("tasks", "cancel", str(waiting["id"]))

    def settled() -> Scrape | None:
        got = running.scrape()
        return got if (got.value("fsworker_callback_calls_up", rule="sales") == 0
                       and got.value("fsworker_pending_tasks") == 0
                       and got.value("fsworker_webhook_deliveries_total", result="delivered") >= 9) else None

    after = wait_for("the gauges back at 0 and the webhooks delivered", settled, 20, every=0.5)

    tasks = {t["customer_number"]: t for t in running.tasks()}
    assert tasks[C_SUCCESS]["end_reason"] == "success" and tasks[C_SUCCESS]["lost_calls"] == [lost_success]
    assert tasks[C_BUSY]["end_reason"] == "cancelled_by_operator"
    assert sorted(tasks[C_BUSY]["lost_calls"]) == sorted([lost_busy, lost_again])
    assert C_BLACK not in tasks

    def moved(name: str, **labels: str) -> float:
        return (after.value(name, **labels) or 0) - (before.value(name, **labels) or 0)

    assert moved("fsworker_lost_calls_total", place="number") == 4
    assert moved("fsworker_skips_total", reason="blacklisted") == 1
    assert after.total("fsworker_skips_total") - before.total("fsworker_skips_total") == 1
    assert moved("fsworker_tasks_created_total", rule="sales") == 1
    assert moved("fsworker_tasks_created_total", rule="support") == 1
    assert moved("fsworker_tasks_joined_total", rule="support") == 1
    assert moved("fsworker_tasks_ended_total", reason="success") == 1
    assert moved("fsworker_attempts_total", outcome="success") == 1
    assert moved("fsworker_attempts_total", outcome="customer_busy") == 1
    assert after.total("fsworker_attempts_total") - before.total("fsworker_attempts_total") == 2
    assert moved("fsworker_callbacks_succeeded_total", rule="sales") == 1
    assert (after.value("fsworker_callbacks_succeeded_total", rule="support") or 0) == 0
    assert moved("fsworker_loss_to_callback_seconds_count") == 1
    assert 0 < moved("fsworker_loss_to_callback_seconds_sum") < 60
    assert after.value("fsworker_esl_up", node="fs1") == 1
    assert after.value("fsworker_esl_connects_total", node="fs1") == 1
    assert moved("fsworker_esl_events_total", node="fs1", event="CHANNEL_CREATE") >= 8
    assert moved("fsworker_esl_command_duration_seconds_count", node="fs1", command="originate") == 4
    assert moved("fsworker_esl_command_duration_seconds_count", node="fs1", command="uuid_bridge") == 1
    assert after.total("fsworker_handler_errors_total") == 0
    assert after.total("fsworker_build_info") == 1

    # the CRM saw the same story
    events = running.hooks.events()
    assert events.count("lost_call.detected") == 4 and events.count("task.skipped") == 1
    assert events.count("task.ended") == 1 and events.count("task.created") == 3  # 2 created, 1 joined
    assert moved("fsworker_webhook_deliveries_total", result="delivered") == len(running.hooks.received)

    assert_documented_shape(after)
    running.facts["success"] = {"task": tasks[C_SUCCESS]["id"], "lost": lost_success,
                                "employee": legs["employee"].uuid, "customer": legs["customer"].uuid}


def test_log_lines_name_the_task_and_the_call_uuids(running: Running) -> None:
    facts = running.facts.get("success")
    assert facts, "needs test_workload_moves_every_metric_as_documented first"
    task = facts["task"]
    lines = running.worker.text().splitlines()
    names_task = re.compile(rf"\btask {task}\b")
    # From the moment the task exists, every line about its lost call or one of its legs
    # says which task it is (before it, the detector and the rules can only name the call).
    created = next(i for i, line in enumerate(lines) if names_task.search(line) and facts["lost"] in line)
    for uuid in (facts["lost"], facts["employee"], facts["customer"]):
        about = [line for line in lines[created:] if uuid in line]
        assert about, f"no log line names {uuid}"
        untagged = [line for line in about if not names_task.search(line)]
        assert not untagged, f"lines naming {uuid} without task {task}:\n" + "\n".join(untagged)
    assert not [line for line in lines[:created] if facts["employee"] in line or facts["customer"] in line]
    # and the lines of the attempt name the call UUIDs at each step
    attempt = [line for line in lines if f"task {task} attempt 1:" in line]
    assert any(facts["employee"] in line and "employee answered" in line for line in attempt), attempt
    assert any(facts["customer"] in line and "dialling customer" in line for line in attempt), attempt
    assert any(facts["customer"] in line and facts["employee"] in line and "bridged" in line for line in attempt)
    assert any(facts["customer"] in line and "-> success" in line for line in attempt), attempt
    assert any(facts["lost"] in line and names_task.search(line) for line in lines), "intake line"
    assert not [line for line in lines if "ClueCon" in line], "the ESL password is logged"


def test_healthz_follows_the_switch_going_away_and_coming_back(running: Running) -> None:
    status, doc = running.healthz()
    assert (status, doc["status"], doc["failing"]) == (200, "ok", []), doc
    assert doc["database"]["ok"] is True and doc["esl"]["fs1"]["ok"] is True

    port = running.switch.port
    running.switch.proc.terminate()
    running.switch.proc.popen.wait(timeout=10)

    def down() -> dict | None:
        status, doc = running.healthz()
        return doc if status == 503 else None

    doc = wait_for("/healthz 503 with the switch stopped", down, 15, alive=lambda: running.worker.alive)
    assert doc["status"] == "down" and doc["failing"] == ["esl:fs1"], doc
    assert doc["esl"]["fs1"]["ok"] is False and doc["database"]["ok"] is True
    assert running.scrape().value("fsworker_esl_up", node="fs1") == 0

    running.switch = running.lab.switch(port)
    wait_for("/healthz 200 with the switch back", lambda: running.healthz()[0] == 200, 30,
             alive=lambda: running.worker.alive)
    assert running.healthz()[1]["status"] == "ok"
    back = running.scrape()
    assert back.value("fsworker_esl_up", node="fs1") == 1
    assert back.value("fsworker_esl_connects_total", node="fs1") == 2


def test_a_dead_phone_on_a_live_switch_counts_after_the_configured_wait(running: Running) -> None:
    """DESTINATION_OUT_OF_ORDER on the employee leg while the link stays up: a phone that
    is down, not a switch going away. The attempt counts, `[callback]
    switch_shutdown_wait_s` after the refusal. The phone is scripted as an operator
    would, with `fsworker fake-switch endpoint ... out_of_order`."""
    sw = running.switch
    script(sw)
    before = running.scrape().value("fsworker_attempts_total", outcome="no_employee_answered") or 0
    running.cli("fake-switch", "endpoint", "user/102", "out_of_order", "--port", str(sw.port))
    lose(sw, C_DEAD_PHONE, DID_SUPPORT)

    def counted() -> dict | None:
        task = task_of(running, C_DEAD_PHONE)
        if task is None:
            return None
        attempts = json.loads(running.cli("tasks", "show", str(task["id"]), "--json"))["attempts"]
        return attempts[0] if attempts and attempts[0]["outcome"] is not None else None

    attempt = wait_for("the dead phone's attempt recorded", counted, 30, every=0.3, alive=lambda: running.worker.alive)
    assert (attempt["outcome"], attempt["detail"]) == ("no_employee_answered", "DESTINATION_OUT_OF_ORDER"), attempt
    took = (datetime.fromisoformat(attempt["ended_at"]) - datetime.fromisoformat(attempt["started_at"])).total_seconds()
    assert SHUTDOWN_WAIT_S <= took < SHUTDOWN_WAIT_S + 3, f"the attempt took {took:.2f}s"
    assert "DESTINATION_OUT_OF_ORDER with the link to node fs1 still up" in running.worker.text()
    assert running.scrape().value("fsworker_attempts_total", outcome="no_employee_answered") == before + 1
    assert running.healthz()[0] == 200
    script(sw)


def test_sigterm_with_a_call_up_ends_it_and_exits_0_within_the_grace(running: Running) -> None:
    sw = running.switch
    script(sw)
    lose(sw, C_SIGTERM, DID_SALES)
    wait_for("the callback bridged", lambda: running.scrape().value("fsworker_callback_calls_up", rule="sales") == 1,
             20, every=0.2, alive=lambda: running.worker.alive)
    started = time.monotonic()
    running.worker.popen.send_signal(signal.SIGTERM)
    code = running.worker.popen.wait(timeout=GRACE_S + 10)
    took = time.monotonic() - started
    assert code == 0, running.worker.tail()
    assert took <= GRACE_S + 2, f"exited {took:.1f}s after SIGTERM; the grace is {GRACE_S}s"
    task = task_of(running, C_SIGTERM)
    assert task is not None and task["status"] == "done" and task["end_reason"] == "success", task
    assert not sw.up(), [leg.uuid for leg in sw.up()]
