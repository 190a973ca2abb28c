"""/healthz of one `fsworker run` on two switches, as a load balancer or Kubernetes
sees it: 200 ``ok``; one switch killed -> 503 ``degraded`` naming it; both -> 503
``down`` naming both (README "Metrics": HTTP 200 only for ``ok``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.blackbox.conftest import Hooks, cli, http_get, write_config
from tests.chaos.procs import Lab, free_port, wait_for


@pytest.fixture()
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path)
    try:
        yield lab
    finally:
        lab.close()


def test_one_of_two_switches_down_is_degraded_both_down_is_down(lab: Lab) -> None:
    hooks = Hooks()
    try:
        fs1, fs2 = lab.switch(), lab.switch()
        metrics_port = free_port()
        config = lab.dir / "fsworker.toml"
        write_config(config, db_url=f"sqlite:///{lab.dir / 'db.sqlite3'}", switch_port=fs1.port,
                     metrics_port=metrics_port, hooks_url=hooks.url, more_nodes=(("fs2", fs2.port),))
        cli(lab, config, "db", "upgrade")
        worker = lab.spawn("run", ["-c", str(config), "run"])

        def health() -> tuple[int, dict]:
            status, body = http_get(f"http://127.0.0.1:{metrics_port}/healthz")
            return status, json.loads(body)

        def answers(code: int, status: str, failing: list[str]):  # noqa: ANN202
            def check() -> dict | None:
                got_code, doc = health()
                return doc if (got_code, doc["status"], doc["failing"]) == (code, status, failing) else None
            return check

        wait_for("/healthz 200 ok", answers(200, "ok", []), 30, alive=lambda: worker.alive)
        fs2.proc.kill9()
        doc = wait_for("/healthz 503 degraded naming fs2", answers(503, "degraded", ["esl:fs2"]), 15,
                       alive=lambda: worker.alive)
        assert doc["esl"]["fs1"]["ok"] is True and doc["esl"]["fs2"]["ok"] is False
        fs1.proc.kill9()
        wait_for("/healthz 503 down", answers(503, "down", ["esl:fs1", "esl:fs2"]), 15, alive=lambda: worker.alive)
        # (back to 200 when a switch returns: test_running_service.py)
    finally:
        hooks.shutdown()
        hooks.server_close()
