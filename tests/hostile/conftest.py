"""Fixtures of the hostile-input suite: the end-to-end database matrix (SQLite and
PostgreSQL, from tests/e2e), a Harness with enough workers for many callbacks at once,
and the CLI runner of tests/cli against a database of this test's own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from fsworker.cli.main import main
from tests.e2e.conftest import db_url  # noqa: F401 - re-exported fixture
from tests.e2e.harness import Harness


@pytest.fixture()
def harness(db_url: str) -> Iterator[Harness]:  # noqa: F811 - the fixture above
    h = Harness(db_url, workers=4)
    yield h
    h.close()


@dataclass
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture()
def run(capsys: pytest.CaptureFixture[str], migrated_sqlite_url: str) -> Run:
    """``run("rules", "list")`` -> Result, through ``fsworker.cli.main.main``, against
    this test's own SQLite database unless ``db=`` says otherwise."""

    def _run(*argv: str, db: str | None = migrated_sqlite_url) -> Result:
        capsys.readouterr()
        try:
            code = main((["--db", db] if db else []) + list(argv))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code=code, out=captured.out, err=captured.err)

    return _run
