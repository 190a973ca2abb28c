"""``fsworker check`` logs in to every configured node (issue 17, item 3): ``auth`` +
``api status`` under the connect timeout against a `fsworker fake-switch` process,
the database's schema revision, one line per probe; a wrong password names the node
and the environment variable (exit 4); ``--offline`` skips the switches."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.procs import PASSWORD, FakeSwitch, Lab, free_port
from tests.clirunner import Run


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("FSWORKER_CONFIG", "FSWORKER_DB_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FSWORKER_ESL_PASSWORD", PASSWORD)
    monkeypatch.setenv("PBX2_ESL_PASSWORD", "not-the-password")


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeSwitch]:
    lab = Lab(tmp_path_factory.mktemp("switch"))
    try:
        yield lab.switch()
    finally:
        lab.close()


def config(tmp_path: Path, *nodes: tuple[str, int, str]) -> str:
    body = "".join(f'[[node]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\npassword_env = "{env}"\n'
                   "connect_timeout_s = 2.0\n\n" for name, port, env in nodes)
    path = tmp_path / "fsworker.toml"
    path.write_text(body, encoding="utf-8")
    return str(path)


def probe_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("probe ")]


def test_logs_in_to_the_node_and_reads_the_schema_revision(seeded: Run, tmp_path: Path, switch: FakeSwitch) -> None:
    r = seeded("check", config(tmp_path, ("pbx1", switch.port, "FSWORKER_ESL_PASSWORD")))
    assert r.code == 0, r.out + r.err
    lines = probe_lines(r.out)
    assert len(lines) == 2, r.out
    assert lines[0].startswith("probe database sqlite:///") and ": ok: schema revision " in lines[0]
    assert "(the newest)" in lines[0]
    assert lines[1].startswith(f"probe node 'pbx1' (127.0.0.1:{switch.port}): ok: logged in, api status answered")
    assert "UP " in lines[1]  # the first line of the switch's `api status`
    assert PASSWORD not in r.out + r.err


def test_wrong_password_names_the_node_and_the_variable_exit_4(seeded: Run, tmp_path: Path,
                                                                switch: FakeSwitch) -> None:
    cfg = config(tmp_path, ("pbx1", switch.port, "FSWORKER_ESL_PASSWORD"),
                 ("pbx2", switch.port, "PBX2_ESL_PASSWORD"))
    r = seeded("check", cfg)
    assert r.code == 4, r.out + r.err
    lines = probe_lines(r.out)
    assert [line.split(":")[0] for line in lines] == [
        lines[0].split(":")[0], "probe node 'pbx1' (127.0.0.1", "probe node 'pbx2' (127.0.0.1"]
    assert ": ok: logged in" in lines[1]
    assert ": FAILED: " in lines[2] and "refused the password" in lines[2]
    assert "PBX2_ESL_PASSWORD" in lines[2] and "node 'pbx2'" in lines[2]
    assert "not-the-password" not in r.out + r.err and PASSWORD not in r.out + r.err
    doc = json.loads(seeded("check", cfg, "--json").out)
    assert doc["ok"] is False
    assert [(p["what"].split(" (")[0], p["ok"]) for p in doc["probes"][1:]] == [
        ("node 'pbx1'", True), ("node 'pbx2'", False)]


def test_unset_password_variable_is_named(seeded: Run, tmp_path: Path, switch: FakeSwitch,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PBX2_ESL_PASSWORD")
    r = seeded("check", config(tmp_path, ("pbx2", switch.port, "PBX2_ESL_PASSWORD")))
    assert r.code == 4, r.out
    (line,) = [x for x in probe_lines(r.out) if x.startswith("probe node")]
    assert "FAILED" in line and "PBX2_ESL_PASSWORD" in line and "not set" in line


def test_nothing_listening_exits_4_and_offline_skips_the_switches(seeded: Run, tmp_path: Path) -> None:
    cfg = config(tmp_path, ("pbx1", free_port(), "FSWORKER_ESL_PASSWORD"))
    r = seeded("check", cfg)
    assert r.code == 4, r.out
    (line,) = [x for x in probe_lines(r.out) if x.startswith("probe node")]
    assert "FAILED: cannot connect to 127.0.0.1:" in line
    r = seeded("check", cfg, "--offline")
    assert r.code == 0, r.out
    assert not [x for x in probe_lines(r.out) if x.startswith("probe node")]
    assert "not logged in to (--offline)" in r.out


def test_a_silent_listener_fails_within_the_connect_timeout(seeded: Run, tmp_path: Path) -> None:
    """A port that accepts and never says auth/request (a wrong service, a hung switch)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True).start()
    try:
        started = time.monotonic()
        r = seeded("check", config(tmp_path, ("pbx1", listener.getsockname()[1], "FSWORKER_ESL_PASSWORD")),
                   "--no-db")
        took = time.monotonic() - started
    finally:
        for s in held:
            s.close()
        listener.close()
    assert r.code == 4, r.out
    assert "no auth/request in time" in r.out and "connect_timeout_s = 2" in r.out
    assert took < 2.0 + 1.5, took
