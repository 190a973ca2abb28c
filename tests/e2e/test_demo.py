"""`fsworker demo --quick` through the real console script: the funnel shows bridged
callbacks, and the metrics it scraped over HTTP agree with the funnel (issue 6)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def _row(out: str, label: str) -> int:
    m = re.search(rf"^\s*{re.escape(label)}\s+(\d+)$", out, re.M)
    assert m, f"no funnel row {label!r} in:\n{out}"
    return int(m.group(1))


def _metric(out: str, name: str) -> float:
    return sum(float(v) for v in re.findall(rf"^\s+{re.escape(name)}(?:{{[^}}]*}})? ([0-9.e+]+)$", out, re.M))


def test_quick_demo_bridges_callbacks_and_metrics_agree(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("fsworker")
    proc = subprocess.run([str(exe), "demo", "--quick", "--keep", str(tmp_path)], capture_output=True,
                          text=True, timeout=180, check=False)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    lost = _row(out, "lost calls")
    bridged = _row(out, "outcome: success")
    assert lost == 9
    assert _row(out, "skipped: blacklisted") == 1
    assert _row(out, "skipped: waited_too_little") == 1
    assert bridged >= 4
    assert _row(out, "bridged on the switch") == bridged  # the fake switch's own record
    assert _row(out, "ended: cancelled_contact_made") == 1
    assert _row(out, "ended: no_employee_calls_found") == 1
    # scraped from /metrics by the demo itself
    assert _metric(out, "fsworker_lost_calls_total") == lost
    assert _metric(out, "fsworker_callbacks_succeeded_total") == bridged
    assert _metric(out, "fsworker_attempts_total") == _row(out, "callback attempts")
    # the database it leaves behind is readable by the CLI
    listed = subprocess.run([str(exe), "--db", f"sqlite:///{tmp_path / 'demo.sqlite3'}", "tasks", "list", "--json"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count('"success"') >= bridged
    # `fsworker stats` on the database it leaves prints the very table the demo ended with
    stats = subprocess.run([str(exe), "--db", f"sqlite:///{tmp_path / 'demo.sqlite3'}", "stats", "--since", "all"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert stats.returncode == 0, stats.stderr
    table = stats.stdout.split("\n", 1)[1]
    assert table.strip() and table in out, stats.stdout
