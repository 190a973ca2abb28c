"""``fsworker tasks``: list, show (attempts, reasons, lost calls), cancel (R19)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from fsworker.core.calls import LossPlace, LostCall
from fsworker.core.outcomes import AttemptOutcome, TaskEndReason
from fsworker.store.queue import TaskQueue
from tests.clirunner import Run

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def make_tasks(url: str) -> tuple[int, int]:
    """One task with a failed attempt and its lost call; one fresh pending task."""
    queue = TaskQueue(url)
    call = LostCall(call_uuid="call-1", customer_number="+79160000001", virtual_number="+74950000000",
                    place=LossPlace.NUMBER, lost_at=T0, waited_s=12.5)
    queue.record_lost_call(call, rule_name="day", now=T0)
    first = queue.create_task(customer_number="+79160000001", rule_name="day", due_at=T0, lost_call_uuid="call-1", now=T0)
    claimed = queue.claim_due("w1", now=T0 + timedelta(seconds=1))
    assert [c.task_id for c in claimed] == [first]
    queue.finish_attempt(first, "w1", outcome=AttemptOutcome.CUSTOMER_BUSY, next_due=T0 + timedelta(minutes=5),
                         detail="USER_BUSY", employee="alice", now=T0 + timedelta(seconds=40))
    second = queue.create_task(customer_number="+79160000002", rule_name="night", due_at=T0 + timedelta(hours=1), now=T0)
    queue.close()
    assert first is not None and second is not None
    return first, second


def test_list_show_cancel(seeded: Run, sqlite_url: str) -> None:
    first, second = make_tasks(sqlite_url)
    listed = json.loads(seeded("tasks", "list", "--json").out)
    assert [t["id"] for t in listed] == [second, first]
    r = seeded("tasks", "list")
    assert r.code == 0 and "+79160000001" in r.out and "+79160000002" in r.out
    only = json.loads(seeded("tasks", "list", "--rule", "day", "--json").out)
    assert [t["id"] for t in only] == [first]

    shown = json.loads(seeded("tasks", "show", str(first), "--json").out)
    assert shown["status"] == "pending" and shown["attempt_no"] == 2
    assert shown["attempts"][0]["outcome"] == "customer_busy" and shown["attempts"][0]["detail"] == "USER_BUSY"
    assert shown["attempts"][0]["employee"] == "alice"
    assert shown["lost_calls"][0]["call_uuid"] == "call-1" and shown["lost_calls"][0]["waited_s"] == 12.5
    human = seeded("tasks", "show", str(first))
    assert human.code == 0
    assert "customer_busy" in human.out and "USER_BUSY" in human.out and "call-1" in human.out

    r = seeded("tasks", "cancel", str(first))
    assert r.code == 0 and "cancelled" in r.out
    shown = json.loads(seeded("tasks", "show", str(first), "--json").out)
    assert shown["status"] == "done" and shown["end_reason"] == "cancelled_by_operator"
    r = seeded("tasks", "cancel", str(first))
    assert r.code == 1 and "already ended (cancelled_by_operator)" in r.err
    pending = json.loads(seeded("tasks", "list", "--status", "pending", "--json").out)
    assert [t["id"] for t in pending] == [second]
    done = json.loads(seeded("tasks", "list", "--status", "done", "--json").out)
    assert [t["id"] for t in done] == [first]


def test_task_errors(run: Run) -> None:
    assert "no tasks" in run("tasks", "list").out
    r = run("tasks", "show", "42")
    assert r.code == 3 and "task 42 not found" in r.err
    assert run("tasks", "cancel", "42").code == 3
    r = run("tasks", "show", "forty-two")
    assert r.code == 1 and "task id" in r.err
    r = run("tasks", "list", "--status", "sleeping")
    assert r.code == 1 and "status" in r.err and "pending" in r.err
    r = run("tasks", "list", "--limit", "0")
    assert r.code == 1 and "limit" in r.err


def _ended_task(url: str) -> int:
    """A task created at T0 (09:00 UTC = 12:00 Moscow), bridged 9.99506 s, ended success."""
    queue = TaskQueue(url)
    call = LostCall(call_uuid="call-9", customer_number="+79160000009", virtual_number="+74950000000",
                    place=LossPlace.NUMBER, lost_at=T0, waited_s=7.25)
    queue.record_lost_call(call, rule_name="day", now=T0)
    task = queue.create_task(customer_number="+79160000009", rule_name="day", due_at=T0, lost_call_uuid="call-9",
                             now=T0)
    assert task is not None and queue.claim_due("w1", now=T0 + timedelta(seconds=1))
    queue.finish_attempt(task, "w1", outcome=AttemptOutcome.SUCCESS, end_reason=TaskEndReason.SUCCESS,
                         talk_s=9.99506, now=T0 + timedelta(seconds=60))
    queue.close()
    return task


def test_times_in_the_display_zone_and_durations_rounded(seeded: Run, sqlite_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    task = _ended_task(sqlite_url)
    config = tmp_path / "fsworker.toml"
    config.write_text('[display]\ntimezone = "Europe/Moscow"\n', encoding="utf-8")
    r = seeded("-c", str(config), "tasks", "show", str(task))
    assert r.code == 0, r.err
    assert "2026-12-01T12:00:00+03:00" in r.out and "+00:00" not in r.out, r.out
    assert re.search(r"success +- +10\.0$", r.out, re.M) and "9.99506" not in r.out, r.out
    assert re.search(r"number +\+74950000000 +- +- +7\.2$", r.out, re.M), r.out
    r = seeded("-c", str(config), "--utc", "tasks", "list")
    assert "2026-12-01T09:01:00+00:00" in r.out and "+03:00" not in r.out, r.out
    # JSON stays machine-exact
    shown = json.loads(seeded("-c", str(config), "tasks", "show", str(task), "--json").out)
    assert shown["attempts"][0]["talk_s"] == 9.99506


def test_list_filters_by_end_reason_and_time(seeded: Run, sqlite_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first, second = make_tasks(sqlite_url)  # created at T0, pending
    done = _ended_task(sqlite_url)  # created at T0, success

    def ids(*argv: str) -> list[int]:
        r = seeded("--utc", "tasks", "list", *argv, "--json")
        assert r.code == 0, r.err
        return [t["id"] for t in json.loads(r.out)]

    assert ids("--reason", "success") == [done]
    assert ids("--reason", "attempts_exhausted") == []
    assert ids("--since", "2026-12-01T09:00") == [done, second, first]
    assert ids("--since", "2026-12-01T09:00:01") == []
    assert ids("--until", "2026-12-01T09:00:01") == [done, second, first]
    assert ids("--until", "2026-12-01") == []
    r = seeded("tasks", "list", "--since", "yesterday")
    assert r.code == 1 and "since: 'yesterday' is invalid: a span back from now such as 30m, 24h" in r.err, r.err
    r = seeded("tasks", "list", "--until", "2026-13-01")
    assert r.code == 1 and "until: '2026-13-01' is invalid" in r.err, r.err
    r = seeded("tasks", "list", "--reason", "bored")
    assert r.code == 1 and "reason: 'bored' is invalid: one of success, attempts_exhausted" in r.err, r.err
