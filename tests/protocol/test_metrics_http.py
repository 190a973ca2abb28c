"""/metrics and /healthz over real HTTP on loopback, after a scripted callback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fsworker.core.calls import LossPlace
from fsworker.core.outcomes import AttemptOutcome, SkipReason, TaskEndReason
from fsworker.service.health import Health, MetricsServer, ProbeResult
from fsworker.service.metrics import Metrics

# Bypass any http_proxy in the environment: these requests go to loopback.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with _OPENER.open(url, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture()
def served():
    metrics = Metrics(version="test", pending_min_interval_s=0)
    state = {"db": True, "pbx1": True, "pbx2": True}
    health = Health(
        database=lambda: ProbeResult(ok=state["db"], detail={"backend": "sqlite"}),
        esl={"pbx1": lambda: state["pbx1"], "pbx2": lambda: state["pbx2"]},
    )
    with MetricsServer(metrics, health, "127.0.0.1", 0) as server:
        host, port = server.address
        yield metrics, state, f"http://{host}:{port}"


def scrape(base: str) -> dict[tuple[str, tuple], float]:
    status, headers, body = get(base + "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_scripted_callback_shows_expected_counts(served):
    metrics, _state, base = served
    metrics.set_pending_source(lambda: 4)
    metrics.esl_connected("pbx1", True)
    # a lost call in a scenario, a blacklisted one, a task, two attempts, a success
    metrics.esl_event("pbx1", "CHANNEL_HANGUP_COMPLETE")
    metrics.lost_call(LossPlace.SCENARIO)
    metrics.lost_call(LossPlace.NUMBER)
    metrics.skip(SkipReason.BLACKLISTED)
    metrics.task_created("sales")
    metrics.attempt(AttemptOutcome.CUSTOMER_BUSY)
    with metrics.callback_call("sales"):
        metrics.esl_command("pbx1", "bgapi originate x", 0.003)
        mid = scrape(base)
    metrics.attempt(AttemptOutcome.SUCCESS)
    metrics.callback_succeeded("sales", 600.0)
    metrics.task_ended(TaskEndReason.SUCCESS)

    got = scrape(base)
    assert mid[("fsworker_callback_calls_up", (("rule", "sales"),))] == 1
    assert got[("fsworker_callback_calls_up", (("rule", "sales"),))] == 0
    assert got[("fsworker_lost_calls_total", (("place", "scenario"),))] == 1
    assert got[("fsworker_lost_calls_total", (("place", "number"),))] == 1
    assert got[("fsworker_skips_total", (("reason", "blacklisted"),))] == 1
    assert got[("fsworker_tasks_created_total", (("rule", "sales"),))] == 1
    assert got[("fsworker_attempts_total", (("outcome", "customer_busy"),))] == 1
    assert got[("fsworker_attempts_total", (("outcome", "success"),))] == 1
    assert got[("fsworker_callbacks_succeeded_total", (("rule", "sales"),))] == 1
    assert got[("fsworker_tasks_ended_total", (("reason", "success"),))] == 1
    assert got[("fsworker_loss_to_callback_seconds_count", ())] == 1
    assert got[("fsworker_pending_tasks", ())] == 4
    assert got[("fsworker_esl_up", (("node", "pbx1"),))] == 1
    assert got[("fsworker_esl_events_total", (("event", "CHANNEL_HANGUP_COMPLETE"), ("node", "pbx1")))] == 1
    assert got[("fsworker_esl_command_duration_seconds_count", (("command", "originate"), ("node", "pbx1")))] == 1


def test_healthz_ok_degraded_down(served):
    _metrics, state, base = served
    status, headers, body = get(base + "/healthz")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "status": "ok",
        "database": {"ok": True, "backend": "sqlite"},
        "esl": {"pbx1": {"ok": True}, "pbx2": {"ok": True}},
    }
    state["pbx2"] = False
    status, _, body = get(base + "/healthz")
    assert (status, json.loads(body)["status"]) == (503, "degraded")
    state["pbx1"] = False
    status, _, body = get(base + "/healthz")
    assert (status, json.loads(body)["status"]) == (503, "down")
    state.update(pbx1=True, pbx2=True, db=False)
    status, _, body = get(base + "/healthz")
    assert (status, json.loads(body)["status"]) == (503, "down")


def test_probe_that_raises_is_down_not_a_500():
    def boom() -> bool:
        raise OSError("connection refused")

    health = Health(database=lambda: True, esl={"pbx1": boom})
    with MetricsServer(Metrics(), health, "127.0.0.1", 0) as server:
        host, port = server.address
        status, _, body = get(f"http://{host}:{port}/healthz")
    assert status == 503
    assert json.loads(body)["esl"]["pbx1"] == {"ok": False, "error": "OSError"}


def test_unknown_path_and_method(served):
    _m, _s, base = served
    assert get(base + "/nope")[0] == 404
    req = urllib.request.Request(base + "/metrics", data=b"x", method="POST")
    try:
        _OPENER.open(req, timeout=5)
        code = 200
    except urllib.error.HTTPError as exc:
        code = exc.code
    assert code == 405


def test_port_in_use_is_a_config_error():
    from fsworker.core.errors import ConfigError

    with MetricsServer(Metrics(), Health(), "127.0.0.1", 0) as first, \
            pytest.raises(ConfigError, match="metrics.listen"):
        MetricsServer(Metrics(), Health(), "127.0.0.1", first.address[1])
