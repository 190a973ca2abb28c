"""``fsworker check``: the config file, the rules in the database, an import file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.clirunner import Run


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # no ./fsworker.toml, $FSWORKER_CONFIG or $FSWORKER_DB_URL from the developer's shell
    monkeypatch.chdir(tmp_path)
    for var in ("FSWORKER_CONFIG", "FSWORKER_DB_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FSWORKER_ESL_PASSWORD", "x")


def write(tmp_path: Path, body: str, name: str = "fsworker.toml") -> Path:
    p = tmp_path / name
    p.write_text(body, encoding="utf-8")
    return p


def test_a_good_file_and_database_pass(seeded: Run, tmp_path: Path) -> None:
    cfg = write(tmp_path, '[[node]]\nhost = "127.0.0.1"\nport = 8021\n')
    r = seeded("check", str(cfg), "--offline")
    assert r.code == 0, r.out + r.err
    assert "ok: no problems found" in r.out and "2 rule(s) checked" in r.out


def test_broken_config_file_reports_every_problem_with_its_place(run: Run, tmp_path: Path) -> None:
    cfg = write(tmp_path, """
[database]
url = "mysql://root@db/fsw"

[[node]]
host = "pbx one"
port = 70000
password = "ClueCon"

[wokrer]
workers = 4
""")
    r = run("check", str(cfg))
    assert r.code == 1
    assert "Traceback" not in r.err
    for place in ("database.url", "node[0].host", "node[0].port", "node[0].password", "wokrer"):
        assert f"{cfg}: {place}:" in r.out, place
    assert "did you mean 'worker'" in r.out
    assert "ClueCon" not in r.out + r.err  # a secret is never echoed
    assert "error(s)" in r.out
    as_json = json.loads(run("check", str(cfg), "--json").out)
    assert as_json["ok"] is False
    assert {p["place"] for p in as_json["problems"]} >= {"node[0].port", "wokrer"}


def test_config_that_is_not_toml_or_missing(run: Run, tmp_path: Path) -> None:
    r = run("check", str(write(tmp_path, "[node\nport = 1")))
    assert r.code == 1 and "not valid TOML" in r.out
    r = run("check", str(tmp_path / "nope.toml"))
    assert r.code == 1 and "does not exist" in r.out


def test_config_errors_skip_the_database_unless_db_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fsworker.cli.main import main

    cfg = write(tmp_path, "[worker]\nworkers = 0\n")
    code = main(["check", str(cfg)])
    out = capsys.readouterr().out
    assert code == 1 and "worker.workers" in out and "database: not checked" in out


def test_warnings_do_not_fail(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FSWORKER_ESL_PASSWORD")
    r = run("check", str(write(tmp_path, "[[node]]\nport = 8021\n")), "--no-db", "--offline")
    assert r.code == 0, r.out
    assert "warning: node[0].password_env" in r.out and "0 error(s), 1 warning(s)" in r.out


def test_stored_rule_with_a_broken_hint_is_reported(seeded: Run, sqlite_url: str) -> None:
    # a hint stored before templates were checked (or by hand): check must find it
    engine = create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE rules SET hint_kind = 'text', hint_text = '{{ oops }' WHERE name = 'night'"))
    engine.dispose()
    r = seeded("check", "--no-db", "--offline")
    assert r.code == 0
    r = seeded("check", "--offline")
    assert r.code == 1
    assert "rules[1].hint.text (rule 'night')" in r.out and "template error" in r.out


def test_catalog_file(seeded: Run, tmp_path: Path) -> None:
    good = tmp_path / "export.toml"
    assert seeded("export", "-o", str(good)).code == 0
    r = seeded("check", "--no-db", "--offline", "--catalog", str(good))
    assert r.code == 0 and f"{good}: valid" in r.out
    bad = write(tmp_path, '[[rules]]\nname = "r"\nstrategy = "group"\nintervals = [0, 0, 0, 0, 0, 0]\n', "bad.toml")
    r = seeded("check", "--offline", "--catalog", str(bad))
    assert r.code == 1
    assert f"{bad}: rules[0].target:" in r.out or f"{bad}: rules[0].intervals:" in r.out
    r = seeded("check", "--no-db", "--offline", "--catalog", str(tmp_path / "missing.toml"))
    assert r.code == 3 and "missing.toml" in r.err + r.out


def test_check_never_creates_the_embedded_database(run: Run, tmp_path: Path) -> None:
    db = tmp_path / "var" / "never.sqlite3"
    r = run("check", "--offline", db=f"sqlite:///{db}")
    assert r.code == 0, r.out + r.err
    assert "does not exist" in r.out and "fsworker db upgrade" in r.out
    assert not db.exists()


def test_check_judges_hint_files_by_the_checked_files_sound_dirs(run: Run, tmp_path: Path) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text('[prompts]\nsound_dirs = ["/usr/local/freeswitch/sounds/"]\n', encoding="utf-8")
    wav = "/usr/local/freeswitch/sounds/hint.wav"
    assert run("-c", str(cfg), "rules", "add", "r", "--strategy", "last_attempted", "--hint-file", wav).code == 0
    r = run("check", "--offline", str(cfg))
    assert r.code == 0 and "rule.hint" not in r.out, r.out
    r = run("check", "--offline")  # the defaults: that directory is not allowed
    assert r.code == 1 and "rules[0].hint.file" in r.out and "sound_dirs" in r.out, r.out
