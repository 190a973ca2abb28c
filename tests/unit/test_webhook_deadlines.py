"""Webhook deadlines (issue 13 item 4): ``timeout_s`` bounds the whole request, not each
socket read; ``close(timeout)`` returns within its timeout and counts what it abandons;
target addresses are checked again when a delivery connects (issue 13 item 6)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from fsworker.config.settings import WebhookConfig
from fsworker.service.metrics import Metrics
from fsworker.service.webhooks import Backoff, WebhookDispatcher
from tests.drip_server import Dripper
from tests.unit.test_webhooks import Receiver

FAST = Backoff(base_s=0.2, factor=2, cap_s=0.5)


@pytest.fixture()
def dripper() -> Iterator[Dripper]:
    d = Dripper(every_s=1.5)
    yield d
    d.close()


def hook(url: str, **kw: object) -> WebhookConfig:
    kw.setdefault("allow_private", True)  # the receivers listen on 127.0.0.1
    return WebhookConfig(url=url, **kw)  # type: ignore[arg-type]


def make(targets: list[WebhookConfig], m: Metrics, **kw: object) -> WebhookDispatcher:
    kw.setdefault("backoff", FAST)
    return WebhookDispatcher(targets, metrics=m, environ={}, proxies={}, **kw)  # type: ignore[arg-type]


def test_timeout_bounds_the_whole_request_against_a_dripping_receiver(dripper: Dripper) -> None:
    m = Metrics()
    d = make([hook(dripper.url, timeout_s=2, retries=1)], m).start()
    t0 = time.monotonic()
    d.emit("task.created", {"task": {"id": 1}})
    assert d.flush(15)
    elapsed = time.monotonic() - t0
    d.close(timeout=1)
    # two tries of at most 2 s each and a 0.2 s back-off; each read got a byte every
    # 1.5 s, so a per-read timeout of 2 s would have waited for all 52 bytes (78 s)
    assert elapsed < 6.5, elapsed
    assert [s.attempt for s in dripper.seen()] == ["1", "2"]
    second = dripper.seen()[1].at - dripper.seen()[0].at
    assert 1.9 < second < 3.5, second
    assert m.value("fsworker_webhook_deliveries_total", result="retried") == 1
    assert m.value("fsworker_webhook_deliveries_total", result="failed") == 1


def test_a_dripping_receiver_does_not_hold_the_delivery_workers(dripper: Dripper) -> None:
    good = Receiver()
    try:
        m = Metrics()
        d = make([hook(dripper.url, timeout_s=2, retries=0), hook(good.url)], m, workers=2).start()
        t0 = time.monotonic()
        for i in range(4):
            d.emit("task.created", {"task": {"id": i}})
        assert d.flush(20)
        # 4 tries of 2 s at the dripper over 2 workers, and the good receiver served between them
        assert time.monotonic() - t0 < 7
        assert len(good.requests) == 4
        d.close(timeout=1)
        assert m.value("fsworker_webhook_deliveries_total", result="delivered") == 4
        assert m.value("fsworker_webhook_deliveries_total", result="failed") == 4
    finally:
        good.close()


def test_close_returns_within_its_timeout_and_counts_what_it_abandons(dripper: Dripper) -> None:
    m = Metrics()
    d = make([hook(dripper.url, timeout_s=2, retries=5)], m, workers=2).start()
    for i in range(3):
        d.emit("task.created", {"task": {"id": i}})
    time.sleep(0.5)  # two of them are being dripped to, one waits in the queue
    t0 = time.monotonic()
    d.close(timeout=3)
    elapsed = time.monotonic() - t0
    assert elapsed < 3.8, elapsed
    assert d.pending() == 0
    assert m.value("fsworker_webhook_deliveries_total", result="abandoned") == 3
    assert m.value("fsworker_webhook_deliveries_total", result="delivered") == 0


def test_close_with_no_time_left_abandons_in_flight_requests_at_once(dripper: Dripper) -> None:
    m = Metrics()
    d = make([hook(dripper.url, timeout_s=30, retries=0)], m).start()
    d.emit("task.created", {"task": {"id": 1}})
    deadline = time.monotonic() + 5
    while not dripper.seen() and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    d.close(timeout=0)
    assert time.monotonic() - t0 < 0.5
    time.sleep(0.3)  # the aborted worker counts it
    assert m.value("fsworker_webhook_deliveries_total", result="abandoned") == 1


def _resolving_to(address: str, real=socket.getaddrinfo):  # noqa: ANN001, ANN202 - a test double
    def fake(host, port, *args, **kwargs):  # noqa: ANN001, ANN202
        if host == "crm.example.com":
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    return fake


@pytest.mark.parametrize(("address", "allow_private"), [
    ("169.254.169.254", True),  # metadata: never, whatever the webhook says
    ("127.0.0.1", False),  # loopback without allow_private
])
def test_a_name_resolving_to_a_refused_address_is_rejected_at_connect(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, address: str, allow_private: bool) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _resolving_to(address))
    m = Metrics()
    d = make([WebhookConfig(url="http://crm.example.com:9/h", allow_private=allow_private, timeout_s=2)], m).start()
    d.emit("task.created", {"task": {"id": 1}})
    assert d.flush(10)
    d.close(timeout=1)
    assert m.value("fsworker_webhook_deliveries_total", result="rejected") == 1
    assert m.value("fsworker_webhook_deliveries_total", result="retried") == 0
    assert address in caplog.text and "refused" in caplog.text


def test_a_name_resolving_to_loopback_is_delivered_when_private_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    good = Receiver()
    try:
        monkeypatch.setattr(socket, "getaddrinfo", _resolving_to("127.0.0.1"))
        m = Metrics()
        url = f"http://crm.example.com:{good.server.server_address[1]}/h"
        d = make([WebhookConfig(url=url, allow_private=True)], m).start()
        d.emit("task.created", {"task": {"id": 1}})
        assert d.flush(10)
        d.close(timeout=1)
        assert m.value("fsworker_webhook_deliveries_total", result="delivered") == 1
        assert good.requests[0][1]["Host"] == f"crm.example.com:{good.server.server_address[1]}"
    finally:
        good.close()


def test_timeout_bounds_an_https_request_too(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """With TLS the socket that carries the request is the wrapped one, not the one
    first connected: the deadline must shut that one down."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(ssl, "_create_default_https_context", lambda *a, **k: client)
    dripper = Dripper(every_s=1.5, tls=server)
    try:
        m = Metrics()
        d = make([hook(dripper.url, timeout_s=2, retries=0)], m).start()
        t0 = time.monotonic()
        d.emit("task.created", {"task": {"id": 1}})
        assert d.flush(15)
        assert time.monotonic() - t0 < 4, time.monotonic() - t0
        d.close(timeout=1)
        assert [s.attempt for s in dripper.seen()] == ["1"]
        assert m.value("fsworker_webhook_deliveries_total", result="failed") == 1
    finally:
        dripper.close()
