"""`[numbers] region` through the process boundary (issue 12): `fsworker run` against
the standalone `fsworker fake-switch`, looked at as an operator (CLI), Prometheus
(/metrics) and the switch (`fake-switch status`) do. A customer blacklisted as +7...
who calls as 8... gets no task and is counted as blacklisted; another who calls as
8... is stored as +7... and dialled back in the configured national form."""

from __future__ import annotations

import json
import re
import signal
import socket
import urllib.error
import urllib.request
from pathlib import Path

from tests.e2e.test_run_cli import PASSWORD, Procs, _cli, _wait_for, clean_env, procs, start_fake_switch  # noqa: F401 - fixture

BLACKLISTED = "89160000001"
CUSTOMER = "89161234567"
DID = "74950000001"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(port: int, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/callbacks", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json",
                                                         "Authorization": "Bearer numbers-token"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _metric(port: int, name: str, labels: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()  # noqa: S310
    found = re.search(rf"^{name}\{{{labels}\}} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_run_with_region_skips_a_respelled_blacklisted_caller_and_dials_national(
        tmp_path: Path, procs: Procs) -> None:  # noqa: F811
    env = clean_env()
    env["FSWORKER_API_TOKEN"] = "numbers-token"
    switch, port = start_fake_switch(procs, tmp_path, env)
    link = ["--port", port]
    metrics_port = _free_port()

    db = f"sqlite:///{tmp_path / 'fsworker.sqlite3'}"
    config = tmp_path / "fsworker.toml"
    config.write_text(
        f'[database]\nurl = "{db}"\n\n'
        f'[[node]]\nname = "fake"\nhost = "127.0.0.1"\nport = {port}\n'
        'password_env = "FSWORKER_ESL_PASSWORD"\n\n'
        "[worker]\nworkers = 2\npoll_interval_s = 0.2\nshutdown_grace_s = 5\n\n"
        "[callback]\nmin_talk_s = 2\nemployee_ring_timeout_s = 10\ncustomer_ring_timeout_s = 10\n"
        'dial_number_format = "national"\n\n'
        '[numbers]\nregion = "RU"\n\n'
        f'[metrics]\nenabled = true\nlisten = "127.0.0.1:{metrics_port}"\n'
    )
    base = ["-c", str(config)]
    _cli(env, *base, "db", "upgrade")
    _cli(env, *base, "employees", "add", "Anna", "--endpoint", "user/101")
    _cli(env, *base, "groups", "add", "sales", "--member", "Anna")
    _cli(env, *base, "rules", "add", "sales", "--strategy", "group", "--target", "sales",
         "--intervals", "0,60", "--min-wait", "1")
    assert "+7 916 000-00-01 blacklisted" in _cli(env, *base, "blacklist", "add", "+7 (916) 000-00-01")

    run_log = tmp_path / "run.log"
    worker = procs.start([*base, "-v", "run"], run_log, env)
    _wait_for("the worker's ESL link", lambda: "link #1 up" in run_log.read_text(), 30, worker, run_log)

    _cli(env, "fake-switch", "endpoint", "user/101", "answer", "--after", "0.5", *link)
    _cli(env, "fake-switch", "endpoint", "user/102", "ring", *link)
    _cli(env, "fake-switch", "endpoint", f"sofia/gateway/pstn/{CUSTOMER}", "answer", "--after", "0.5",
         "--hangup-after", "3", *link)
    blocked = _cli(env, "fake-switch", "call", BLACKLISTED, DID, "--ring", "user/102", "--leg-timeout", "20",
                   "--hangup-after", "2", *link).strip()
    _wait_for("the blacklisted caller to be counted",
              lambda: _metric(metrics_port, "fsworker_skips_total", 'reason="blacklisted"') == 1, 30, worker, run_log)
    lost = _cli(env, "fake-switch", "call", CUSTOMER, DID, "--ring", "user/102", "--leg-timeout", "20",
                "--hangup-after", "2", *link).strip()

    def ended() -> dict | None:
        tasks = json.loads(_cli(env, *base, "tasks", "list", "--json"))
        return next((t for t in tasks if t["status"] == "done"), None)

    task = _wait_for("the task to end", ended, 60, worker, run_log)
    assert isinstance(task, dict)
    assert task["end_reason"] == "success", task
    assert task["customer_number"] == "+79161234567" and task["lost_calls"] == [lost]
    tasks = json.loads(_cli(env, *base, "tasks", "list", "--json"))
    assert all(blocked not in t["lost_calls"] for t in tasks) and len(tasks) == 1
    # the operator finds the task by the spelling they have at hand
    assert [t["id"] for t in json.loads(_cli(env, *base, "tasks", "list", "--number", "8 916 123-45-67", "--json"))] \
        == [task["id"]]

    status = _cli(env, "fake-switch", "status", *link)
    assert re.search(rf"originate user/101 cid={CUSTOMER} answered .* task={task['id']} role=employee$",
                     status, re.MULTILINE), status
    assert re.search(rf"originate sofia/gateway/pstn/{CUSTOMER} cid=8{DID[1:]} answered .* "
                     rf"task={task['id']} role=customer$", status, re.MULTILINE), status

    # a CRM asking over HTTP spells numbers its own way too
    code, doc = _post(metrics_port, {"customer_number": "8 916 000-00-01", "idempotency_key": "crm-1"})
    assert (code, doc.get("reason")) == (422, "blacklisted"), doc
    code, doc = _post(metrics_port, {"customer_number": "8 (916) 123-45-68", "company_number": "8 495 000-00-01",
                                     "idempotency_key": "crm-2"})
    assert code == 201 and doc["customer_number"] == "+79161234568", doc

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0, run_log.read_text()[-4000:]
    switch.send_signal(signal.SIGTERM)
