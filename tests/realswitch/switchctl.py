"""Stopping and starting the tier's switches as an operator does.

Rules: switch 1 is the install's own instance (its pid file in the install's run
directory; `freeswitch -stop` reads it); switch 2 is started and stopped only through
tests/data/realswitch/start.sh (`start2` / `stop2`), which alone knows its directories
and flags. A process is found by its pid file, never by name: two switches run from
the same binary. Every function returns once the switch has stopped or answers again.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.chaos.procs import wait_for
from tests.realswitch.harness import DATA, RealSwitch

FS_BIN = Path(os.environ.get("FSWORKER_REAL_SWITCH_BIN", "/usr/local/freeswitch/bin/freeswitch"))
#: switch 1's pid file: the install's default run directory
PID_FILE = FS_BIN.parents[1] / "var" / "run" / "freeswitch" / "freeswitch.pid"
START_SH = DATA / "start.sh"


def restart_switch1(switch: RealSwitch) -> float:
    """`freeswitch -stop`, wait for the process to end, start it again; returns the time
    it had stopped, once it answers. The SIPp phones keep running."""
    pid = PID_FILE.read_text().strip() if PID_FILE.exists() else ""
    subprocess.run([str(FS_BIN), "-stop"], capture_output=True, timeout=60, check=False)
    if pid:
        wait_for(f"freeswitch {pid} to exit", lambda: not Path(f"/proc/{pid}").exists(), 60, every=0.3)
    stopped = time.time()
    subprocess.run(["setsid", str(FS_BIN), "-ncwait", "-nonat", "-nonatmap"], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, check=True)
    _answering(switch)
    return stopped


def _start_sh(command: str, switch2: RealSwitch) -> None:
    env = {**os.environ, "FS_PREFIX": str(FS_BIN.parents[1]), "FS2_ESL_PORT": str(switch2.port),
           "FS2_SIP_PORT": str(switch2.sip_port)}
    out = subprocess.run([str(START_SH), command], capture_output=True, text=True, timeout=120, env=env, check=False)
    assert out.returncode == 0, f"start.sh {command} -> {out.returncode}\n{out.stdout}{out.stderr}"


def stop_switch2(switch2: RealSwitch) -> float:
    """`start.sh stop2` (`freeswitch -stop` on its run directory); returns when it has exited."""
    _start_sh("stop2", switch2)
    switch2.esl.close()
    return time.time()


def start_switch2(switch2: RealSwitch) -> None:
    """`start.sh start2`; returns when it answers."""
    _start_sh("start2", switch2)
    _answering(switch2)


def _answering(switch: RealSwitch) -> None:
    switch.esl.close()
    wait_for(f"the switch at {switch.host}:{switch.port} to answer again",
             lambda: switch.esl.ok("status").startswith("UP"), 60, every=0.3)
