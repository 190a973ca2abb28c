"""Health probes and the HTTP endpoint that serves ``/metrics`` and ``/healthz``.

Rules: this module does no call handling; it only asks probe callables (provided by
the app wiring: the store, the ESL connections) and renders the answers. A probe that
raises is reported as down with the exception's type, never crashing the endpoint.
``/healthz`` returns 200 only when everything is ok, 503 otherwise (degraded: some
switch is unreachable; down: the database is, or every switch is).

The server is the stdlib's WSGI server with one thread per request, in a daemon
thread. Under ``gevent.monkey.patch_all()`` (the worker process) those threads and
sockets are greenlets, so it is cooperative; in tests and the CLI it needs no gevent.
"""

from __future__ import annotations

import enum
import json
import logging
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from fsworker.service.metrics import Metrics

log = logging.getLogger(__name__)


class HealthStatus(enum.StrEnum):
    OK = "ok"  #: database and every switch reachable
    DEGRADED = "degraded"  #: database ok, at least one (not all) switch down
    DOWN = "down"  #: database down, or every switch down


@dataclass(frozen=True, kw_only=True, slots=True)
class ProbeResult:
    ok: bool
    detail: Mapping[str, Any] = field(default_factory=dict)  #: JSON-able facts (latency, since...)


Probe = Callable[[], "ProbeResult | bool"]


def _run(name: str, probe: Probe) -> ProbeResult:
    try:
        got = probe()
    except Exception as exc:  # noqa: BLE001 - a probe failing means "down", not a 500
        log.warning("health probe %s failed: %s: %s", name, type(exc).__name__, exc)
        return ProbeResult(ok=False, detail={"error": type(exc).__name__})
    return got if isinstance(got, ProbeResult) else ProbeResult(ok=bool(got))


class Health:
    """Aggregates a database probe and one probe per ESL node."""

    def __init__(self, database: Probe | None = None, esl: Mapping[str, Probe] | None = None) -> None:
        self._database = database
        self._esl: dict[str, Probe] = dict(esl or {})
        self._lock = threading.Lock()

    def set_database(self, probe: Probe | None) -> None:
        self._database = probe

    def add_esl(self, node: str, probe: Probe) -> None:
        with self._lock:
            self._esl[node] = probe

    def report(self) -> dict[str, Any]:
        """``{"status": ..., "database": {"ok": ...}, "esl": {node: {"ok": ...}}}``"""
        db = _run("database", self._database) if self._database is not None else None
        with self._lock:
            probes = list(self._esl.items())
        esl = {node: _run(f"esl[{node}]", probe) for node, probe in probes}
        if (db is not None and not db.ok) or (esl and not any(r.ok for r in esl.values())):
            status = HealthStatus.DOWN
        elif not all(r.ok for r in esl.values()):
            status = HealthStatus.DEGRADED
        else:
            status = HealthStatus.OK
        return {
            "status": status.value,
            "database": {"ok": db.ok, **db.detail} if db is not None else {"ok": None, "probe": "none"},
            "esl": {node: {"ok": r.ok, **r.detail} for node, r in esl.items()},
        }


def make_app(metrics: Metrics, health: Health,
             api: Callable[..., Iterable[bytes]] | None = None) -> Callable[..., Iterable[bytes]]:
    """The WSGI application: GET /metrics, GET /healthz, GET / (a tiny index), and
    ``api`` (the callbacks API) under /api/."""
    metrics_app = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if api is not None and path.startswith("/api/"):
            return api(environ, start_response)
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")])
            return [b"method not allowed\n"]
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if path == "/healthz":
            report = health.report()
            body = json.dumps(report, default=str).encode()
            code = "200 OK" if report["status"] == HealthStatus.OK else "503 Service Unavailable"
            start_response(code, [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                                  ("Content-Length", str(len(body)))])
            return [body]
        if path == "/":
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"fsworker: /metrics /healthz\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a stuck scraper must not hold the process at exit
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        # scrapes every 15 s would flood the journal at INFO
        log.debug("http %s %s", self.address_string(), format % args)


class WsgiServer:
    """A WSGI application on ``host:port`` in a background (daemon) thread."""

    def __init__(self, app: Callable[..., Iterable[bytes]], host: str, port: int, *, setting: str,
                 name: str) -> None:
        cls = _Server6 if ":" in host else _Server
        try:
            self._server = make_server(host, port, app, server_class=cls, handler_class=_QuietHandler)
        except OSError as exc:
            from fsworker.core.errors import ConfigError

            raise ConfigError(f"{setting}: cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        """The bound address (the real port when started with port 0)."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MetricsServer(WsgiServer):
    """``/metrics`` + ``/healthz`` (and the callbacks API under /api/) on ``host:port``."""

    def __init__(self, metrics: Metrics, health: Health, host: str = "127.0.0.1", port: int = 9464,
                 api: Callable[..., Iterable[bytes]] | None = None) -> None:
        super().__init__(make_app(metrics, health, api), host, port, setting="metrics.listen",
                         name="fsworker-metrics-http")
