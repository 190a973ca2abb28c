"""`fsworker run` against the standalone `fsworker fake-switch`, everything through the
console script (issue 5, "Done when"): a lost call injected with `fake-switch call`
is called back, the task ends success, SIGTERM stops the worker with exit 0, and its
log lets a person follow the callback by task id and call UUIDs.

The switch runs at speed 1: `fsworker run` plans on its own wall clock while lost-call
times come from the switch's event timestamps, so a switch clock running ahead of the
wall clock would postpone the callback by the drift (see fake-switch --help).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("fsworker"))
PASSWORD = "ClueCon"
CUSTOMER = "79161234567"
DID = "74950000001"
GRACE_S = 10


class Procs:
    """Subprocesses of one test; every one is killed in teardown, whatever happened."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
        with log.open("wb") as out:
            proc = subprocess.Popen([EXE, *args], stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        self.procs.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - nothing more we can do
                pass


@pytest.fixture()
def procs() -> Iterator[Procs]:
    p = Procs()
    try:
        yield p
    finally:
        p.kill_all()


def _wait_for(what: str, check: Callable[[], object], timeout: float, proc: subprocess.Popen | None = None,
              log: Path | None = None) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def _cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([EXE, *args], check=False, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, f"fsworker {' '.join(args)} -> {out.returncode}\n{out.stdout}{out.stderr}"
    return out.stdout


def clean_env() -> dict[str, str]:
    """The environment of a process an operator starts: nothing fsworker reads from this
    shell's FSWORKER_* variables, and the fake switch's ESL password set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSWORKER_")}
    env["FSWORKER_ESL_PASSWORD"] = PASSWORD
    return env


def start_fake_switch(procs: Procs, tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """`fsworker fake-switch` on a free port at speed 1 (its log: switch.log); the
    process and the port it printed."""
    log = tmp_path / "switch.log"
    switch = procs.start(["fake-switch", "--port", "0", "--password", PASSWORD, "--speed", "1"], log, env)
    listening = _wait_for("the fake switch to listen",
                          lambda: re.search(r"listening on 127\.0\.0\.1:(\d+)", log.read_text()), 20, switch, log)
    return switch, listening.group(1)  # type: ignore[union-attr]


def test_run_calls_back_a_call_lost_on_the_standalone_fake_switch(tmp_path: Path, procs: Procs) -> None:
    env = clean_env()

    # terminal 1: the fake switch, on a free port it prints
    switch, port = start_fake_switch(procs, tmp_path, env)
    link = ["--port", port]

    db = f"sqlite:///{tmp_path / 'fsworker.sqlite3'}"
    config = tmp_path / "fsworker.toml"
    config.write_text(
        f'[database]\nurl = "{db}"\n\n'
        f'[[node]]\nname = "fake"\nhost = "127.0.0.1"\nport = {port}\n'
        'password_env = "FSWORKER_ESL_PASSWORD"\n\n'
        f"[worker]\nworkers = 2\npoll_interval_s = 0.2\nshutdown_grace_s = {GRACE_S}\n\n"
        "[callback]\nmin_talk_s = 2\nemployee_ring_timeout_s = 10\ncustomer_ring_timeout_s = 10\n\n"
        "[metrics]\nenabled = false\n"
    )
    base = ["-c", str(config), "--db", db]
    _cli(env, *base, "db", "upgrade")
    _cli(env, *base, "employees", "add", "Anna", "--endpoint", "user/101")
    _cli(env, *base, "employees", "add", "Boris", "--endpoint", "user/102")
    _cli(env, *base, "groups", "add", "sales", "--member", "Anna")
    _cli(env, *base, "rules", "add", "sales", "--strategy", "group", "--target", "sales",
         "--intervals", "0,60", "--min-wait", "1")

    # terminal 2: the worker
    run_log = tmp_path / "run.log"
    worker = procs.start([*base, "-v", "run", "--no-metrics"], run_log, env)
    _wait_for("the worker's ESL link", lambda: "link #1 up" in run_log.read_text(), 30, worker, run_log)

    # terminal 3: who answers, then the customer calls Boris, who does not, and hangs up
    _cli(env, "fake-switch", "endpoint", "user/101", "answer", "--after", "0.5", *link)
    _cli(env, "fake-switch", "endpoint", "user/102", "ring", *link)
    _cli(env, "fake-switch", "endpoint", CUSTOMER, "answer", "--after", "0.5", "--hangup-after", "3", *link)
    lost_uuid = _cli(env, "fake-switch", "call", CUSTOMER, DID, "--ring", "user/102", "--leg-timeout", "20",
                     "--hangup-after", "2", *link).strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", lost_uuid), lost_uuid

    def ended() -> dict | None:
        tasks = json.loads(_cli(env, *base, "tasks", "list", "--json"))
        return next((t for t in tasks if t["status"] == "done"), None)

    task = _wait_for("the task to end", ended, 60, worker, run_log)
    assert isinstance(task, dict)
    assert task["end_reason"] == "success", task
    assert task["lost_calls"] == [lost_uuid]
    task_id = task["id"]

    # from the switch's side: which legs the callback rang
    status = _cli(env, "fake-switch", "status", *link)
    emp_leg = re.search(rf"^\s+(\S+) originate user/101 cid={CUSTOMER} answered .* task={task_id} role=employee$",
                        status, re.MULTILINE)
    cust_leg = re.search(rf"^\s+(\S+) originate sofia/gateway/pstn/{CUSTOMER} cid={DID} answered .* "
                         rf"task={task_id} role=customer$", status, re.MULTILINE)
    assert emp_leg and cust_leg, status
    employee_uuid, customer_uuid = emp_leg.group(1), cust_leg.group(1)
    # success as the switch saw it: the two were bridged, for at least min_talk_s (2 s)
    bridged = re.search(rf"^\s+{customer_uuid} .* bridged={employee_uuid}/([0-9.]+)s task=", status, re.MULTILINE)
    assert bridged and float(bridged.group(1)) >= 2, status

    # SIGTERM: a clean stop within the grace period
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=GRACE_S + 10) == 0, run_log.read_text()[-4000:]

    lines = run_log.read_text().splitlines()
    tag = f"task {task_id} attempt 1:"

    def line(marker: str) -> str:
        found = [x for x in lines if tag in x and marker in x]
        assert len(found) == 1, f"{marker!r}: {found}\n" + "\n".join(lines)
        return found[0]

    assert employee_uuid in line("employee answered")
    assert customer_uuid in line("dialling customer")
    assert customer_uuid in line("bridged employee") and employee_uuid in line("bridged employee")
    assert customer_uuid in line("-> success")
    assert lost_uuid in line("rule 'sales', strategy group")
    assert any(lost_uuid in x and f"task {task_id} " in x for x in lines if "fsworker.service.intake" in x)
    switch.send_signal(signal.SIGTERM)
