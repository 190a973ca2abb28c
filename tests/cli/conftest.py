"""CLI tests: every command through the real entry point, ``fsworker.cli.main.main``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from fsworker.cli.main import main


@dataclass
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture()
def run(capsys: pytest.CaptureFixture[str], migrated_sqlite_url: str) -> Run:
    """``run("rules", "list")`` -> Result, against this test's own SQLite database."""

    def _run(*argv: str, db: str | None = migrated_sqlite_url) -> Result:
        capsys.readouterr()
        try:
            code = main((["--db", db] if db else []) + list(argv))
        except SystemExit as exc:  # argparse usage errors and --help
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code=code, out=captured.out, err=captured.err)

    return _run


@pytest.fixture()
def seeded(run: Run) -> Run:
    """A database with people, a number, schedules and two rules (day, night)."""
    for argv in (
        ("employees", "add", "alice", "--endpoint", "user/101"),
        ("employees", "add", "bob", "--endpoint", "user/102", "--endpoint", "sofia/gateway/gw/79160000002"),
        ("groups", "add", "sales", "--member", "alice", "--member", "bob", "--max-lines", "2"),
        ("numbers", "add", "+74950000000", "--description", "main line"),
        ("schedules", "add", "office", "--tz", "Europe/Moscow", "--weekly", "mon-fri 09:00-18:00; sat 10:00-14:00",
         "--exception", "2026-12-31 closed"),
        ("schedules", "add", "after-hours", "--tz", "Europe/Moscow",
         "--weekly", "mon-fri 00:00-09:00, 18:00-24:00; sat-sun 00:00-24:00"),
        ("rules", "add", "day", "--place", "number", "--place-value", "+74950000000", "--strategy", "group",
         "--target", "sales", "--callback-schedule", "office", "--intervals", "0,300,3600", "--min-wait", "5"),
        ("rules", "add", "night", "--strategy", "last_attempted", "--applies-schedule", "after-hours",
         "--callback-schedule", "office", "--intervals", "0,600"),
    ):
        r = run(*argv)
        assert r.code == 0, (argv, r.err)
    return run
