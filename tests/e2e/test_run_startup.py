"""`fsworker run`'s first lines, as an operator reads them in the journal: no Alembic
chatter, the metrics address once; and no service on a database that does not exist."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

from tests.e2e.test_run_cli import EXE, PASSWORD, Procs, _cli, _wait_for, procs  # noqa: F401 - fixture


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSWORKER_")}
    env["FSWORKER_ESL_PASSWORD"] = PASSWORD
    return env


def test_startup_log_is_quiet_and_says_things_once(tmp_path: Path, procs: Procs) -> None:  # noqa: F811
    env = _env()
    switch_log = tmp_path / "switch.log"
    switch = procs.start(["fake-switch", "--port", "0", "--password", PASSWORD], switch_log, env)
    listening = _wait_for("the fake switch to listen",
                          lambda: re.search(r"listening on 127\.0\.0\.1:(\d+)", switch_log.read_text()),
                          20, switch, switch_log)
    config = tmp_path / "fsworker.toml"
    config.write_text(f'[[node]]\nname = "fake"\nport = {listening.group(1)}\n\n'  # type: ignore[union-attr]
                      f'[metrics]\nlisten = "127.0.0.1:{_free_port()}"\n', encoding="utf-8")
    _cli(env, "-c", str(config), "db", "upgrade")
    log = tmp_path / "run.log"
    run = procs.start(["-c", str(config), "run"], log, env)
    _wait_for("the worker to connect", lambda: "link #1 up" in log.read_text(), 30, run, log)
    os.killpg(run.pid, signal.SIGTERM)
    assert run.wait(timeout=60) == 0
    text = log.read_text()
    assert "alembic" not in text.lower(), text
    assert len(re.findall(r"/metrics", text)) == 1, text


def test_run_refuses_a_database_that_does_not_exist(tmp_path: Path) -> None:
    config = tmp_path / "fsworker.toml"
    config.write_text("[metrics]\nenabled = false\n", encoding="utf-8")
    out = subprocess.run([EXE, "-c", str(config), "run"], check=False, capture_output=True, text=True, timeout=60,
                         env=_env(), cwd=tmp_path)
    assert out.returncode == 3, out.stdout + out.stderr
    assert f"database {tmp_path / 'var' / 'fsworker.sqlite3'} does not exist" in out.stderr
    assert "fsworker db upgrade" in out.stderr
    assert not (tmp_path / "var").exists()
