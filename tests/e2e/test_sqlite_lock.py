"""SQLite must not stop the world (issue 13 item 3), through the process boundary:
`fsworker run` on its embedded SQLite file with `fsworker fake-switch`, and a second
process holding `BEGIN EXCLUSIVE` on that file for 9 s (a CLI import, a backup).

While the lock is held `/metrics` answers in under 100 ms and the switch's events keep
being read; a call lost during the lock becomes a task once the lock is released.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.test_run_cli import EXE, PASSWORD, Procs, _cli, _wait_for, clean_env, procs, start_fake_switch  # noqa: F401 - fixture
from tests.hostile.test_hostile_peer_process import free_port, metric

CUSTOMER = "79161234567"
DID = "74950000001"
LOCK_S = 9.0
MAX_SCRAPE_S = 0.100

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
print("released", flush=True)
"""


def scrape_seconds(port: int) -> float:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
    finally:
        conn.close()
    return time.monotonic() - started


def test_a_locked_sqlite_file_stalls_neither_metrics_nor_events_and_loses_nothing(
    tmp_path: Path, procs: Procs  # noqa: F811 - the fixture imported above
) -> None:
    env = clean_env()
    switch, port = start_fake_switch(procs, tmp_path, env)
    web = free_port()
    db_file = tmp_path / "fsworker.sqlite3"
    db = f"sqlite:///{db_file}"
    config = tmp_path / "fsworker.toml"
    config.write_text(
        f'[database]\nurl = "{db}"\n\n'
        f'[[node]]\nname = "fake"\nhost = "127.0.0.1"\nport = {port}\n\n'
        "[worker]\nworkers = 2\npoll_interval_s = 0.2\n\n"
        f'[metrics]\nenabled = true\nlisten = "127.0.0.1:{web}"\n'
    )
    base = ["-c", str(config), "--db", db]
    _cli(env, *base, "db", "upgrade")
    _cli(env, *base, "employees", "add", "Boris", "--endpoint", "user/102")
    _cli(env, *base, "groups", "add", "sales", "--member", "Boris")
    # The first callback a minute after the loss: the task is what this test looks at.
    _cli(env, *base, "rules", "add", "sales", "--strategy", "group", "--target", "sales",
         "--intervals", "60", "--min-wait", "1")
    run_log = tmp_path / "run.log"
    worker = procs.start([*base, "run"], run_log, env)
    _wait_for("the worker's ESL link", lambda: "link #1 up" in run_log.read_text(), 30, worker, run_log)
    _cli(env, "fake-switch", "endpoint", "user/102", "ring", "--port", port)
    scrape_seconds(web)  # the first scrape counts pending tasks with the database free

    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db_file), str(LOCK_S)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        locked_at = time.monotonic()
        lost_uuid = _cli(env, "fake-switch", "call", CUSTOMER, DID, "--ring", "user/102", "--leg-timeout", "20",
                         "--hangup-after", "2", "--port", port).strip()
        events_before = metric(web, 'fsworker_esl_events_total{event="CHANNEL_CREATE",node="fake"}') or 0
        scrapes = []
        while time.monotonic() - locked_at < LOCK_S - 1.5:
            scrapes.append(scrape_seconds(web))
            time.sleep(0.2)
        # The lost call's events, read while the lock is still held.
        hangups = metric(web, 'fsworker_esl_events_total{event="CHANNEL_HANGUP_COMPLETE",node="fake"}') or 0
        still_locked = holder.poll() is None
        assert holder.wait(timeout=30) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
    print(f"/metrics during the lock: {len(scrapes)} scrapes, max {max(scrapes) * 1000:.1f} ms, "
          f"median {sorted(scrapes)[len(scrapes) // 2] * 1000:.1f} ms")
    assert still_locked
    assert len(scrapes) >= 10
    assert max(scrapes) < MAX_SCRAPE_S, [round(s * 1000) for s in scrapes]
    assert events_before >= 1 and hangups >= 1

    def task() -> dict | None:
        tasks = json.loads(_cli(env, *base, "tasks", "list", "--json"))
        return next((t for t in tasks if lost_uuid in t["lost_calls"]), None)

    found = _wait_for("the call lost during the lock to become a task", task, 30, worker, run_log)
    assert found["status"] == "pending", found  # type: ignore[index]
