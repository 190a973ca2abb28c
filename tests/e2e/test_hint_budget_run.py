"""A hint that passes the save-time check but is slow for one caller's facts, seen from
outside `fsworker run` (issue 17 item 5): the callback still goes ahead with the
default hint, `/metrics` counts an over-budget fallback, and the log names the task id
and the lost call's UUID."""

from __future__ import annotations

import json
import re
import signal
import urllib.request
from pathlib import Path

from tests.e2e.test_run_cli import CUSTOMER, DID, PASSWORD, Procs, _cli, _wait_for, clean_env, procs, start_fake_switch  # noqa: F401 - fixture
from tests.unit.test_hint_policy import SLOW  # about 0.1 s of CPU for a site of 100 'o'


def _metric(port: str, name: str, **labels: str) -> float | None:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()  # noqa: S310 - loopback
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(rf"^{name}\{{{want}\}} (\S+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else None


def test_slow_hint_falls_back_in_the_running_service(tmp_path: Path, procs: Procs) -> None:  # noqa: F811
    env = clean_env()
    switch, port = start_fake_switch(procs, tmp_path, env)
    db = f"sqlite:///{tmp_path / 'fsworker.sqlite3'}"
    config = tmp_path / "fsworker.toml"
    config.write_text(
        f'[database]\nurl = "{db}"\n\n'
        f'[[node]]\nname = "fake"\nhost = "127.0.0.1"\nport = {port}\npassword_env = "FSWORKER_ESL_PASSWORD"\n\n'
        "[worker]\nworkers = 2\npoll_interval_s = 0.2\nshutdown_grace_s = 5\n\n"
        "[callback]\nmin_talk_s = 2\nemployee_ring_timeout_s = 10\ncustomer_ring_timeout_s = 10\n\n"
        '[metrics]\nenabled = true\nlisten = "127.0.0.1:0"\n'
    )
    base = ["-c", str(config), "--db", db]
    _cli(env, *base, "db", "upgrade")
    _cli(env, *base, "employees", "add", "Anna", "--endpoint", "user/101")
    _cli(env, *base, "employees", "add", "Boris", "--endpoint", "user/102")
    _cli(env, *base, "groups", "add", "sales", "--member", "Anna")
    # accepted: with the sample facts (site shop.example.com) it renders at once
    _cli(env, *base, "rules", "add", "sales", "--strategy", "group", "--target", "sales",
         "--intervals", "0,60", "--min-wait", "1", "--hint-text", SLOW)

    run_log = tmp_path / "run.log"
    worker = procs.start([*base, "-v", "run"], run_log, env)
    found = _wait_for("the metrics port", lambda: re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics",
                                                            run_log.read_text()), 30, worker, run_log)
    metrics_port = found.group(1)  # type: ignore[union-attr]
    _wait_for("the worker's ESL link", lambda: "link #1 up" in run_log.read_text(), 30, worker, run_log)
    assert _metric(metrics_port, "fsworker_hint_fallbacks_total", reason="over_budget") == 0

    link = ["--port", port]
    _cli(env, "fake-switch", "endpoint", "user/101", "answer", "--after", "0.5", *link)
    _cli(env, "fake-switch", "endpoint", "user/102", "ring", *link)
    _cli(env, "fake-switch", "endpoint", CUSTOMER, "answer", "--after", "0.5", "--hangup-after", "3", *link)
    # this caller's site makes the template slow: 100 'o', each replaced by 20
    lost_uuid = _cli(env, "fake-switch", "call", CUSTOMER, DID, "--ring", "user/102", "--leg-timeout", "20",
                     "--hangup-after", "2", "--site", "o" * 100, *link).strip()

    def ended() -> dict | None:
        tasks = json.loads(_cli(env, *base, "tasks", "list", "--json"))
        return next((t for t in tasks if t["status"] == "done"), None)

    task = _wait_for("the task to end", ended, 60, worker, run_log)
    assert isinstance(task, dict) and task["end_reason"] == "success", task
    assert _metric(metrics_port, "fsworker_hint_fallbacks_total", reason="over_budget") == 1
    lines = [x for x in run_log.read_text().splitlines() if "over_budget" in x]
    assert len(lines) == 1 and f"task {task['id']} " in lines[0] and lost_uuid in lines[0], lines
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    switch.send_signal(signal.SIGTERM)
