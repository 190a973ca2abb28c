"""The black-box tier: `fsworker fake-switch` and `fsworker run` as processes, looked at
only through what an operator, Prometheus, a health probe or a CRM sees: HTTP
(/metrics, /healthz, webhooks), the CLI, the process's exit code and its log.

The processes are started with the chaos harness (tests/chaos/procs.py: ``Lab``,
``FakeSwitch``, ``wait_for``); this file adds only what a black-box look needs: a
configuration with /metrics on a free port and a webhook receiver on loopback.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.chaos.procs import EXE, FakeSwitch, Lab, Proc, free_port, wait_for

# loopback only: bypass any http_proxy of the environment
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
GRACE_S = 8
#: [callback] switch_shutdown_wait_s of the running service (default 5)
SHUTDOWN_WAIT_S = 2


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with _OPENER.open(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Scrape:
    """One /metrics answer: families (name -> type) and their samples."""

    types: dict[str, str]
    labels: dict[str, list[dict[str, str]]]  #: family -> label sets of its samples
    samples: Samples

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, tuple(sorted(labels.items()))))

    def total(self, name: str) -> float:
        return sum(v for (n, _), v in self.samples.items() if n == name)


def parse_scrape(text: str) -> Scrape:
    types: dict[str, str] = {}
    labels: dict[str, list[dict[str, str]]] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        labels[family.name] = [dict(s.labels) for s in family.samples]
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return Scrape(types=types, labels=labels, samples=samples)


class Hooks(ThreadingHTTPServer):
    """A CRM on loopback: records every webhook POST."""

    daemon_threads = True

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"

    def events(self) -> list[str]:
        return [doc["event"] for doc in self.received]


@dataclass
class Running:
    """One `fsworker run` on one fake switch, with a SQLite database of its own."""

    lab: Lab
    switch: FakeSwitch
    worker: Proc
    config: Path
    db_url: str
    metrics_url: str
    hooks: Hooks
    scrapes: list[Scrape] = field(default_factory=list)

    def scrape(self) -> Scrape:
        status, body = http_get(self.metrics_url + "/metrics")
        assert status == 200, (status, body[:500])
        got = parse_scrape(body.decode())
        self.scrapes.append(got)
        return got

    def healthz(self) -> tuple[int, dict[str, Any]]:
        status, body = http_get(self.metrics_url + "/healthz")
        return status, json.loads(body)

    facts: dict[str, Any] = field(default_factory=dict)  #: what one test saw, for a later one

    def cli(self, *args: str) -> str:
        return cli(self.lab, self.config, *args)

    def tasks(self) -> list[dict[str, Any]]:
        return json.loads(self.cli("tasks", "list", "--json"))


def cli(lab: Lab, config: Path, *args: str) -> str:
    out = subprocess.run([EXE, "-c", str(config), *args], check=False, capture_output=True, text=True,
                         timeout=60, env=lab.env, cwd=lab.dir)
    assert out.returncode == 0, f"fsworker {' '.join(args)} -> {out.returncode}\n{out.stdout}{out.stderr}"
    return out.stdout


#: the company numbers (DIDs), who the rules ring, and a blacklisted customer
DID_SALES, DID_SUPPORT = "74950000001", "74950000002"
BLACKLISTED = "79161110003"
#: what an operator would keep in git and load with `fsworker import` (one process
#: start instead of one per `employees add` / `rules add`)
CATALOG = f"""format = 1

[settings]
enabled = true

[[employees]]
name = "Anna"
endpoints = ["user/101"]

[[employees]]
name = "Boris"
endpoints = ["user/102"]

[[virtual_numbers]]
number = "{DID_SALES}"

[[virtual_numbers]]
number = "{DID_SUPPORT}"

[[blacklist]]
number = "{BLACKLISTED}"

[[rules]]
name = "sales"
place = "number"
place_value = "{DID_SALES}"
strategy = "employee"
target = "Anna"
intervals = [0]
min_wait_s = 0

[[rules]]
name = "support"
place = "number"
place_value = "{DID_SUPPORT}"
strategy = "employee"
target = "Boris"
intervals = [0, 600]
min_wait_s = 0
"""


def write_config(path: Path, *, db_url: str, switch_port: int, metrics_port: int, hooks_url: str,
                 more_nodes: tuple[tuple[str, int], ...] = ()) -> None:
    nodes = "".join(
        f'[[node]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\n'
        'password_env = "FSWORKER_ESL_PASSWORD"\nconnect_timeout_s = 2.0\ncommand_timeout_s = 5.0\n\n'
        for name, port in (("fs1", switch_port), *more_nodes))
    path.write_text(
        f'[database]\nurl = "{db_url}"\n\n{nodes}'
        f"[worker]\nworkers = 4\nlease_s = 30\npoll_interval_s = 0.2\nshutdown_grace_s = {GRACE_S}\n\n"
        "[callback]\nmin_talk_s = 2\nemployee_ring_timeout_s = 10\ncustomer_ring_timeout_s = 10\n"
        f"switch_shutdown_wait_s = {SHUTDOWN_WAIT_S}\n\n"
        f'[metrics]\nenabled = true\nlisten = "127.0.0.1:{metrics_port}"\n\n'
        # the CRM stand-in listens on loopback, which a webhook reaches only when allowed
        f'[[webhook]]\nurl = "{hooks_url}"\ntimeout_s = 2\nallow_private = true\n'
        'events = ["lost_call.detected", "task.created", "task.skipped", "task.ended"]\n\n'
        '[log]\nlevel = "INFO"\n',
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    lab = Lab(tmp_path_factory.mktemp("blackbox"))
    hooks = Hooks()
    try:
        switch = lab.switch()
        db_url = f"sqlite:///{lab.dir / 'fsworker.sqlite3'}"
        metrics_port = free_port()
        config = lab.dir / "fsworker.toml"
        write_config(config, db_url=db_url, switch_port=switch.port, metrics_port=metrics_port, hooks_url=hooks.url)
        catalog = lab.dir / "catalog.toml"
        catalog.write_text(CATALOG, encoding="utf-8")
        cli(lab, config, "db", "upgrade")
        cli(lab, config, "import", str(catalog))
        worker = lab.spawn("run", ["-c", str(config), "run"])
        service = Running(lab=lab, switch=switch, worker=worker, config=config, db_url=db_url,
                          metrics_url=f"http://127.0.0.1:{metrics_port}", hooks=hooks)
        wait_for("fsworker run's ESL link and /healthz", lambda: service.healthz()[0] == 200, 30,
                 alive=lambda: worker.alive)
        yield service
    except BaseException:
        print(lab.report())
        raise
    finally:
        lab.close()
        hooks.shutdown()
        hooks.server_close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
    report = yield
    if report.when == "call" and report.failed:
        service = item.funcargs.get("running")  # type: ignore[attr-defined]
        if isinstance(service, Running):
            report.sections.append(("processes", service.lab.report(120)))
    return report
