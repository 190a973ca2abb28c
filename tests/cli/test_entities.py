"""``fsworker employees|groups|campaigns|scenarios|numbers|sites|schedules`` (R13)."""

from __future__ import annotations

import json

import pytest

from tests.clirunner import Run


def test_every_kind_add_show_list_edit_delete(run: Run) -> None:
    steps = [
        ("employees", "alice", ("--endpoint", "user/101"), ("--endpoint", "user/111", "--endpoint", "user/112"),
         {"endpoints": ["user/111", "user/112"]}),
        ("groups", "sales", ("--member", "alice"), ("--max-lines", "3"), {"members": ["alice"], "max_lines": 3}),
        ("campaigns", "promo", ("--target-kind", "group", "--target", "sales"),
         ("--target-kind", "number", "--target", "+74951112233"), {"target_kind": "number", "target": "+74951112233"}),
        ("scenarios", "ivr-main", ("--extension", "5000"), ("--context", "public"),
         {"extension": "5000", "context": "public"}),
        ("numbers", "+74950000000", (), ("--description", "main line"), {"description": "main line"}),
        ("sites", "shop.example.com", (), None, {"name": "shop.example.com"}),
        ("schedules", "office", ("--tz", "Europe/Moscow", "--weekly", "mon-fri 09:00-18:00"),
         ("--weekly", "mon-fri 10:00-19:00", "--exception", "2026-12-31 closed", "--exception", "2027-01-09 10:00-16:00"),
         {"weekly": "mon-fri 10:00-19:00", "exceptions": ["2026-12-31 closed", "2027-01-09 10:00-16:00"],
          "timezone": "Europe/Moscow"}),
    ]
    for kind, name, add_opts, edit_opts, expect in steps:
        r = run(kind, "add", name, *add_opts)
        assert r.code == 0, (kind, r.err)
        if edit_opts is not None:
            r = run(kind, "edit", name, *edit_opts)
            assert r.code == 0, (kind, r.err)
        shown = json.loads(run(kind, "show", name, "--json").out)
        for key, value in expect.items():
            assert shown[key] == value, (kind, key)
        listed = json.loads(run(kind, "list", "--json").out)
        assert [x.get("name", x.get("number")) for x in listed] == [name]
        human = run(kind, "list")
        assert human.code == 0 and name in human.out
        assert name in run(kind, "show", name).out
    # delete in dependency order: campaign first (it targets the group), then the group, ...
    for kind, name in (("campaigns", "promo"), ("groups", "sales"), ("employees", "alice"),
                       ("scenarios", "ivr-main"), ("numbers", "+74950000000"), ("sites", "shop.example.com"),
                       ("schedules", "office")):
        r = run(kind, "delete", name)
        assert r.code == 0, (kind, r.err)
        assert run(kind, "show", name).code == 3


def test_deleting_an_entity_in_use_names_the_rules(seeded: Run) -> None:
    seeded("rules", "add", "weekend", "--strategy", "group", "--target", "sales", "--callback-schedule", "office")
    r = seeded("schedules", "delete", "office")
    assert r.code == 1
    assert "cannot delete schedule 'office'" in r.err
    assert "'day'" in r.err and "'night'" in r.err and "'weekend'" in r.err
    r = seeded("groups", "delete", "sales")
    assert r.code == 1 and "'day'" in r.err and "'weekend'" in r.err and "'night'" not in r.err
    r = seeded("employees", "delete", "alice")
    assert r.code == 1 and "group 'sales'" in r.err
    r = seeded("numbers", "delete", "+74950000000")
    assert r.code == 1 and "'day'" in r.err
    assert seeded("schedules", "show", "office").code == 0  # still there
    # once the rules are gone, the delete goes through
    for rule in ("day", "night", "weekend"):
        assert seeded("rules", "delete", rule).code == 0
    assert seeded("schedules", "delete", "office").code == 0


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (("employees", "add", "x", "--endpoint", "user/1,user/2"), ("employee.endpoints[0]", "no spaces, commas")),
        (("employees", "add", "x", "--endpoint", "user/1", "--endpoint", "user/1"), ("employee.endpoints", "distinct")),
        (("groups", "add", "g", "--member", "nobody"), ("group.members", "'nobody'")),
        (("groups", "add", "g", "--member", "alice", "--max-lines", "0"), ("group.max_lines", ">= 1")),
        (("groups", "add", "g", "--member", "alice", "--max-lines", "two"), ("group.max_lines", "whole number")),
        (("campaigns", "add", "c", "--target-kind", "robot", "--target", "x"), ("campaign.target_kind", "'robot'")),
        (("campaigns", "add", "c", "--target-kind", "number", "--target", "call-me"), ("campaign.target", "digits")),
        (("scenarios", "add", "s s", "--extension", "1"), ("scenario.name", "no spaces")),
        (("numbers", "add", "+7abc"), ("virtual_number.number", "'+7abc'", "digits")),
        (("schedules", "add", "s", "--tz", "Mars/Olympus", "--weekly", "mon 09:00-10:00"), ("schedule.timezone",)),
        (("schedules", "add", "s", "--tz", "UTC", "--weekly", "funday 09:00-10:00"), ("schedule.weekly", "funday")),
        (("schedules", "add", "s", "--tz", "UTC", "--weekly", "mon 09:00-25:00"), ("schedule.weekly", "25:00")),
        (("schedules", "add", "s", "--tz", "UTC", "--weekly", "mon 09:00-10:00", "--exception", "2026-02-30 closed"),
         ("schedule.exception[0]", "calendar date")),
        (("schedules", "add", "s", "--tz", "UTC"), ("schedule.windows", "at least one")),
        (("employees", "add", "alice", "--endpoint", "user/999"), ("already exists",)),
        (("employees", "edit", "alice"), ("at least one option",)),
    ],
)
def test_bad_entity_input_exits_1_naming_the_field(seeded: Run, argv: tuple[str, ...], needles: tuple[str, ...]) -> None:
    r = seeded(*argv)
    assert r.code == 1, (r.out, r.err)
    assert "Traceback" not in r.err
    for needle in needles:
        assert needle in r.err


def test_missing_entities_exit_3(run: Run) -> None:
    for kind in ("employees", "groups", "campaigns", "scenarios", "sites", "schedules"):
        for action in ("show", "delete"):
            r = run(kind, action, "ghost")
            assert r.code == 3 and "'ghost' not found" in r.err, (kind, action)
    assert run("numbers", "show", "+70000000000").code == 3
    assert run("employees", "edit", "ghost", "--endpoint", "user/1").code == 3


def test_required_options_are_usage_errors(run: Run) -> None:
    assert run("employees", "add", "x").code == 2
    assert run("schedules", "add", "x", "--weekly", "mon 09:00-10:00").code == 2
    assert run("employees", "--help").code == 0
    assert "--weekly" in run("schedules", "add", "--help").out
