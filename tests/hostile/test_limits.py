"""Issue 7, limits and references: every limit of the seed / DESIGN (R8 intervals, R9
minimum wait, R10 cap, group lines, names, numbers, endpoints, schedules, hints) and
every reference a rule, group or campaign can make, refused on both ways in:

(a) ``fsworker import FILE`` (merged with the database, and ``--replace``), and
(b) the CLI commands that create and edit rules, groups, employees, campaigns...

Each refusal exits 1 (README: "1 refused / bad input"), prints one message naming the
field, the bad value and the limit or the missing reference, and leaves the database
byte-for-byte unchanged (a full SQL dump before and after, not just the export).
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from fsworker.cli.main import main
from fsworker.config.toml_io import toml_value
from fsworker.core.model import MAX_CONCURRENCY, MAX_INTERVAL_S, MAX_INTERVALS, MAX_MIN_WAIT_S
from fsworker.core.names import MAX_NAME_LEN
from fsworker.core.strategies.base import MAX_STEP_ENDPOINTS
from fsworker.core.validation import MAX_GROUP_LINES
from tests.clirunner import Result, Run

SEED = (
    ("employees", "add", "alice", "--endpoint", "user/101"),
    ("employees", "add", "bob", "--endpoint", "user/102", "--endpoint", "sofia/gateway/gw/79160000002"),
    ("groups", "add", "sales", "--member", "alice", "--member", "bob", "--max-lines", "2"),
    ("numbers", "add", "+74950000000", "--description", "main line"),
    ("sites", "add", "shop.example.com"),
    ("scenarios", "add", "ivr", "--extension", "5000", "--context", "public"),
    ("campaigns", "add", "promo", "--target-kind", "group", "--target", "sales"),
    ("schedules", "add", "office", "--tz", "Europe/Moscow", "--weekly", "mon-fri 09:00-18:00",
     "--exception", "2026-12-31 closed"),
    ("rules", "add", "day", "--place", "number", "--place-value", "+74950000000", "--strategy", "group",
     "--target", "sales", "--callback-schedule", "office", "--intervals", "0,300,3600", "--min-wait", "5"),
    ("rules", "add", "night", "--strategy", "last_attempted", "--intervals", "0,600"),
    ("blacklist", "add", "+79990000000", "--reason", "spam"),
)


@pytest.fixture(scope="module")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "seed.sqlite3"
    for argv in (("db", "upgrade"), *SEED):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--db", f"sqlite:///{path}", *argv])
        assert code == 0, (argv, err.getvalue())
    return path


@pytest.fixture()
def db(seeded_file: Path, tmp_path: Path) -> Path:
    """This test's own copy of the seeded database."""
    path = tmp_path / "db.sqlite3"
    shutil.copyfile(seeded_file, path)
    return path


def dump(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def refused(run: Run, db: Path, *argv: str) -> Result:
    """Run a command that must be refused: exit 1, no traceback, database unchanged."""
    before = dump(db)
    r = run(*argv, db=f"sqlite:///{db}")
    assert r.code == 1, (argv, r)
    assert "Traceback" not in r.err and r.err.startswith("fsworker: "), r.err
    assert dump(db) == before, f"{argv}: the database changed although the command was refused"
    return r


# -- the table ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    id: str
    section: str  #: TOML array: rules, groups, employees...
    entry: dict  #: one TOML table (a complete new entity)
    key: str  #: the key the import message names: rules[N].<key>
    value: str  #: the bad value as the messages show it ('text', 0, 1, 2, "empty", "not set")
    limit: str  #: text of the limit / the missing reference
    cli: tuple[str, ...] | None = None  #: the same through the CLI (None: it cannot say it)
    cli_field: str | None = None  #: the field the CLI names; default <singular>.<key>
    cli_value: str | None = None
    cli_limit: str | None = None
    merge_ok: bool = False  #: merged, an entity of the same name is replaced: only --replace refuses


def _rule(**kw: object) -> dict:
    return {"name": "new", "strategy": "group", "target": "sales", **kw}


def _rule_cli(*extra: str, strategy: str = "group", target: str | None = "sales") -> tuple[str, ...]:
    return ("rules", "add", "new", "--strategy", strategy, *(("--target", target) if target else ()), *extra)


SIX = [0, 60, 60, 60, 60, 60]
LONG = "r" * (MAX_NAME_LEN + 1)

CASES = [
    # R8: 1..5 retry intervals, each 0..MAX_INTERVAL_S whole seconds
    Case("intervals-none", "rules", _rule(intervals=[]), "intervals", "empty", f"1 to {MAX_INTERVALS} retry intervals",
         _rule_cli("--intervals", ""), cli_value="empty", cli_limit="comma-separated whole seconds"),
    Case("intervals-six", "rules", _rule(intervals=SIX), "intervals", "0, 60, 60, 60, 60, 60",
         f"1 to {MAX_INTERVALS} retry intervals", _rule_cli("--intervals", "0,60,60,60,60,60")),
    Case("interval-negative", "rules", _rule(intervals=[0, -1]), "intervals[1]", "-1", f"0..{MAX_INTERVAL_S}",
         _rule_cli("--intervals", "0,-1")),
    Case("interval-too-long", "rules", _rule(intervals=[MAX_INTERVAL_S + 1]), "intervals[0]",
         str(MAX_INTERVAL_S + 1), f"0..{MAX_INTERVAL_S}", _rule_cli("--intervals", str(MAX_INTERVAL_S + 1))),
    Case("interval-fraction", "rules", _rule(intervals=[0, 1.5]), "intervals", "0, 1.5", "a list of integers",
         _rule_cli("--intervals", "0,1.5"), cli_field="rule.intervals[1]", cli_value="'1.5'",
         cli_limit="a whole number"),
    # R9: minimum wait 0..60 s, and not for transfer rules
    Case("min-wait-61", "rules", _rule(min_wait_s=MAX_MIN_WAIT_S + 1), "min_wait_s", "61", f"0..{MAX_MIN_WAIT_S}",
         _rule_cli("--min-wait", "61")),
    Case("min-wait-negative", "rules", _rule(min_wait_s=-1), "min_wait_s", "-1", f"0..{MAX_MIN_WAIT_S}",
         _rule_cli("--min-wait", "-1")),
    Case("min-wait-not-a-number", "rules", _rule(min_wait_s="5"), "min_wait_s", "'5'", "an integer",
         _rule_cli("--min-wait", "five"), cli_value="'five'", cli_limit="a whole number"),
    Case("min-wait-transfer", "rules", _rule(place="transfer", strategy="last_waiting_phase", target=None,
                                             min_wait_s=5),
         "min_wait_s", "5", "not applicable to loss place 'transfer'",
         _rule_cli("--place", "transfer", "--min-wait", "5", strategy="last_waiting_phase", target=None)),
    # R10: 1..5 simultaneous callbacks per rule
    Case("cap-zero", "rules", _rule(max_concurrent=0), "max_concurrent", "0", f"1..{MAX_CONCURRENCY}",
         _rule_cli("--max-concurrent", "0")),
    Case("cap-six", "rules", _rule(max_concurrent=MAX_CONCURRENCY + 1), "max_concurrent", "6",
         f"1..{MAX_CONCURRENCY}", _rule_cli("--max-concurrent", "6")),
    # names
    Case("rule-name-empty", "rules", _rule(name=""), "name", "empty", "non-empty",
         ("rules", "add", "", "--strategy", "last_attempted")),
    Case("rule-name-long", "rules", _rule(name=LONG), "name", LONG, f"at most {MAX_NAME_LEN}",
         ("rules", "add", LONG, "--strategy", "last_attempted")),
    Case("rule-name-control", "rules", _rule(name="a\nb"), "name", "'a\\nb'", "no control characters",
         ("rules", "add", "a\nb", "--strategy", "last_attempted")),
    Case("rule-name-taken", "rules", _rule(name="night"), "name", "'night'", "unique",
         ("rules", "add", "night", "--strategy", "last_attempted"), merge_ok=True),
    # place and place value
    Case("place-unknown", "rules", _rule(place="lobby"), "place", "'lobby'", "one of",
         _rule_cli("--place", "lobby")),
    Case("place-value-missing", "rules", _rule(place="site"), "place_value", "not set", "required for place 'site'",
         _rule_cli("--place", "site")),
    Case("place-value-for-any", "rules", _rule(place_value="shop.example.com"), "place_value",
         "'shop.example.com'", "must be empty for place 'any'", _rule_cli("--place-value", "shop.example.com")),
    Case("place-value-bad-number", "rules", _rule(place="number", place_value="8-800-555"), "place_value",
         "'8-800-555'", "digits", _rule_cli("--place", "number", "--place-value", "8-800-555")),
    Case("place-value-hostile-site", "rules", _rule(place="site", place_value="a.com,b.com"), "place_value",
         "'a.com,b.com'", "no spaces", _rule_cli("--place", "site", "--place-value", "a.com,b.com")),
    # strategy and target
    Case("strategy-unknown", "rules", _rule(strategy="robocall"), "strategy", "'robocall'", "one of",
         _rule_cli(strategy="robocall")),
    Case("target-missing", "rules", _rule(target=None), "target", "not set", "a group is required",
         _rule_cli(target=None)),
    Case("target-not-wanted", "rules", _rule(strategy="last_attempted"), "target", "'sales'", "must be empty",
         _rule_cli(strategy="last_attempted")),
    Case("target-bad-number", "rules", _rule(strategy="number", target="+7 916 123"), "target", "'+7 916 123'",
         "digits", _rule_cli(strategy="number", target="+7 916 123")),
    Case("target-long-number", "rules", _rule(strategy="number", target="7" * 21), "target", "7" * 21,
         "1..20 digits", _rule_cli(strategy="number", target="7" * 21)),
    # hints (R6): kind, text, file, language, templates
    Case("hint-kind", "rules", _rule(hint_kind="video", hint_text="x"), "hint_kind", "'video'", "one of"),
    Case("hint-text-missing", "rules", _rule(hint_kind="text"), "hint_text", "empty", "required for a text hint",
         _rule_cli("--hint-text", " "), cli_field="rule.hint.text", cli_value="' '"),
    Case("hint-too-long", "rules", _rule(hint_kind="text", hint_text="x" * 2001), "hint_text", "xxx",
         "at most 2000", _rule_cli("--hint-text", "x" * 2001), cli_field="rule.hint.text"),
    Case("hint-file-outside", "rules", _rule(hint_kind="file", hint_text="/etc/passwd"), "hint_text",
         "'/etc/passwd'", "under one of the [prompts] sound_dirs", _rule_cli("--hint-file", "/etc/passwd"),
         cli_field="rule.hint.file"),
    Case("hint-file-dotdot", "rules", _rule(hint_kind="file", hint_text="/var/lib/fsworker/hints/../../x.wav"),
         "hint_text", "/../", "normalized", _rule_cli("--hint-file", "/var/lib/fsworker/hints/../../x.wav"),
         cli_field="rule.hint.file"),
    Case("hint-file-space", "rules", _rule(hint_kind="file", hint_text="/var/lib/fsworker/hints/a b.wav"),
         "hint_text", "a b.wav", "no spaces", _rule_cli("--hint-file", "/var/lib/fsworker/hints/a b.wav"),
         cli_field="rule.hint.file"),
    Case("hint-language", "rules", _rule(hint_language="xx"), "hint_language", "'xx'",
         "a language with a default hint template", _rule_cli("--hint-language", "xx"),
         cli_field="rule.hint.language"),
    Case("hint-jinja-syntax", "rules", _rule(hint_kind="text", hint_text="Сайт {{ site "), "hint_text",
         "{{ site ", "template error: line 1", _rule_cli("--hint-text", "Сайт {{ site "),
         cli_field="rule.hint.text"),
    Case("hint-jinja-block", "rules", _rule(hint_kind="text", hint_text="{% if site %}x\n"), "hint_text",
         "{% if site %}", "template error", _rule_cli("--hint-text", "{% if site %}x\n"),
         cli_field="rule.hint.text"),
    Case("hint-unknown-fact", "rules", _rule(hint_kind="text", hint_text="{{ sitee }}"), "hint_text", "sitee",
         "'sitee' is undefined", _rule_cli("--hint-text", "{{ sitee }}"), cli_field="rule.hint.text"),
    Case("hint-unknown-filter", "rules", _rule(hint_kind="text", hint_text="{{ site|shell }}"), "hint_text",
         "shell", "template error", _rule_cli("--hint-text", "{{ site|shell }}"), cli_field="rule.hint.text"),
    Case("hint-sandbox", "rules", _rule(hint_kind="text", hint_text="{{ ''.__class__.__mro__ }}"), "hint_text",
         "__class__", "template error", _rule_cli("--hint-text", "{{ ''.__class__.__mro__ }}"),
         cli_field="rule.hint.text"),
    Case("hint-renders-nothing", "rules", _rule(hint_kind="text", hint_text="{{ '|${}' }}"), "hint_text",
         "|${}", "nothing speakable", _rule_cli("--hint-text", "{{ '|${}' }}"), cli_field="rule.hint.text"),
    Case("enabled-not-bool", "rules", _rule(enabled="yes"), "enabled", "'yes'", "true or false"),
    Case("rule-unknown-key", "rules", _rule(intervalz=[0]), "intervalz", "'intervalz'", "did you mean 'intervals'"),
    # references of a rule
    Case("ref-group", "rules", _rule(target="support"), "target", "'support'", "group",
         _rule_cli(target="support")),
    Case("ref-employee", "rules", _rule(strategy="employee", target="carol"), "target", "'carol'", "employee",
         _rule_cli(strategy="employee", target="carol")),
    Case("ref-scenario", "rules", _rule(strategy="scenario", target="ivr2"), "target", "'ivr2'", "scenario",
         _rule_cli(strategy="scenario", target="ivr2")),
    Case("ref-virtual-number", "rules", _rule(place="number", place_value="+74959999999"), "place_value",
         "'+74959999999'", "virtual_number", _rule_cli("--place", "number", "--place-value", "+74959999999"),
         cli_limit="virtual number"),
    Case("ref-site", "rules", _rule(place="site", place_value="other.example.com"), "place_value",
         "'other.example.com'", "site", _rule_cli("--place", "site", "--place-value", "other.example.com")),
    Case("ref-place-scenario", "rules", _rule(place="scenario", place_value="ivr2"), "place_value", "'ivr2'",
         "scenario", _rule_cli("--place", "scenario", "--place-value", "ivr2")),
    Case("ref-callback-schedule", "rules", _rule(callback_schedule="weekends"), "callback_schedule",
         "'weekends'", "schedule", _rule_cli("--callback-schedule", "weekends")),
    Case("ref-applies-schedule", "rules", _rule(applies_schedule="weekends"), "applies_schedule", "'weekends'",
         "schedule", _rule_cli("--applies-schedule", "weekends")),
    # groups: lines 1..MAX_GROUP_LINES (R5e "up to the max group-dial lines"), members
    Case("group-lines-zero", "groups", {"name": "g2", "members": ["alice"], "max_lines": 0}, "max_lines", "0",
         ">= 1", ("groups", "add", "g2", "--member", "alice", "--max-lines", "0")),
    Case("group-lines-too-many", "groups", {"name": "g2", "members": ["alice"], "max_lines": MAX_GROUP_LINES + 1},
         "max_lines", str(MAX_GROUP_LINES + 1), f"1..{MAX_GROUP_LINES}",
         ("groups", "add", "g2", "--member", "alice", "--max-lines", str(MAX_GROUP_LINES + 1))),
    Case("group-lines-overflow", "groups", {"name": "g2", "members": ["alice"], "max_lines": 2**40},
         "max_lines", str(2**40), f"1..{MAX_GROUP_LINES}",
         ("groups", "add", "g2", "--member", "alice", "--max-lines", str(2**40))),
    Case("group-no-members", "groups", {"name": "g2", "members": []}, "members", "empty", "at least one employee"),
    Case("group-member-twice", "groups", {"name": "g2", "members": ["alice", "alice"]}, "members", "alice",
         "appears twice", ("groups", "add", "g2", "--member", "alice", "--member", "alice")),
    Case("ref-group-member", "groups", {"name": "g2", "members": ["alice", "carol"]}, "members[1]", "'carol'",
         "employee", ("groups", "add", "g2", "--member", "alice", "--member", "carol"),
         cli_field="group.members[1]"),
    Case("group-name-long", "groups", {"name": LONG, "members": ["alice"]}, "name", LONG,
         f"at most {MAX_NAME_LEN}", ("groups", "add", LONG, "--member", "alice")),
    # employees and endpoints
    Case("employee-no-endpoint", "employees", {"name": "carol", "endpoints": []}, "endpoints", "empty",
         "at least one endpoint"),
    Case("employee-bad-endpoint", "employees", {"name": "carol", "endpoints": ["user/103,user/104"]},
         "endpoints[0]", "'user/103,user/104'", "no spaces, commas",
         ("employees", "add", "carol", "--endpoint", "user/103,user/104")),
    Case("employee-endpoint-twice", "employees", {"name": "carol", "endpoints": ["user/103", "user/103"]},
         "endpoints", "user/103", "distinct",
         ("employees", "add", "carol", "--endpoint", "user/103", "--endpoint", "user/103")),
    Case("employee-endpoint-taken", "employees", {"name": "carol", "endpoints": ["user/101"]}, "endpoints[0]",
         "'user/101'", "already an endpoint of employee 'alice'",
         ("employees", "add", "carol", "--endpoint", "user/101")),
    Case("employee-name-empty", "employees", {"name": " ", "endpoints": ["user/103"]}, "name", "' '", "non-empty",
         ("employees", "add", " ", "--endpoint", "user/103")),
    Case("employee-name-taken", "employees", {"name": "bob", "endpoints": ["user/103"]}, "name", "'bob'",
         "unique", ("employees", "add", "bob", "--endpoint", "user/103"), merge_ok=True),
    # campaigns (their target is a reference too)
    Case("campaign-kind", "campaigns", {"name": "p2", "target_kind": "fax", "target": "sales"}, "target_kind",
         "'fax'", "one of", ("campaigns", "add", "p2", "--target-kind", "fax", "--target", "sales")),
    Case("campaign-name", "campaigns", {"name": "my promo", "target_kind": "group", "target": "sales"}, "name",
         "'my promo'", "no spaces", ("campaigns", "add", "my promo", "--target-kind", "group", "--target", "sales")),
    Case("campaign-bad-number", "campaigns", {"name": "p2", "target_kind": "number", "target": "8(800)"},
         "target", "'8(800)'", "digits", ("campaigns", "add", "p2", "--target-kind", "number", "--target", "8(800)")),
    Case("ref-campaign-group", "campaigns", {"name": "p2", "target_kind": "group", "target": "support"}, "target",
         "'support'", "group", ("campaigns", "add", "p2", "--target-kind", "group", "--target", "support")),
    Case("ref-campaign-employee", "campaigns", {"name": "p2", "target_kind": "employee", "target": "carol"},
         "target", "'carol'", "employee",
         ("campaigns", "add", "p2", "--target-kind", "employee", "--target", "carol")),
    Case("ref-campaign-scenario", "campaigns", {"name": "p2", "target_kind": "scenario", "target": "ivr2"},
         "target", "'ivr2'", "scenario",
         ("campaigns", "add", "p2", "--target-kind", "scenario", "--target", "ivr2")),
    # scenarios, numbers, sites, blacklist
    Case("scenario-extension", "scenarios", {"name": "ivr2", "extension": "50 00"}, "extension", "'50 00'",
         "no spaces", ("scenarios", "add", "ivr2", "--extension", "50 00")),
    Case("scenario-context", "scenarios", {"name": "ivr2", "extension": "5000", "context": "a|b"}, "context",
         "'a|b'", "no spaces", ("scenarios", "add", "ivr2", "--extension", "5000", "--context", "a|b")),
    Case("number-format", "virtual_numbers", {"number": "8-800-555-35-35"}, "number", "'8-800-555-35-35'", "digits",
         ("numbers", "add", "8-800-555-35-35")),
    Case("number-too-long", "virtual_numbers", {"number": "+" + "7" * 21}, "number", "7" * 21, "1..20 digits",
         ("numbers", "add", "+" + "7" * 21)),
    Case("site-name", "sites", {"name": "shop example.com"}, "name", "'shop example.com'", "no spaces",
         ("sites", "add", "shop example.com")),
    Case("blacklist-number", "blacklist", {"number": "anonymous"}, "number", "'anonymous'", "digits",
         ("blacklist", "add", "anonymous")),
    # free text: TOML's \u0000 puts a NUL anywhere (PostgreSQL cannot store it); the
    # texts shown in lists take no terminal control sequences either
    Case("description-nul", "virtual_numbers", {"number": "+74950000009", "description": "a\x00b"}, "description",
         "'a\\x00b'", "no NUL characters"),
    Case("hint-nul", "rules", _rule(hint_kind="text", hint_text="{{ site }}\x00"), "hint_text", "\\x00",
         "no NUL characters"),
    Case("reason-nul", "blacklist", {"number": "+79990000001", "reason": "\x00"}, "reason", "\\x00",
         "no NUL characters"),
    Case("description-escape", "virtual_numbers", {"number": "+74950000009", "description": "a\x1b[2J"},
         "description", "\\x1b[2J", "no control characters",
         ("numbers", "add", "+74950000009", "--description", "a\x1b[2J")),
    Case("reason-escape", "blacklist", {"number": "+79990000001", "reason": "spam\r\x1b[1A"}, "reason",
         "\\x1b[1A", "no control characters", ("blacklist", "add", "+79990000001", "--reason", "spam\r\x1b[1A")),
    # schedules
    Case("schedule-tz", "schedules", {"name": "s2", "timezone": "Mars/Olympus", "weekly": "mon 09:00-18:00"},
         "timezone", "'Mars/Olympus'", "IANA time zone",
         ("schedules", "add", "s2", "--tz", "Mars/Olympus", "--weekly", "mon 09:00-18:00")),
    Case("schedule-hour", "schedules", {"name": "s2", "timezone": "UTC", "weekly": "mon 25:00-26:00"}, "weekly",
         "'25:00'", "00:00..23:59", ("schedules", "add", "s2", "--tz", "UTC", "--weekly", "mon 25:00-26:00")),
    Case("schedule-day", "schedules", {"name": "s2", "timezone": "UTC", "weekly": "funday 09:00-18:00"}, "weekly",
         "'funday'", "a day mon..sun", ("schedules", "add", "s2", "--tz", "UTC", "--weekly", "funday 09:00-18:00")),
    Case("schedule-empty-window", "schedules", {"name": "s2", "timezone": "UTC", "weekly": "mon 09:00-09:00"},
         "weekly", "09:00", "must differ", ("schedules", "add", "s2", "--tz", "UTC", "--weekly", "mon 09:00-09:00")),
    Case("schedule-date", "schedules", {"name": "s2", "timezone": "UTC", "exceptions": ["2026-13-01 closed"]},
         "exceptions[0]", "'2026-13-01'", "a real calendar date",
         ("schedules", "add", "s2", "--tz", "UTC", "--exception", "2026-13-01 closed"),
         cli_field="schedule.exception[0]"),
    Case("schedule-date-twice", "schedules",
         {"name": "s2", "timezone": "UTC", "exceptions": ["2026-12-31 closed", "2026-12-31 10:00-12:00"]},
         "exceptions[1]", "2026-12-31", "each date at most once",
         ("schedules", "add", "s2", "--tz", "UTC", "--exception", "2026-12-31 closed",
          "--exception", "2026-12-31 10:00-12:00"), cli_field="schedule.exception[1]"),
]

_SINGULAR = {"rules": "rule", "groups": "group", "employees": "employee", "campaigns": "campaign",
             "scenarios": "scenario", "virtual_numbers": "virtual_number", "sites": "site",
             "schedules": "schedule", "blacklist": "blacklist"}


def _value(v: object) -> str:
    if isinstance(v, float):
        return repr(v)  # the export writer has no floats: nothing valid is one
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return toml_value(v)


def _toml(section: str, entry: dict) -> str:
    lines = [f"[[{section}]]"]
    lines += [f"{k} = {_value(v)}" for k, v in entry.items() if v is not None]
    return "\n".join(lines) + "\n"


def _assert_names(message: str, field_re: str, value: str, limit: str) -> None:
    m = re.search(rf"{field_re}: (.* is invalid|empty|not set): (.*)", message)
    assert m, f"no '{field_re}: <value> is invalid | empty | not set: <limit>' in {message!r}"
    assert value in m.group(1), f"value {value!r} not named in {m.group(0)!r}"
    assert limit in m.group(2), f"limit {limit!r} not named in {m.group(0)!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_import_refuses(run: Run, db: Path, tmp_path: Path, case: Case) -> None:
    """Merged into the database and as the whole configuration (--replace): refused,
    every problem named with its place in the file, nothing changed."""
    fragment = _toml(case.section, case.entry)
    path = tmp_path / "bad.toml"
    field_re = rf"{case.section}\[\d+\]\.{re.escape(case.key)}"
    path.write_text(fragment, encoding="utf-8")
    if not case.merge_ok:
        r = refused(run, db, "import", str(path))
        assert "nothing was changed" in r.err
        _assert_names(r.err, field_re, case.value, case.limit)
    # the whole configuration: today's export plus the bad entry
    export = run("export", db=f"sqlite:///{db}").out
    path.write_text(export + "\n" + fragment, encoding="utf-8")
    r = refused(run, db, "import", str(path), "--replace")
    _assert_names(r.err, field_re, case.value, case.limit)


CLI_CASES = [c for c in CASES if c.cli is not None]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_cli_refuses(run: Run, db: Path, case: Case) -> None:
    r = refused(run, db, *case.cli)
    field = case.cli_field or f"{_SINGULAR[case.section]}.{case.key}"
    _assert_names(r.err, re.escape(field), case.cli_value or case.value, case.cli_limit or case.limit)


EDITS = [
    (("rules", "edit", "day", "--intervals", "0,60,60,60,60,60"), "rule.intervals", "1 to 5 retry intervals"),
    (("rules", "edit", "day", "--min-wait", "61"), "rule.min_wait_s", "0..60"),
    (("rules", "edit", "day", "--place", "transfer", "--min-wait", "5"), "rule.min_wait_s", "not applicable"),
    (("rules", "edit", "day", "--max-concurrent", "6"), "rule.max_concurrent", "1..5"),
    (("rules", "edit", "day", "--max-concurrent", "0"), "rule.max_concurrent", "1..5"),
    (("rules", "edit", "day", "--target", "support"), "rule.target", "group"),
    (("rules", "edit", "day", "--callback-schedule", "weekends"), "rule.callback_schedule", "schedule"),
    (("rules", "edit", "day", "--hint-text", "{{ site "), "rule.hint.text", "template error"),
    (("rules", "edit", "day", "--rename", ""), "rule.name", "non-empty"),
    (("rules", "edit", "day", "--rename", "night"), "rule.name", "unique"),
    (("groups", "edit", "sales", "--max-lines", "0"), "group.max_lines", ">= 1"),
    (("groups", "edit", "sales", "--max-lines", str(MAX_GROUP_LINES + 1)), "group.max_lines", f"..{MAX_GROUP_LINES}"),
    (("groups", "edit", "sales", "--member", "carol"), "group.members[0]", "employee"),
    (("employees", "edit", "bob", "--endpoint", "user/101"), "employee.endpoints[0]", "already an endpoint"),
    (("employees", "edit", "bob", "--endpoint", "user/102|user/666"), "employee.endpoints[0]", "no spaces"),
    (("campaigns", "edit", "promo", "--target", "support"), "campaign.target", "group"),
    (("campaigns", "edit", "promo", "--target-kind", "number"), "campaign.target", "digits"),
    (("scenarios", "edit", "ivr", "--context", "a b"), "scenario.context", "no spaces"),
    (("schedules", "edit", "office", "--tz", "Europe/Nowhere"), "schedule.timezone", "IANA"),
    (("rules", "add", "new", "--strategy", "last_attempted", "--position", "-1"), "rule.position", ">= 0"),
    (("rules", "move", "day", "--to", "-1"), "position", ">= 0"),
    (("rules", "move", "day", "--to", "first"), "position", "a whole number"),
    (("numbers", "edit", "+74950000000", "--description", "x\x1b]0;pwned\x07"), "virtual_number.description",
     "no control characters"),
]


@pytest.mark.parametrize("argv,field,limit", EDITS, ids=[" ".join(a[:2]) + f" {a[-2]} {a[-1][:8]!r}" for a, _, _ in EDITS])
def test_cli_edit_refuses(run: Run, db: Path, argv: tuple[str, ...], field: str, limit: str) -> None:
    r = refused(run, db, *argv)
    assert re.search(rf"{re.escape(field)}: (.+ is invalid|empty|not set): .*{re.escape(limit)}", r.err), r.err


def test_group_lines_match_the_widest_dial_step() -> None:
    assert MAX_GROUP_LINES == MAX_STEP_ENDPOINTS


def test_malformed_toml_is_refused_with_its_line(run: Run, db: Path, tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[[rules]]\nname = "x"\nstrategy = "group\ntarget = "sales"\n', encoding="utf-8")
    r = refused(run, db, "import", str(path))
    assert "(toml)" in r.err and "valid TOML" in r.err and "line 3" in r.err, r.err
    path.write_text("[[rules]\n", encoding="utf-8")
    assert "(toml)" in refused(run, db, "import", str(path), "--replace").err
    path.write_bytes(b'[[sites]]\nname = "\xff"\n')
    assert "UTF-8" in refused(run, db, "import", str(path)).err


def test_every_problem_of_a_file_is_reported_at_once(run: Run, db: Path, tmp_path: Path) -> None:
    """A file with several bad entries lists each of them; nothing is half-imported
    (the good entries before and after the bad ones are not stored either)."""
    cases = [c for c in CASES if c.section == "rules" and c.id.startswith(("interval", "cap", "min-wait-61"))]
    text = _toml("sites", {"name": "good.example.com"})
    for i, c in enumerate(cases):
        text += _toml("rules", {**c.entry, "name": f"bad-{i}"})
    text += _toml("rules", _rule(name="good"))
    path = tmp_path / "many.toml"
    path.write_text(text, encoding="utf-8")
    r = refused(run, db, "import", str(path))
    assert f"{len(cases)} problem(s)" in r.err, r.err
    for i, c in enumerate(cases):
        _assert_names(r.err, rf"rules\[{i}\]\.{re.escape(c.key)}", c.value, c.limit)


def test_check_refuses_a_catalog_file_beyond_the_limits(run: Run, db: Path, tmp_path: Path) -> None:
    """``fsworker check --catalog FILE`` names the same problems without touching anything."""
    path = tmp_path / "cat.toml"
    path.write_text(_toml("rules", _rule(intervals=SIX, max_concurrent=6)), encoding="utf-8")
    before = dump(db)
    r = run("check", "--offline", "--catalog", str(path), db=f"sqlite:///{db}")
    assert r.code == 1, r
    assert "rules[0].intervals" in r.err + r.out
    assert dump(db) == before


def test_import_on_postgresql_changes_nothing(run: Run, pg_url: str, tmp_path: Path) -> None:
    """The same refusal on PostgreSQL, where a merged import that is only invalid as a
    whole (a new rule naming a group the file also misdefines) must not leave the
    valid parts written."""
    import psycopg2

    name = "hostile_limits"
    admin = pg_url.rsplit("/", 1)[0] + "/test"
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    url = pg_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        assert run("db", "upgrade", db=url).code == 0
        for argv in SEED:
            assert run(*argv, db=url).code == 0, argv
        before = run("export", db=url).out
        path = tmp_path / "pg.toml"
        path.write_text(_toml("employees", {"name": "carol", "endpoints": ["user/103"]})
                        + _toml("groups", {"name": "big", "members": ["carol"], "max_lines": 2**40})
                        + _toml("rules", _rule(name="new", target="big", max_concurrent=6)), encoding="utf-8")
        r = run("import", str(path), db=url)
        assert r.code == 1 and "rules[0].max_concurrent" in r.err, r.err
        path.write_text(_toml("employees", {"name": "carol", "endpoints": ["user/103"]})
                        + _toml("groups", {"name": "big", "members": ["carol"], "max_lines": 2**40}), encoding="utf-8")
        r = run("import", str(path), db=url)
        assert r.code == 1 and "groups[1].max_lines" in r.err and "Traceback" not in r.err, r.err
        path.write_text(_toml("virtual_numbers", {"number": "+74950000009", "description": "a\x00b"})
                        + _toml("rules", _rule(name="nul", hint_kind="text", hint_text="{{ site }}\x00")),
                        encoding="utf-8")
        r = run("import", str(path), db=url)
        assert r.code == 1 and "virtual_numbers[0].description" in r.err and "rules[0].hint_text" in r.err, r.err
        assert "Traceback" not in r.err
        r = run("groups", "add", "big", "--member", "alice", "--max-lines", str(2**31), db=url)
        assert r.code == 1 and "group.max_lines" in r.err, r.err
        assert run("export", db=url).out == before
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()
