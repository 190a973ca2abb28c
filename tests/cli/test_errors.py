"""Exit codes and messages scripts rely on; the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clirunner import Run

FSWORKER = Path(sys.executable).parent / "fsworker"

UNREACHABLE = "postgresql://fsw:s3cretpw@127.0.0.1:1/fsworker"


@pytest.mark.parametrize("argv", [("rules", "list"), ("switch", "status"), ("tasks", "list"), ("export",),
                                  ("employees", "list"), ("blacklist", "list")])
def test_unreachable_database_exits_4_with_the_url_password_masked(run: Run, argv: tuple[str, ...]) -> None:
    r = run(*argv, db=UNREACHABLE)
    assert r.code == 4, r.err
    assert "127.0.0.1:1/fsworker" in r.err and "***" in r.err
    assert "s3cretpw" not in r.err + r.out
    assert "Traceback" not in r.err


def test_check_with_unreachable_database_exits_4(run: Run) -> None:
    r = run("check", "--no-db", "--offline")
    assert r.code in (0, 1)
    r = run("check", db=UNREACHABLE)
    assert r.code == 4 and "s3cretpw" not in r.out + r.err and "unreachable" in r.out


def test_bad_database_url(run: Run) -> None:
    r = run("rules", "list", db="mysql://root:pw@x/db")
    assert r.code == 1 and "--db: " in r.err and "postgresql://" in r.err and ":pw@" not in r.err


def test_no_command_prints_help_and_exits_2(run: Run) -> None:
    r = run(db=None)
    assert r.code == 2 and "usage: fsworker" in r.out


def test_every_command_has_help(run: Run) -> None:
    for argv in (("check",), ("rules",), ("employees",), ("groups",), ("campaigns",), ("scenarios",), ("numbers",),
                 ("sites",), ("schedules",), ("blacklist",), ("switch",), ("tasks",), ("simulate",), ("export",),
                 ("import",), ("tasks", "show"), ("schedules", "edit"), ("blacklist", "add")):
        r = run(*argv, "--help", db=None)
        assert r.code == 0 and "usage: fsworker" in r.out, argv


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSWORKER_")}
    env["HOME"] = str(tmp_path)
    return env


def _sh(cwd: Path, *argv: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(FSWORKER), *argv], check=False, cwd=cwd, env=_env(home or cwd), capture_output=True,
                          text=True, timeout=60)


def test_console_script_end_to_end_on_the_embedded_default(tmp_path: Path) -> None:
    """The installed ``fsworker`` with no config: `db upgrade` creates the SQLite default
    under ./var, the other commands use it; exit codes reach the shell."""
    assert FSWORKER.exists(), f"console script not installed at {FSWORKER}"

    def sh(*argv: str) -> subprocess.CompletedProcess[str]:
        return _sh(tmp_path, *argv)

    r = sh("rules", "add", "catch-all", "--strategy", "last_attempted", "--intervals", "0,300")
    assert r.returncode == 3, r.stderr
    assert f"database {tmp_path / 'var' / 'fsworker.sqlite3'} does not exist" in r.stderr
    assert "fsworker db upgrade" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "var").exists()
    r = sh("db", "upgrade")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "var" / "fsworker.sqlite3").exists()
    r = sh("rules", "add", "catch-all", "--strategy", "last_attempted", "--intervals", "0,300")
    assert r.returncode == 0, r.stderr
    r = sh("rules", "list", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)[0]["name"] == "catch-all"
    r = sh("rules", "add", "six", "--strategy", "last_attempted", "--intervals", "0,1,2,3,4,5")
    assert r.returncode == 1 and "rule.intervals" in r.stderr and "Traceback" not in r.stderr
    r = sh("rules", "show", "nope")
    assert r.returncode == 3
    r = sh("--db", UNREACHABLE, "switch", "status")
    assert r.returncode == 4 and "s3cretpw" not in r.stderr
    r = sh("rules", "delete", "catch-all")
    assert r.returncode == 0 and "0 open task(s) cancelled" in r.stdout


def test_database_url_from_the_environment_is_shown_without_its_password(run: Run, monkeypatch) -> None:
    monkeypatch.setenv("FSWORKER_DB_URL", "mysql://root:My/Secret9@db.example/fsw")
    r = run("rules", "list", db=None)
    assert r.code == 1 and "db.example" in r.err
    assert "Secret9" not in r.err + r.out and "My/" not in r.err + r.out


@pytest.mark.parametrize("argv", [("rules", "list"), ("db", "current")])
def test_unencoded_at_in_a_database_password_is_refused_without_showing_any_of_it(run: Run,
                                                                                  argv: tuple[str, ...]) -> None:
    # make_url would take "ss9@127.0.0.1" for the host and the driver would print it
    r = run(*argv, db="postgresql://u:p@ss9@127.0.0.1:1/db")
    assert r.code == 1 and ("--db" in r.err or "database.url" in r.err) and "%40" in r.err, r.err
    assert "ss9" not in r.err + r.out
def test_a_relative_sqlite_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    """Commands run from another directory with the same --config use the same database."""
    etc = tmp_path / "etc"
    etc.mkdir()
    config = etc / "fsworker.toml"
    config.write_text('[database]\nurl = "sqlite:///./state/fsworker.sqlite3"\n', encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = _sh(elsewhere, "-c", str(config), "rules", "list")
    assert r.returncode == 3 and str(etc / "state" / "fsworker.sqlite3") in r.stderr, r.stderr
    assert _sh(tmp_path, "-c", str(config), "db", "upgrade").returncode == 0
    assert (etc / "state" / "fsworker.sqlite3").exists()
    assert _sh(etc, "-c", "fsworker.toml", "rules", "add", "any", "--strategy", "last_attempted").returncode == 0
    r = _sh(elsewhere, "-c", str(config), "rules", "list", "--json")
    assert r.returncode == 0 and [x["name"] for x in json.loads(r.stdout)] == ["any"], r.stderr
    assert not list(elsewhere.iterdir()) and not (tmp_path / "var").exists()


@pytest.mark.parametrize("argv", [("-c", "/nonexistent/fsworker.toml", "rules", "list"),
                                  ("import", "/nonexistent/catalog.toml")])
def test_a_missing_config_or_import_file_exits_3(tmp_path: Path, argv: tuple[str, ...]) -> None:
    assert _sh(tmp_path, "db", "upgrade").returncode == 0
    r = _sh(tmp_path, *argv)
    assert r.returncode == 3, r.stderr
    assert "/nonexistent/" in r.stderr and "Traceback" not in r.stderr


def test_a_closed_pipe_ends_output_quietly(tmp_path: Path) -> None:
    """`fsworker simulate ... | head -2`: the reader leaves; no "Broken pipe", no traceback."""
    assert _sh(tmp_path, "db", "upgrade").returncode == 0
    assert _sh(tmp_path, "rules", "add", "any", "--strategy", "last_attempted",
               "--intervals", "0,60,120,180,240").returncode == 0
    proc = subprocess.Popen([str(FSWORKER), "simulate", "--number", "+79161234567", "--did", "+74950000000",
                             "--at", "2026-12-01T12:15:00+03:00", "--wait", "30"],
                            cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before fsworker writes a line: its first write meets a closed pipe
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert err == "", err


def test_postgres_scheme_is_accepted_like_libpq(run: Run, pg_url: str) -> None:
    url = pg_url.replace("postgresql://", "postgres://", 1)
    assert url.startswith("postgres://")
    assert run("db", "upgrade", db=url).code == 0
    r = run("switch", "status", db=url)
    assert r.code == 0, r.err


def test_db_current_and_downgrade_do_not_create_a_database(run: Run, tmp_path: Path) -> None:
    db = tmp_path / "nothing.sqlite3"
    for argv in (("db", "current"), ("db", "downgrade", "0001")):
        r = run(*argv, db=f"sqlite:///{db}")
        assert r.code == 3 and f"database {db} does not exist" in r.err, r.err
    assert not db.exists()
