"""`fsworker run` with a webhook receiver that drips its answer (issue 13 item 4), seen
from outside the process: each try is cut off at `timeout_s` (the receiver sees the
retry on time), and SIGTERM ends the process within `shutdown_grace_s` with exit 0,
logging what it abandoned, where it used to wait for the drip (16 s for a 3 s grace)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.drip_server import Dripper
from tests.e2e.test_run_cli import CUSTOMER, DID, PASSWORD, Procs, _cli, _wait_for, clean_env, procs, start_fake_switch  # noqa: F401 - fixture

GRACE_S = 3
TIMEOUT_S = 2


def test_sigterm_honours_the_grace_with_a_dripping_webhook_receiver(tmp_path: Path, procs: Procs) -> None:  # noqa: F811
    dripper = Dripper(every_s=1.5)
    try:
        env = clean_env()
        switch, port = start_fake_switch(procs, tmp_path, env)
        db = f"sqlite:///{tmp_path / 'fsworker.sqlite3'}"
        config = tmp_path / "fsworker.toml"
        config.write_text(
            f'[database]\nurl = "{db}"\n\n'
            f'[[node]]\nname = "fake"\nhost = "127.0.0.1"\nport = {port}\npassword_env = "FSWORKER_ESL_PASSWORD"\n\n'
            f"[worker]\nworkers = 2\npoll_interval_s = 0.2\nshutdown_grace_s = {GRACE_S}\n\n"
            "[metrics]\nenabled = false\n\n"
            f'[[webhook]]\nurl = "{dripper.url}"\nevents = ["lost_call.detected"]\n'
            f"timeout_s = {TIMEOUT_S}\nretries = 5\nallow_private = true\n"
        )
        base = ["-c", str(config), "--db", db]
        _cli(env, *base, "db", "upgrade")
        _cli(env, *base, "employees", "add", "Boris", "--endpoint", "user/102")
        run_log = tmp_path / "run.log"
        worker = procs.start([*base, "-v", "run", "--no-metrics"], run_log, env)
        _wait_for("the worker's ESL link", lambda: "link #1 up" in run_log.read_text(), 30, worker, run_log)

        link = ["--port", port]
        _cli(env, "fake-switch", "endpoint", "user/102", "ring", *link)
        _cli(env, "fake-switch", "call", CUSTOMER, DID, "--ring", "user/102", "--leg-timeout", "20",
             "--hangup-after", "1", *link)
        # the first try drips; the retry arrives after timeout_s + the 1 s back-off, not after the drip
        _wait_for("the webhook's second try", lambda: len(dripper.seen()) >= 2, 20, worker, run_log)
        first, second = dripper.seen()[:2]
        assert (first.attempt, second.attempt) == ("1", "2")
        assert second.at - first.at < TIMEOUT_S + 1 + 1.5, second.at - first.at

        t0 = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=30)
        elapsed = time.monotonic() - t0
        log = run_log.read_text()
        assert code == 0, log[-4000:]
        assert elapsed < GRACE_S + 2, (elapsed, log[-4000:])
        assert "abandoned at shutdown" in log, log[-4000:]
        switch.send_signal(signal.SIGTERM)
    finally:
        dripper.close()
