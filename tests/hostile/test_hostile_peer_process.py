"""`fsworker run` (a subprocess) against a hostile Event Socket peer on loopback,
observed the way an operator does: the process's peak memory, `/metrics`, `/healthz`
and the log (issue 13 items 1 and 2).

1. A flood of events under the 16 MiB frame cap made of ~1.5 M tiny headers each: the
   worker's peak RSS (VmHWM) stays under 300 MB; the events are dropped and counted,
   the link stays up.
2. A peer that, once subscribed, drips one byte a second and answers nothing: the link
   is declared dead within the watchdog period and the probe's deadline (well within
   90 s), and `fsworker_esl_up` and `/healthz` say so while it stays down.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.test_run_cli import EXE, Procs, _wait_for
from tests.hostile.esl_peer import HostilePeer, PeerLink, drip, event_frame, heartbeat

PASSWORD = "ClueCon"
MAX_PEAK_MB = 300
FLOOD_S = 10.0


@pytest.fixture()
def procs():
    p = Procs()
    try:
        yield p
    finally:
        p.kill_all()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_worker(tmp_path: Path, procs: Procs, esl_port: int, node_extra: str = "") -> tuple[object, Path, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSWORKER_")}
    env["FSWORKER_ESL_PASSWORD"] = PASSWORD
    web = free_port()
    config = tmp_path / "fsworker.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "fsworker.sqlite3"}"\n\n'
        f'[[node]]\nname = "hostile"\nhost = "127.0.0.1"\nport = {esl_port}\n{node_extra}\n'
        f'[metrics]\nenabled = true\nlisten = "127.0.0.1:{web}"\n'
    )
    log = tmp_path / "run.log"
    # only `fsworker db upgrade` creates a database; `run` refuses a missing one
    subprocess.run([EXE, "-c", str(config), "db", "upgrade"], check=True, env=env, capture_output=True, timeout=120)
    proc = procs.start(["-c", str(config), "run"], log, env)
    _wait_for("the worker's ESL link", lambda: "link #1 up" in log.read_text(errors="replace"), 30, proc, log)
    return proc, log, web


def http_get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def metric(port: int, line_start: str) -> float | None:
    _, text = http_get(port, "/metrics")
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return None


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


def flood(seconds: float) -> Callable[[PeerLink], None]:
    body = b"Event-Name: CUSTOM\nEvent-Subclass: flood\n" + b"h: \n" * 1_500_000 + b"\n"
    frame = event_frame(body)
    assert len(frame) < 16 * 1024 * 1024

    def script(link: PeerLink) -> None:
        deadline = time.monotonic() + seconds
        seq = 0
        while time.monotonic() < deadline and not link.closed.is_set():
            seq += 1
            if not link.send(frame + heartbeat(seq)):
                return
            time.sleep(0.2)
        link.flood_sent = seq  # type: ignore[attr-defined]

    return script


def test_flood_of_tiny_headers_keeps_memory_bounded_and_the_link_up(tmp_path: Path, procs: Procs) -> None:
    peer = HostilePeer(flood(FLOOD_S), max_connections=1).start()
    try:
        proc, log, web = start_worker(tmp_path, procs, peer.port)
        baseline = vm_hwm_mb(proc.pid)  # type: ignore[attr-defined]
        deadline = time.monotonic() + FLOOD_S + 2
        while time.monotonic() < deadline and proc.poll() is None:  # type: ignore[attr-defined]
            time.sleep(0.5)
        assert proc.poll() is None, log.read_text()[-3000:]  # type: ignore[attr-defined]
        peak = vm_hwm_mb(proc.pid)  # type: ignore[attr-defined]
        sent = getattr(peer.links[0], "flood_sent", 0)
        assert peak < MAX_PEAK_MB, f"peak RSS {peak:.0f} MB (baseline {baseline:.0f} MB)"
        dropped_metric = 'fsworker_esl_events_dropped_total{node="hostile",reason="too_many_headers"}'
        _wait_for("the flood events to be counted", lambda: (metric(web, dropped_metric) or 0) >= sent, 20, proc, log)
        dropped = metric(web, dropped_metric)
        text = log.read_text(errors="replace")
        print(f"VmHWM baseline {baseline:.0f} MB, peak {peak:.0f} MB; {sent} flood events, dropped {dropped}")
        assert sent >= 5
        assert metric(web, 'fsworker_esl_up{node="hostile"}') == 1.0
        assert metric(web, 'fsworker_esl_connects_total{node="hostile"}') == 1.0
        assert "link #1 down" not in text and "event dropped, the link stays" in text
        assert metric(web, 'fsworker_esl_events_total{event="HEARTBEAT",node="hostile"}') == sent
    finally:
        peer.stop()


def test_a_peer_dripping_bytes_is_declared_dead_and_reported(tmp_path: Path, procs: Procs) -> None:
    peer = HostilePeer(lambda link: drip(link, every=1.0), max_connections=1).start()
    try:
        proc, log, web = start_worker(tmp_path, procs, peer.port,
                                       "idle_timeout_s = 4.0\ncommand_timeout_s = 3.0\n")
        up_at = time.monotonic()
        assert metric(web, 'fsworker_esl_up{node="hostile"}') == 1.0
        _wait_for("the watchdog to declare the link dead",
                  lambda: metric(web, 'fsworker_esl_up{node="hostile"}') == 0.0, 90, proc, log)
        took = time.monotonic() - up_at
        assert took < 90
        assert metric(web, 'fsworker_esl_watchdog_trips_total{node="hostile"}') == 1.0
        status, body = http_get(web, "/healthz")
        report = json.loads(body)
        assert status == 503 and report["esl"]["hostile"] == {"ok": False, "state": "disconnected"}, report
        text = log.read_text(errors="replace")
        assert "watchdog: no complete frame" in text and "no reply to api status" in text
        assert "api status" in peer.links[0].commands
        print(f"declared dead {took:.1f} s after the link came up")
    finally:
        peer.stop()
