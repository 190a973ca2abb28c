"""``fsworker rules``: add, edit, show, list, move, enable/disable, delete (R4, R11, R14, R15)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from fsworker.store.queue import TaskQueue
from tests.clirunner import Run


def names(run: Run) -> list[str]:
    r = run("rules", "list", "--json")
    assert r.code == 0, r.err
    return [x["name"] for x in json.loads(r.out)]


def test_add_move_disable_delete_a_rule(seeded: Run) -> None:
    run = seeded
    r = run("rules", "add", "vip", "--strategy", "employee", "--target", "alice", "--position", "0",
            "--hint-text", "VIP {{ customer_digits }}", "--max-concurrent", "3")
    assert r.code == 0, r.err
    assert "position 0" in r.out
    assert names(run) == ["vip", "day", "night"]

    assert run("rules", "move", "vip", "down").code == 0
    assert names(run) == ["day", "vip", "night"]
    assert run("rules", "move", "vip", "bottom").code == 0
    assert names(run) == ["day", "night", "vip"]
    assert run("rules", "move", "vip", "top").code == 0
    assert names(run) == ["vip", "day", "night"]
    r = run("rules", "move", "vip", "--to", "1")
    assert r.code == 0 and "position 1" in r.out
    assert names(run) == ["day", "vip", "night"]
    assert run("rules", "move", "vip", "up").code == 0
    assert names(run) == ["vip", "day", "night"]

    assert run("rules", "disable", "vip").code == 0
    shown = json.loads(run("rules", "show", "vip", "--json").out)
    assert shown["enabled"] is False and shown["position"] == 0 and shown["max_concurrent"] == 3
    assert shown["hint_kind"] == "text" and shown["hint_text"] == "VIP {{ customer_digits }}"
    assert run("rules", "enable", "vip").code == 0
    assert json.loads(run("rules", "show", "vip", "--json").out)["enabled"] is True

    r = run("rules", "delete", "vip")
    assert r.code == 0 and "0 open task(s) cancelled" in r.out
    assert names(run) == ["day", "night"]
    assert run("rules", "show", "vip").code == 3


def test_delete_cancels_the_rules_tasks_and_says_how_many(seeded: Run, sqlite_url: str) -> None:
    queue = TaskQueue(sqlite_url)
    due = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    ids = [queue.create_task(customer_number=n, rule_name="day", due_at=due) for n in ("+79160000001", "+79160000002")]
    other = queue.create_task(customer_number="+79160000003", rule_name="night", due_at=due)
    queue.close()
    r = seeded("rules", "delete", "day")
    assert r.code == 0, r.err
    assert "2 open task(s) cancelled" in r.out
    for task_id in ids:
        shown = json.loads(seeded("tasks", "show", str(task_id), "--json").out)
        assert shown["status"] == "done" and shown["end_reason"] == "cancelled_rule_deleted"
    assert json.loads(seeded("tasks", "show", str(other), "--json").out)["status"] == "pending"


def test_show_and_list_human_output(seeded: Run) -> None:
    r = seeded("rules", "show", "day")
    assert r.code == 0
    assert "number +74950000000" in r.out and "0, 300, 3600" in r.out and "office" in r.out
    r = seeded("rules", "list")
    lines = r.out.splitlines()
    assert lines[0].split()[:2] == ["POS", "NAME"]
    assert lines[1].split()[:2] == ["0", "day"] and lines[2].split()[:2] == ["1", "night"]


def test_edit_changes_only_what_is_given_and_renames(seeded: Run, sqlite_url: str) -> None:
    queue = TaskQueue(sqlite_url)
    task_id = queue.create_task(customer_number="+79160000001", rule_name="day",
                                due_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    queue.close()
    r = seeded("rules", "edit", "day", "--intervals", "60,120", "--max-concurrent", "2", "--rename", "daytime")
    assert r.code == 0, r.err
    assert [t["id"] for t in json.loads(seeded("tasks", "list", "--rule", "daytime", "--json").out)] == [task_id]
    rule = json.loads(seeded("rules", "show", "daytime", "--json").out)
    assert rule["intervals"] == [60, 120] and rule["max_concurrent"] == 2
    assert rule["target"] == "sales" and rule["min_wait_s"] == 5 and rule["position"] == 0
    assert seeded("rules", "show", "day").code == 3
    # switching place to transfer drops the place value and the (not applicable) minimum wait
    r = seeded("rules", "edit", "daytime", "--place", "transfer", "--strategy", "last_waiting_phase")
    assert r.code == 0, r.err
    rule = json.loads(seeded("rules", "show", "daytime", "--json").out)
    assert rule["place"] == "transfer" and "place_value" not in rule and "target" not in rule
    assert rule["min_wait_s"] == 0
    assert seeded("rules", "edit", "daytime", "--disabled").code == 0
    assert json.loads(seeded("rules", "show", "daytime", "--json").out)["enabled"] is False
    r = seeded("rules", "edit", "daytime")
    assert r.code == 1 and "at least one option" in r.err


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (("--strategy", "group", "--target", "sales", "--intervals", "0,1,2,3,4,5"),
         ("rule.intervals", "1 to 5 retry intervals")),
        (("--strategy", "group", "--target", "sales", "--intervals", "0,abc"), ("rule.intervals[1]", "whole number")),
        (("--strategy", "number", "--target", "12ab"), ("rule.target", "'12ab'", "digits")),
        (("--strategy", "group", "--target", "nosuch"), ("rule.target", "'nosuch'", "no group")),
        (("--strategy", "last_attempted", "--hint-text", "{{ caller }"), ("rule.hint.text", "template error")),
        (("--strategy", "last_attempted", "--hint-text", "{{ nosuch_fact }}"), ("rule.hint.text", "undefined")),
        (("--strategy", "last_attempted", "--hint-file", "/etc/passwd"),
         ("rule.hint.file", "'/etc/passwd'", "sound_dirs", "/usr/share/freeswitch/sounds/, /var/lib/fsworker/hints/")),
        (("--strategy", "last_attempted", "--hint-language", "xx"), ("rule.hint.language",)),
        (("--strategy", "teleport"), ("rule.strategy", "'teleport'", "last_attempted")),
        (("--strategy", "last_attempted", "--min-wait", "61"), ("rule.min_wait_s", "0..60")),
        (("--strategy", "last_attempted", "--max-concurrent", "6"), ("rule.max_concurrent", "1..5")),
        (("--strategy", "last_attempted", "--place", "transfer", "--min-wait", "5"), ("rule.min_wait_s", "transfer")),
        (("--strategy", "last_attempted", "--place", "number"), ("rule.place_value", "required")),
        (("--strategy", "last_attempted", "--place", "number", "--place-value", "+70001112233"),
         ("rule.place_value", "no virtual number")),
        (("--strategy", "last_attempted", "--callback-schedule", "nosuch"), ("rule.callback_schedule",)),
        (("--strategy", "last_attempted", "--position", "-1"), ("rule.position",)),
    ],
)
def test_bad_rule_input_names_the_field_and_exits_1(seeded: Run, argv: tuple[str, ...], needles: tuple[str, ...]) -> None:
    r = seeded("rules", "add", "bad", *argv)
    assert r.code == 1, (r.out, r.err)
    assert "Traceback" not in r.err
    for needle in needles:
        assert needle in r.err
    assert names(seeded) == ["day", "night"]  # nothing stored


def test_unknown_rules_and_duplicates(seeded: Run) -> None:
    for argv in (("show", "nope"), ("edit", "nope", "--min-wait", "1"), ("move", "nope", "up"),
                 ("enable", "nope"), ("disable", "nope"), ("delete", "nope")):
        r = seeded("rules", *argv)
        assert r.code == 3, argv
        assert "rule 'nope' not found" in r.err
    r = seeded("rules", "add", "day", "--strategy", "last_attempted")
    assert r.code == 1 and "already exists" in r.err
    r = seeded("rules", "edit", "day", "--rename", "night")
    assert r.code == 1 and "already exists" in r.err
    r = seeded("rules", "move", "day")
    assert r.code == 1 and "up, down, top, bottom" in r.err
    r = seeded("rules", "move", "day", "sideways")
    assert r.code == 2  # argparse usage error


def test_help_everywhere(run: Run) -> None:
    for argv in (("rules",), ("rules", "add"), ("rules", "edit"), ("rules", "move"), ("rules", "delete")):
        r = run(*argv, "--help")
        assert r.code == 0 and "usage: fsworker rules" in r.out


@pytest.mark.parametrize(("template", "construct"), [
    ("{% if site != 'shop.example.com' %}{% for a in range(100000) %}{% for b in range(3000) %}"
     "{% endfor %}{% endfor %}{% endif %}Перезвон", "function call range()"),
    ("{{ lipsum(1000000) }}", "function call lipsum()"),
    ("{{ '{0:{1}{1}{1}}'.format('a', 999) }}", "method call .format()"),
    ("{{ ('a'*10000)|replace('a','b'*10000) }}", "the * operator"),
    ("{{ ((((10**64)**64)**64)**64)|string }}", "the ** operator"),
])
def test_hint_that_could_stall_the_worker_is_refused_naming_the_construct(run: Run, template: str,
                                                                          construct: str) -> None:
    """Issue 17 item 5: refused when saved, exit 1, in well under a second."""
    t0 = time.perf_counter()
    r = run("rules", "add", "x", "--strategy", "last_attempted", "--hint-text", template)
    assert time.perf_counter() - t0 < 1.0
    assert r.code == 1, r
    assert "rule.hint.text" in r.err and construct in r.err and "Traceback" not in r.err, r.err
    assert run("rules", "list", "--json").out.strip() == "[]"
def test_hint_files_come_from_the_configured_sound_dirs(run: Run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A switch built from source keeps its sounds in /usr/local/freeswitch/sounds."""
    wav = "/usr/local/freeswitch/sounds/en/us/callie/callback.wav"
    r = run("rules", "add", "r", "--strategy", "last_attempted", "--hint-file", wav)
    assert r.code == 1
    assert f"rule.hint.file: '{wav}' is invalid: a file under one of the [prompts] sound_dirs: " \
           "/usr/share/freeswitch/sounds/, /var/lib/fsworker/hints/" in r.err, r.err
    config = tmp_path / "fsworker.toml"
    config.write_text('[prompts]\nsound_dirs = ["/usr/local/freeswitch/sounds"]\n', encoding="utf-8")
    r = run("-c", str(config), "rules", "add", "r", "--strategy", "last_attempted", "--hint-file", wav)
    assert r.code == 0, r.err
    r = run("-c", str(config), "rules", "add", "r2", "--strategy", "last_attempted",
            "--hint-file", "/usr/share/freeswitch/sounds/x.wav")
    assert r.code == 1 and "sound_dirs: /usr/local/freeswitch/sounds/" in r.err, r.err
