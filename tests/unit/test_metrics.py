"""fsworker.service.metrics: names, labels, bounded cardinality, the pending-tasks collector."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import generate_latest

from fsworker.core.calls import LossPlace
from fsworker.core.outcomes import AttemptOutcome, SkipReason, TaskEndReason
from fsworker.service.metrics import OTHER, Metrics, WebhookResult, command_verb, event_label


@pytest.fixture()
def m() -> Metrics:
    return Metrics(version="test")


def test_own_registry_not_the_global_one(m):
    assert m.registry is not REGISTRY
    assert REGISTRY.get_sample_value("fsworker_lost_calls_total", {"place": "number"}) is None
    Metrics()  # a second instance does not collide
    reg = CollectorRegistry()
    assert Metrics(reg).registry is reg


def test_counters_by_label(m):
    m.lost_call(LossPlace.SCENARIO)
    m.lost_call("scenario")
    m.lost_call(LossPlace.TRANSFER)
    m.skip(SkipReason.BLACKLISTED)
    m.task_created("sales")
    m.task_joined("sales")
    m.task_ended(TaskEndReason.SUCCESS)
    m.attempt(AttemptOutcome.CUSTOMER_BUSY)
    m.attempt(AttemptOutcome.SUCCESS)
    assert m.value("fsworker_lost_calls_total", place="scenario") == 2
    assert m.value("fsworker_lost_calls_total", place="transfer") == 1
    assert m.value("fsworker_lost_calls_total", place="number") == 0
    assert m.value("fsworker_skips_total", reason="blacklisted") == 1
    assert m.value("fsworker_tasks_created_total", rule="sales") == 1
    assert m.value("fsworker_tasks_joined_total", rule="sales") == 1
    assert m.value("fsworker_tasks_ended_total", reason="success") == 1
    assert m.value("fsworker_attempts_total", outcome="customer_busy") == 1


def test_enum_labels_preinitialised_at_zero(m):
    text = generate_latest(m.registry).decode()
    for reason in SkipReason:
        assert f'fsworker_skips_total{{reason="{reason.value}"}} 0.0' in text
    for outcome in AttemptOutcome:
        assert f'fsworker_attempts_total{{outcome="{outcome.value}"}} 0.0' in text
    assert 'place="any"' not in text
    assert 'fsworker_build_info{version="test"} 1.0' in text


def test_unknown_enum_values_are_bugs(m):
    with pytest.raises(ValueError):
        m.skip("no_such_reason")
    with pytest.raises(ValueError):
        m.lost_call(LossPlace.ANY)


def test_success_and_latency_histogram(m):
    m.callback_succeeded("sales", 45.0)
    m.callback_succeeded("sales", 2 * 86400 + 5)
    assert m.value("fsworker_callbacks_succeeded_total", rule="sales") == 2
    assert m.value("fsworker_loss_to_callback_seconds_count") == 2
    assert m.value("fsworker_loss_to_callback_seconds_bucket", le="60.0") == 1
    assert m.value("fsworker_loss_to_callback_seconds_bucket", le="86400.0") == 1
    assert m.value("fsworker_loss_to_callback_seconds_bucket", le="604800.0") == 2


def test_calls_up_gauge_goes_back_down_even_on_error(m):
    with m.callback_call("sales"), m.callback_call("sales"):
        assert m.value("fsworker_callback_calls_up", rule="sales") == 2
    with pytest.raises(RuntimeError), m.callback_call("sales"):
        raise RuntimeError("switch gone")
    assert m.value("fsworker_callback_calls_up", rule="sales") == 0
    m.set_calls_up("night", 3)
    assert m.value("fsworker_callback_calls_up", rule="night") == 3
    m.forget_rule("night")
    assert "night" not in generate_latest(m.registry).decode()


def test_esl_state_events_and_commands(m):
    m.esl_connected("pbx1", True)
    m.esl_connected("pbx1", False)
    m.esl_connected("pbx1", True)
    assert m.value("fsworker_esl_up", node="pbx1") == 1
    assert m.value("fsworker_esl_connects_total", node="pbx1") == 2
    m.esl_event("pbx1", "CHANNEL_CREATE")
    m.esl_event("pbx1", "SOME_CUSTOM_THING_12345")
    assert m.value("fsworker_esl_events_total", node="pbx1", event="CHANNEL_CREATE") == 1
    assert m.value("fsworker_esl_events_total", node="pbx1", event="other") == 1
    m.esl_command("pbx1", "bgapi originate {fsw_task_id=1}user/101 &park()", 0.004)
    with pytest.raises(TimeoutError), m.esl_command_timer("pbx1", "api uuid_kill abc"):
        raise TimeoutError
    assert m.value("fsworker_esl_command_duration_seconds_count", node="pbx1", command="originate") == 1
    assert m.value("fsworker_esl_command_duration_seconds_count", node="pbx1", command="uuid_kill") == 1


@pytest.mark.parametrize(("line", "verb"), [
    ("bgapi originate {a=b}user/101 &park()", "originate"),
    ("api uuid_bridge a b", "uuid_bridge"),
    ("sendmsg 1234-uuid", "sendmsg"),
    ("event plain ALL", "event"),
    ("api rm -rf /", OTHER),
    ("api 79161234567", OTHER),
    ("", OTHER),
])
def test_command_verb_is_bounded(line, verb):
    assert command_verb(line) == verb


def test_event_label_is_bounded():
    assert event_label("HEARTBEAT") == "HEARTBEAT"
    assert event_label("callcenter::info") == OTHER


def test_pending_tasks_collector_asks_at_scrape_and_survives_errors():
    m = Metrics(pending_min_interval_s=0)
    assert m.registry.get_sample_value("fsworker_pending_tasks") is None  # no source yet
    calls = []
    m.set_pending_source(lambda: calls.append(1) or 7)
    assert m.value("fsworker_pending_tasks") == 7
    assert m.value("fsworker_pending_tasks") == 7
    assert len(calls) == 2

    def broken() -> int:
        raise ConnectionError("db down")

    m.set_pending_source(broken)
    assert m.registry.get_sample_value("fsworker_pending_tasks") is None
    assert m.value("fsworker_handler_errors_total", component="metrics.pending_tasks") == 1


def test_pending_tasks_cached_between_scrapes():
    m = Metrics(pending_min_interval_s=3600)
    calls = []
    m.set_pending_source(lambda: calls.append(1) or 3)
    m.value("fsworker_pending_tasks")
    m.value("fsworker_pending_tasks")
    assert len(calls) == 1


def test_webhook_and_handler_error_counters(m):
    m.webhook(WebhookResult.DELIVERED)
    m.webhook("dropped")
    m.handler_error("detector")
    assert m.value("fsworker_webhook_deliveries_total", result="delivered") == 1
    assert m.value("fsworker_webhook_deliveries_total", result="dropped") == 1
    assert m.value("fsworker_handler_errors_total", component="detector") == 1


def test_names_follow_conventions(m):
    for family in m.registry.collect():
        assert family.name.startswith("fsworker_")
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        if family.type == "histogram":
            assert family.name.endswith("_seconds")


def test_grafana_dashboard_uses_only_exported_metric_names(m):
    import json
    import re
    from pathlib import Path

    dash = json.loads((Path(__file__).resolve().parents[2] / "contrib/grafana/fsworker-dashboard.json").read_text())
    m.set_pending_source(lambda: 0)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    exported = {fam.name + sfx for fam in m.registry.collect() for sfx in suffixes[fam.type]}
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dash["templating"]["list"]]
    used = {name for e in exprs for name in re.findall(r"\bfsworker_[a-z_]+", e)}
    assert used and used <= exported, used - exported
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
