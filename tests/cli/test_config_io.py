"""``fsworker export`` / ``fsworker import`` and the TOML they use (fsworker.config.toml_io)."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fsworker.config.toml_io import catalog_to_toml, parse_catalog, toml_string, toml_value
from fsworker.core.validation import CatalogError
from fsworker.store.queue import TaskQueue
from tests.clirunner import Run

TRICKY = [
    "",
    'quote " and backslash \\ and \\n literally',
    "line one\nline two\n",
    "tab\there, cr\r, bell\x07, del\x7f, nul\x00, esc\x1b",
    "ends with a quote '",
    "has ''' three quotes\nand lines",
    "кириллица и 😀 emoji",
    "{{ customer_digits }}\n{%- if site %} site {{ site }}{% endif %}",
]


@pytest.mark.parametrize("text", TRICKY)
def test_toml_strings_round_trip_exactly(text: str) -> None:
    assert tomllib.loads(f"s = {toml_value(text)}")["s"] == text
    assert tomllib.loads(f"s = {toml_string(text)}")["s"] == text


def test_toml_values() -> None:
    assert toml_value(True) == "true" and toml_value(0) == "0"
    quoted = ["x", 'y"']
    doc = "a = " + toml_value([0, 300, 3600]) + "\nb = " + toml_value(quoted)
    assert tomllib.loads(doc) == {"a": [0, 300, 3600], "b": quoted}
    with pytest.raises(TypeError):
        toml_value(1.5)


def test_multiline_hint_is_written_as_lines() -> None:
    assert toml_value("a\nb") == "'''\na\nb'''"


def test_export_import_export_is_identical(seeded: Run, sqlite_url: str, tmp_path: Path) -> None:
    run = seeded
    # a bit of everything, including a multi-line hint template and a disabled rule
    for argv in (
        ("campaigns", "add", "promo", "--target-kind", "group", "--target", "sales"),
        ("scenarios", "add", "ivr", "--extension", "5000", "--context", "public"),
        ("sites", "add", "shop.example.com"),
        ("blacklist", "add", "+79990000000", "--reason", 'spam "robot"'),
        ("rules", "add", "site", "--place", "site", "--place-value", "shop.example.com", "--strategy", "scenario",
         "--target", "ivr", "--hint-text", "Сайт {{ site }}\nклиент {{ customer_digits }}", "--hint-language", "ru",
         "--disabled", "--position", "1"),
        ("switch", "off"),
    ):
        assert run(*argv).code == 0, argv
    first = run("export")
    assert first.code == 0, first.err
    file = tmp_path / "fsworker-config.toml"
    assert run("export", "-o", str(file)).code == 0
    assert file.read_text(encoding="utf-8") == first.out

    fresh = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    assert run("db", "upgrade", db=fresh).code == 0
    r = run("import", str(file), db=fresh)
    assert r.code == 0, r.err
    assert "4 rule(s)" not in r.out and "3 rule(s)" in r.out and "auto-callback off" in r.out
    second = run("export", db=fresh)
    assert second.out == first.out
    rules = json.loads(run("rules", "list", "--json", db=fresh).out)
    assert [(x["name"], x["enabled"]) for x in rules] == [("day", True), ("site", False), ("night", True)]


def test_import_reports_every_problem_and_changes_nothing(seeded: Run, tmp_path: Path) -> None:
    before = seeded("export").out
    bad = tmp_path / "bad.toml"
    bad.write_text("""
[[employees]]
name = "carol"
endpoints = ["user/1 2"]

[[groups]]
name = "support"
members = ["carol"]
max_lines = "two"

[[rules]]
name = "broken"
strategy = "group"
target = "support"
intervals = [0, 1, 2, 3, 4, 5]

[[rules]]
name = "hint"
strategy = "last_attempted"
hint_kind = "text"
hint_text = "{{ oops }"
colour = "red"
""", encoding="utf-8")
    r = seeded("import", str(bad), "--replace")
    assert r.code == 1
    assert "nothing was changed" in r.err
    for place in ("employees[0].endpoints[0]", "groups[0].max_lines", "rules[0].intervals", "rules[1].hint_text",
                  "rules[1].colour"):
        assert f"bad.toml: {place}:" in r.err, place
    assert seeded("export").out == before


def test_import_cross_object_problems(seeded: Run, tmp_path: Path) -> None:
    f = tmp_path / "refs.toml"
    f.write_text('[[rules]]\nname = "x"\nstrategy = "group"\ntarget = "nobody"\ncallback_schedule = "never"\n'
                 '[[rules]]\nname = "x"\nstrategy = "last_attempted"\n', encoding="utf-8")
    r = seeded("import", str(f), "--replace")
    assert r.code == 1
    assert "rules[0].target: 'nobody' is invalid: an existing group" in r.err
    assert "rules[0].callback_schedule" in r.err and "rules[1].name" in r.err
    # merged with the database the references resolve ("sales", "office" exist) but the
    # duplicate name is still refused
    r = seeded("import", str(f))
    assert r.code == 1 and "must be unique" in r.err and "[rules[3] is 'x']" in r.err


def test_import_merge_and_replace(seeded: Run, sqlite_url: str, tmp_path: Path) -> None:
    queue = TaskQueue(sqlite_url)
    task = queue.create_task(customer_number="+79160000001", rule_name="night",
                             due_at=datetime(2026, 12, 1, 9, tzinfo=UTC))
    queue.close()
    f = tmp_path / "more.toml"
    f.write_text('[[employees]]\nname = "carol"\nendpoints = ["user/103"]\n\n'
                 '[[rules]]\nname = "carol-first"\nstrategy = "employee"\ntarget = "carol"\n\n'
                 '[[rules]]\nname = "day"\nstrategy = "group"\ntarget = "sales"\nintervals = [30]\n', encoding="utf-8")
    r = seeded("import", str(f), "--replace")  # alone, the file names a group it does not define
    assert r.code == 1 and "rules[1].target: 'sales' is invalid: an existing group" in r.err
    r = seeded("import", str(f))
    assert r.code == 0, r.err
    rules = json.loads(seeded("rules", "list", "--json").out)
    assert [x["name"] for x in rules] == ["day", "night", "carol-first"]  # kept order, new last
    assert rules[0]["intervals"] == [30] and rules[0]["place"] == "any"
    assert seeded("employees", "show", "alice").code == 0  # kept
    # --replace: the file is the whole truth; "night" goes and its task is cancelled (R15)
    f.write_text(f.read_text(encoding="utf-8").replace('target = "sales"', 'target = "carol"').replace(
        'strategy = "group"', 'strategy = "employee"'), encoding="utf-8")
    r = seeded("import", str(f), "--replace")
    assert r.code == 0 and "1 task(s) cancelled" in r.out
    assert [x["name"] for x in json.loads(seeded("rules", "list", "--json").out)] == ["carol-first", "day"]
    assert seeded("employees", "show", "alice").code == 3
    assert json.loads(seeded("tasks", "show", str(task), "--json").out)["end_reason"] == "cancelled_rule_deleted"


def test_import_file_errors(run: Run, tmp_path: Path) -> None:
    r = run("import", str(tmp_path / "missing.toml"))
    assert r.code == 3 and "missing.toml" in r.err and "Traceback" not in r.err
    f = tmp_path / "x.toml"
    f.write_text("rules = [", encoding="utf-8")
    r = run("import", str(f))
    assert r.code == 1 and "(toml)" in r.err
    f.write_bytes(b"\xff\xfe not utf-8")
    r = run("import", str(f))
    assert r.code == 1 and "UTF-8" in r.err
    r = run("export", "-o", str(tmp_path / "no" / "such" / "dir.toml"))
    assert r.code == 3 and "dir.toml" in r.err


def test_parse_catalog_unknown_sections_and_format() -> None:
    with pytest.raises(CatalogError) as info:
        parse_catalog('format = 2\n[[rule]]\nname = "x"\n')
    text = str(info.value)
    assert "format: 2" in text and "rule:" in text and "did you mean 'rules'" in text


def test_empty_catalog_round_trips() -> None:
    from fsworker.core.catalog import Catalog

    text = catalog_to_toml(Catalog())
    assert catalog_to_toml(parse_catalog(text).catalog) == text


def test_import_dry_run_shows_the_changes_and_the_cancelled_tasks_and_writes_nothing(
        seeded: Run, sqlite_url: str, tmp_path: Path) -> None:
    queue = TaskQueue(sqlite_url)
    night = queue.create_task(customer_number="+79160000001", rule_name="night",
                              due_at=datetime(2026, 12, 1, 9, tzinfo=UTC))
    spammer = queue.create_task(customer_number="+79160000666", rule_name="day",
                                due_at=datetime(2026, 12, 1, 9, tzinfo=UTC))
    queue.close()
    f = tmp_path / "next.toml"
    assert seeded("export", "-o", str(f)).code == 0
    text = f.read_text(encoding="utf-8")
    # drop "night", change "day", add an employee and blacklist the number of an open task
    start = text.index('[[rules]]\nname = "night"')
    text = text[:start] + text[text.index("\n\n", start) + 2:] if "\n\n" in text[start:] else text[:start]
    text = text.replace("intervals = [0, 300, 3600]", "intervals = [0, 600]")
    text += '\n[[employees]]\nname = "carol"\nendpoints = ["user/103"]\n'
    text += '\n[[blacklist]]\nnumber = "+79160000666"\nreason = "spam"\n'
    f.write_text(text, encoding="utf-8")
    db = Path(sqlite_url[len("sqlite:///"):])
    before = db.read_bytes()

    r = seeded("import", str(f), "--replace", "--dry-run")
    assert r.code == 0, r.err
    assert db.read_bytes() == before  # nothing written, not even a timestamp
    lines = r.out.splitlines()
    assert lines[0] == f"dry run of importing {f}: nothing was changed"
    assert "  + employee 'carol'" in lines
    assert "  + blacklist '+79160000666'" in lines
    assert "  ~ rule 'day'" in lines and "  - rule 'night'" in lines
    assert not [x for x in lines if "'alice'" in x or "'sales'" in x]  # unchanged entries are not listed
    assert "2 open task(s) would be cancelled:" in lines
    assert f"  task {night} for +79160000001 (rule 'night', pending)" in lines
    assert f"  task {spammer} for +79160000666 (rule 'day', pending)" in lines

    # the same file really imported cancels exactly those
    r = seeded("import", str(f), "--replace")
    assert r.code == 0 and "2 task(s) cancelled" in r.out, r.out
    r = seeded("import", str(f), "--replace", "--dry-run")
    assert "  the configuration would stay as it is" in r.out and "0 open task(s) would be cancelled" in r.out
