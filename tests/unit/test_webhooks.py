"""fsworker.service.webhooks delivered to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import threading
from datetime import UTC, datetime

import pytest

from fsworker.config.settings import WebhookConfig, WebhookEvent
from fsworker.core.calls import LossPlace, LostCall, RungLeg, TransferKind, TransferPhase
from fsworker.core.errors import ConfigError
from fsworker.core.outcomes import AttemptOutcome, SkipReason, TaskEndReason
from fsworker.service.metrics import Metrics
from fsworker.service.webhooks import (
    AttemptReport,
    Backoff,
    WebhookDispatcher,
    lost_call_data,
    task_ended_data,
    task_skipped_data,
    verify,
)

SECRET = "k3y-for-hmac"
ENV = {"HOOK_SECRET": SECRET}
FAST = Backoff(base_s=0.01, factor=2, cap_s=0.05)


class Receiver:
    """A scripted HTTP server: replies with ``statuses`` in turn (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append((self.path, dict(self.headers), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=abc"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


def make(targets, metrics=None, **kw):
    kw.setdefault("backoff", FAST)
    return WebhookDispatcher(targets, metrics=metrics or Metrics(), environ=ENV, proxies={}, **kw)


def hook(url, **kw):
    kw.setdefault("secret_env", "HOOK_SECRET")
    kw.setdefault("allow_private", True)  # the receivers listen on 127.0.0.1
    return WebhookConfig(url=url, **kw)


def lost() -> LostCall:
    return LostCall(
        call_uuid="9ca673c1-76c3-414e-9ee5-efdc2ebe5886", customer_number="79161234567",
        virtual_number="74950000004", scenario="manager", site="shop.example.com", campaign="cpc-42",
        place=LossPlace.TRANSFER, lost_at=datetime(2026, 11, 28, 16, 25, 3, tzinfo=UTC),
        waited_s=10.0612, hangup_cause="NORMAL_CLEARING",
        rung=(RungLeg(uuid="e1b8", endpoint="sofia/internal/101@127.0.0.1:5071", destination="101",
                      employee="Ivan", answered=True),),
        transfer=TransferPhase(kind=TransferKind.BLIND, transferrer_employee="Ivan", target_destination="105"),
        caller_name="Пётр",
    )


def test_delivered_signed_document(receiver):
    m = Metrics()
    d = make([hook(receiver.url)], m).start()
    event_id = d.emit_lost_call(lost())
    assert d.flush(10)
    d.close()
    [(path, headers, body)] = receiver.requests
    assert path == "/hook?token=abc"
    assert verify(SECRET.encode(), body, headers["X-Fsworker-Signature"])
    assert not verify(b"other", body, headers["X-Fsworker-Signature"])
    assert headers["X-Fsworker-Event"] == "lost_call.detected"
    assert headers["X-Fsworker-Delivery"] == event_id
    assert headers["X-Fsworker-Attempt"] == "1"
    assert headers["X-Fsworker-Timestamp"].isdigit()
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    doc = json.loads(body.decode("utf-8"))
    assert doc["version"] == 1 and doc["id"] == event_id and doc["event"] == "lost_call.detected"
    call = doc["data"]["call"]
    assert call["customer_number"] == "79161234567"
    assert call["caller_name"] == "Пётр"
    assert call["place"] == "transfer"
    assert call["lost_at"] == "2026-11-28T16:25:03+00:00"
    assert call["rung"][0]["employee"] == "Ivan"
    assert call["transfer"]["kind"] == "blind" and call["transfer"]["target_destination"] == "105"
    assert m.value("fsworker_webhook_deliveries_total", result="delivered") == 1


def test_retried_on_500_then_delivered_with_the_same_body(receiver):
    receiver.statuses = [500, 503]
    m = Metrics()
    d = make([hook(receiver.url, retries=3)], m).start()
    d.emit(WebhookEvent.TASK_SKIPPED, task_skipped_data(call_uuid="u1", customer_number="79160000001",
                                                        reason=SkipReason.WAITED_TOO_LITTLE))
    assert d.flush(10)
    d.close()
    assert [h["X-Fsworker-Attempt"] for _, h, _ in receiver.requests] == ["1", "2", "3"]
    assert len({b for _, _, b in receiver.requests}) == 1
    assert len({h["X-Fsworker-Delivery"] for _, h, _ in receiver.requests}) == 1
    assert m.value("fsworker_webhook_deliveries_total", result="retried") == 2
    assert m.value("fsworker_webhook_deliveries_total", result="delivered") == 1
    assert json.loads(receiver.requests[0][2])["data"]["reason"] == "waited_too_little"


def test_given_up_after_retries_and_counted(receiver):
    receiver.statuses = [500] * 10
    m = Metrics()
    d = make([hook(receiver.url, retries=2)], m).start()
    d.emit("task.created", {"task": {"id": 1}})
    assert d.flush(10)
    d.close()
    assert len(receiver.requests) == 3
    assert m.value("fsworker_webhook_deliveries_total", result="failed") == 1
    assert m.value("fsworker_webhook_deliveries_total", result="delivered") == 0


@pytest.mark.parametrize("status", [400, 404, 302])
def test_client_errors_and_redirects_are_not_retried(receiver, status):
    receiver.statuses = [status]
    m = Metrics()
    d = make([hook(receiver.url)], m).start()
    d.emit("task.created", {"task": {"id": 1}})
    assert d.flush(10)
    d.close()
    assert len(receiver.requests) == 1  # a 302 is not followed to /elsewhere
    assert m.value("fsworker_webhook_deliveries_total", result="rejected") == 1


def test_unreachable_endpoint_is_not_fatal():
    receiver = Receiver()
    url = receiver.url
    receiver.close()  # nothing listens there any more: connection refused
    m = Metrics()
    d = make([hook(url, retries=1, timeout_s=1)], m).start()
    assert d.emit("task.created", {"task": {"id": 1}}) is not None
    assert d.flush(10)
    d.close()
    assert m.value("fsworker_webhook_deliveries_total", result="retried") == 1
    assert m.value("fsworker_webhook_deliveries_total", result="failed") == 1


def test_queue_overflow_drops_the_oldest(receiver):
    m = Metrics()
    d = make([hook(receiver.url)], m, queue_size=2)  # not started: nothing drains
    ids = [d.emit("task.created", {"task": {"id": i}}) for i in range(3)]
    assert d.pending() == 2
    assert m.value("fsworker_webhook_deliveries_total", result="dropped") == 1
    d.start()
    assert d.flush(10)
    d.close()
    assert sorted(h["X-Fsworker-Delivery"] for _, h, _ in receiver.requests) == sorted(ids[1:])


def test_events_filter_and_fan_out(receiver):
    other = Receiver()
    try:
        d = make([hook(receiver.url, events=("task.ended",)), hook(other.url, secret_env=None)]).start()
        d.emit("lost_call.detected", lost_call_data(lost()))
        d.emit("task.ended", task_ended_data(
            task_id=17, rule="sales", customer_number="79161234567", end_reason=TaskEndReason.SUCCESS,
            attempts=[AttemptReport(number=1, started_at=None, ended_at=None,
                                    outcome=AttemptOutcome.CUSTOMER_BUSY, detail="USER_BUSY"),
                      AttemptReport(number=2, started_at=datetime(2026, 11, 28, tzinfo=UTC),
                                    ended_at=None, outcome=AttemptOutcome.SUCCESS, employee="Ivan")]))
        assert d.flush(10)
        d.close()
        assert [h["X-Fsworker-Event"] for _, h, _ in receiver.requests] == ["task.ended"]
        assert sorted(h["X-Fsworker-Event"] for _, h, _ in other.requests) == ["lost_call.detected", "task.ended"]
        assert all("X-Fsworker-Signature" not in h for _, h, _ in other.requests)
        ended = json.loads(receiver.requests[0][2])["data"]
        assert ended["end_reason"] == "success"
        assert [a["outcome"] for a in ended["attempts"]] == ["customer_busy", "success"]
    finally:
        other.close()


def test_unserialisable_data_is_counted_not_raised(receiver):
    m = Metrics()
    d = make([hook(receiver.url)], m)
    assert d.emit("task.created", {"bad": {1, 2}.__iter__()}) is None
    assert d.emit("no.such.event", {}) is None
    assert m.value("fsworker_handler_errors_total", component="webhooks") == 2
    assert d.pending() == 0


def test_missing_secret_env_is_a_config_error(receiver):
    with pytest.raises(ConfigError, match="HOOK_SECRET"):
        WebhookDispatcher([hook(receiver.url)], environ={})


def test_close_abandons_retries_that_are_not_due(receiver):
    receiver.statuses = [500] * 5
    m = Metrics()
    d = make([hook(receiver.url, retries=5)], m, backoff=Backoff(base_s=60, cap_s=60)).start()
    d.emit("task.created", {"task": {"id": 1}})
    assert not d.flush(0.5)  # the retry is a minute away
    d.close(timeout=0.1)
    assert m.value("fsworker_webhook_deliveries_total", result="abandoned") == 1
    assert d.pending() == 0


def test_backoff_is_capped_exponential():
    b = Backoff(base_s=1, factor=2, cap_s=10)
    assert [b.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    with pytest.raises(ValueError):
        Backoff(base_s=5, cap_s=1)
