"""The CLI as an operator runs it, for tests of every folder: ``run("rules", "list")``
goes through ``fsworker.cli.main.main`` and returns its exit code and output."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest


@dataclass(frozen=True, kw_only=True)
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


def cli_runner(capsys: pytest.CaptureFixture[str], default_db: str | None) -> Run:
    """A runner against ``default_db`` unless a call passes ``db=`` (None: no --db)."""

    def run(*argv: str, db: str | None = default_db) -> Result:
        from fsworker.cli.main import main  # the whole service: imported by CLI tests only

        capsys.readouterr()
        try:
            code = main((["--db", db] if db else []) + list(argv))
        except SystemExit as exc:  # argparse usage errors and --help
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code=code, out=captured.out, err=captured.err)

    return run
