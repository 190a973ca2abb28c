"""``fsworker blacklist`` (R18) and ``fsworker switch`` (R16)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fsworker.store.queue import TaskQueue
from tests.clirunner import Run


def test_blacklist_add_list_remove(seeded: Run, sqlite_url: str) -> None:
    queue = TaskQueue(sqlite_url)
    task_id = queue.create_task(customer_number="+79990000000", rule_name="day",
                                due_at=datetime(2026, 12, 1, 9, tzinfo=UTC))
    queue.close()
    r = seeded("blacklist", "add", "+79990000000", "--reason", "spam")
    assert r.code == 0 and "1 open task(s) cancelled" in r.out
    task = json.loads(seeded("tasks", "show", str(task_id), "--json").out)
    assert task["end_reason"] == "cancelled_blacklisted"
    assert json.loads(seeded("blacklist", "list", "--json").out) == [{"number": "+79990000000", "reason": "spam"}]
    assert "spam" in seeded("blacklist", "list").out
    r = seeded("blacklist", "add", "+79990000000")
    assert r.code == 1 and "already exists" in r.err
    assert seeded("blacklist", "remove", "+79990000000").code == 0
    r = seeded("blacklist", "remove", "+79990000000")
    assert r.code == 3 and "not blacklisted" in r.err
    assert json.loads(seeded("blacklist", "list", "--json").out) == []
    assert "empty" in seeded("blacklist", "list").out


def test_blacklist_bad_numbers(run: Run) -> None:
    for action in ("add", "remove"):
        r = run("blacklist", action, "8-800-CALL-NOW")
        assert r.code == 1
        assert "blacklist.number" in r.err and "digits" in r.err


def test_switch_off_status_on(run: Run) -> None:
    assert json.loads(run("switch", "status", "--json").out)["enabled"] is True
    r = run("switch", "off")
    assert r.code == 0 and "off" in r.out
    status = run("switch", "status")
    assert status.code == 0 and "auto-callback is off" in status.out
    assert json.loads(run("switch", "status", "--json").out) == {"enabled": False, "pending": 0, "due": 0, "active": 0}
    assert run("switch", "on").code == 0
    assert json.loads(run("switch", "status", "--json").out)["enabled"] is True
    assert run("switch", "sideways").code == 2
