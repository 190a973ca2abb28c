"""Shared pieces of the benches: scratch databases, the fake switch in its own process,
a tiny blocking ESL client to drive it, seeding due callback tasks, percentiles.

Import it as ``from bench.benchlib import ...`` after putting the repository root on
``sys.path`` (each bench removes bench/ itself from the path: bench/queue.py would
shadow the standard library's ``queue``).
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PG_ADMIN = os.environ.get("FSWORKER_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "ClueCon"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


def summary_ms(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50": percentile(ms, 50), "p99": percentile(ms, 99), "max": max(ms),
            "min": min(ms)}


def seed_intake_db(url: str, endpoint: str = "user/101") -> None:
    """Migrate ``url`` and give it what an intake bench needs: one employee on
    ``endpoint``, a group, and a rule taking every lost call whose first attempt is an
    hour away (these benches measure intake, never a callback)."""
    from fsworker.core.model import Employee, Group, Rule
    from fsworker.store import migrate
    from fsworker.store.repo import Repository

    migrate.upgrade(url)
    repo = Repository(url)
    repo.add(Employee(name="a", endpoints=(endpoint,)))
    repo.add(Group(name="g", members=("a",), max_lines=1))
    repo.add_rule(Rule(name="all", strategy="group", target="g", intervals=(3600,)))
    repo.close()


def intake_config(url: str, host: str, port: int, *, workers: int, worker_id: str):  # noqa: ANN201 - Config
    """One node, no metrics endpoint, the poll backstop at its default."""
    from fsworker.config.settings import Config, DatabaseConfig, MetricsConfig, NodeConfig, WorkerConfig

    return Config(
        database=DatabaseConfig(url=url),
        nodes=(NodeConfig(name="fs", host=host, port=port),),
        worker=WorkerConfig(workers=workers, poll_interval_s=1.0, worker_id=worker_id),
        metrics=MetricsConfig(enabled=False),
    )


def stamp_task_created(service, clock=time.time) -> dict[str, float]:  # noqa: ANN001 - a Service
    """Call uuid -> ``clock()`` taken right after the task's row was committed (the
    service's intake observer is called then); the dict fills as tasks are created."""
    created_at: dict[str, float] = {}
    original = service.observer.task_created

    def task_created(call, task_id, rule, due_at):  # noqa: ANN001, ANN202
        created_at[call.call_uuid] = clock()
        original(call, task_id, rule, due_at)

    service.observer.task_created = task_created
    return created_at


class Databases:
    """A fresh database per run: a SQLite file in a temporary directory, or a scratch
    PostgreSQL database; ``drop`` removes both kinds."""

    def __init__(self, pg_admin: str = PG_ADMIN) -> None:
        self.pg_admin = pg_admin
        self.created: list[str] = []
        self.dirs: list[str] = []

    def url(self, kind: str) -> str:
        return self.sqlite() if kind == "sqlite" else self.postgresql()

    def sqlite(self) -> str:
        self.dirs.append(tempfile.mkdtemp(prefix="fsworker-bench-"))
        return f"sqlite:///{self.dirs[-1]}/bench.sqlite3"

    def postgresql(self) -> str:
        import psycopg2

        name = f"fsw_bench_{uuid.uuid4().hex[:8]}"
        conn = psycopg2.connect(self.pg_admin)
        conn.autocommit = True
        conn.cursor().execute(f'CREATE DATABASE "{name}"')
        conn.close()
        self.created.append(name)
        return self.pg_admin.rsplit("/", 1)[0] + f"/{name}"

    def drop(self) -> None:
        import shutil

        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.dirs.clear()
        if not self.created:
            return
        import psycopg2

        for name in self.created:
            conn = psycopg2.connect(self.pg_admin)
            conn.autocommit = True
            cur = conn.cursor()
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.close()
        self.created.clear()


class EslClient:
    """Blocking inbound ESL client: auth, then ``api`` commands (no events)."""

    def __init__(self, port: int, host: str = "127.0.0.1", password: str = PASSWORD, timeout: float = 60) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self._buf = b""
        self._frame()  # auth/request
        self.sock.sendall(f"auth {password}\n\n".encode())
        headers, _ = self._frame()
        if not headers.get("Reply-Text", "").startswith("+OK"):
            raise RuntimeError(f"fake switch refused auth: {headers}")

    def _frame(self) -> tuple[dict[str, str], bytes]:
        while b"\n\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("fake switch closed the connection")
            self._buf += chunk
        head, self._buf = self._buf.split(b"\n\n", 1)
        headers = dict(line.split(": ", 1) for line in head.decode().splitlines() if ": " in line)
        n = int(headers.get("Content-Length", "0"))
        while len(self._buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("fake switch closed the connection")
            self._buf += chunk
        body, self._buf = self._buf[:n], self._buf[n:]
        return headers, body

    def api(self, command: str) -> str:
        self.sock.sendall(f"api {command}\n\n".encode())
        while True:
            headers, body = self._frame()
            if headers.get("Content-Type") == "api/response":
                return body.decode()

    def stats(self) -> dict:
        return json.loads(self.api("bench_stats"))

    def close(self) -> None:
        try:
            self.sock.sendall(b"exit\n\n")
        except OSError:
            pass
        self.sock.close()


class FakeSwitchProcess:
    """bench/fakeswitch.py as a child process; ``port`` once it listens."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "fakeswitch.py"), *args],
            stdout=subprocess.PIPE, text=True, cwd=str(ROOT),
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"fake switch did not start: {line!r}")
        self.port = int(line.split()[1])
        self.pid = self.proc.pid

    def client(self) -> EslClient:
        return EslClient(self.port)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


FAR_FUTURE = datetime(2099, 1, 1, tzinfo=UTC)


def seed_due_tasks(url: str, *, tasks: int, rules: int, cap: int = 5, first_employee: int = 2000,
                   first_customer: int = 79160000000) -> list[int]:
    """Schema, ``tasks`` employees (user/<first_employee + i>), ``rules`` last_attempted
    rules with ``cap`` simultaneous calls each, and ``tasks`` tasks through the store
    API, each with its own lost call that rang its own employee, round-robin over the
    rules. Every task is due far in the future: ``make_due`` makes them due at once."""
    from fsworker.core.calls import LossPlace, LostCall, RungLeg
    from fsworker.core.model import Employee, Rule, StrategyKind
    from fsworker.store import migrate
    from fsworker.store.queue import TaskQueue
    from fsworker.store.repo import Repository

    migrate.upgrade(url)
    queue = TaskQueue(url)
    repo = Repository(queue.engine)
    names = [f"bench-{r:03d}" for r in range(rules)]
    for name in names:
        repo.add_rule(Rule(name=name, strategy=StrategyKind.LAST_ATTEMPTED, intervals=(0,),
                           max_concurrent=cap))
    lost_at = datetime.now(UTC) - timedelta(minutes=5)
    ids = []
    for i in range(tasks):
        ext = str(first_employee + i)
        emp = f"emp{ext}"
        repo.add(Employee(name=emp, endpoints=(f"user/{ext}",)))
        call = LostCall(
            call_uuid=str(uuid.uuid4()), customer_number=str(first_customer + i), virtual_number="74950000001",
            place=LossPlace.NUMBER, lost_at=lost_at, waited_s=20.0, hangup_cause="ORIGINATOR_CANCEL",
            rung=(RungLeg(uuid=str(uuid.uuid4()), endpoint=f"user/{ext}", destination=ext, employee=emp),),
        )
        queue.record_lost_call(call, rule_name=names[i % rules], now=lost_at)
        task_id = queue.create_task(customer_number=call.customer_number, rule_name=names[i % rules],
                                    due_at=FAR_FUTURE, lost_call_uuid=call.call_uuid, now=lost_at)
        assert task_id is not None
        ids.append(task_id)
    repo.close()
    queue.close()
    return ids


def make_due(url: str, at: float) -> int:
    """One statement: every pending task becomes due at ``at`` (epoch seconds)."""
    from sqlalchemy import update

    from fsworker.store import tables as t
    from fsworker.store.engine import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        n = conn.execute(update(t.tasks).where(t.tasks.c.status == "pending")
                         .values(due_at=datetime.fromtimestamp(at, UTC))).rowcount
    engine.dispose()
    return n


def make_due_spaced(url: str, at: float, spacing_s: float) -> dict[str, float]:
    """Pending tasks fall due one by one: the i-th (by id) at ``at + i * spacing_s``
    (epoch seconds), in one transaction. Task id (as the fake switch reports it) -> due."""
    from sqlalchemy import select, update

    from fsworker.store import tables as t
    from fsworker.store.engine import make_engine

    engine = make_engine(url)
    due: dict[str, float] = {}
    with engine.begin() as conn:
        ids = conn.execute(select(t.tasks.c.id).where(t.tasks.c.status == "pending").order_by(t.tasks.c.id)).scalars()
        for i, task_id in enumerate(list(ids)):
            due[str(task_id)] = at + i * spacing_s
            conn.execute(update(t.tasks).where(t.tasks.c.id == task_id)
                         .values(due_at=datetime.fromtimestamp(due[str(task_id)], UTC)))
    engine.dispose()
    return due


def attempt_outcomes(url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from fsworker.store import tables as t
    from fsworker.store.engine import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(t.attempts.c.outcome, func.count()).group_by(t.attempts.c.outcome)).all()
    engine.dispose()
    return {str(o): int(n) for o, n in rows}


def wait_until(predicate, timeout: float, every: float = 0.2) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


class Profile:
    """Optional cProfile of a bench's measured phase (time per function summed over
    every greenlet), sorted by own time then by cumulative time, written to ``path``.
    A no-op when ``path`` is empty."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._p = None

    def __enter__(self) -> Profile:
        if self.path:
            import cProfile

            self._p = cProfile.Profile()
            self._p.enable()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._p is None:
            return
        import pstats

        self._p.disable()
        with open(self.path, "w") as f:
            stats = pstats.Stats(self._p, stream=f)
            stats.sort_stats("tottime").print_stats(40)
            stats.sort_stats("cumulative").print_stats(60)


class GcPauses:
    """How long each garbage collection of this process took (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)

    @property
    def longest(self) -> float:
        return max(self.pauses, default=0.0)


class Diag:
    """What the worker did during a measured phase: CPU seconds of this process, SQL
    statements sent and commits on the service's engine, catalog reloads."""

    def __init__(self, service) -> None:  # noqa: ANN001 - fsworker.service.app.Service
        from sqlalchemy import event

        self.statements = 0
        self.catalog_loads = 0
        self._cpu0 = self._cpu()
        self._t0 = time.time()
        event.listen(service.queue.engine, "before_cursor_execute", self._on_statement)
        repo = service.repo
        load = repo.load_catalog_versioned

        def counted():  # noqa: ANN202
            self.catalog_loads += 1
            return load()

        repo.load_catalog_versioned = counted
        self.gc = GcPauses()

    def _on_statement(self, *args: object) -> None:
        self.statements += 1

    @staticmethod
    def _cpu() -> float:
        import resource

        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    def reset(self) -> None:
        self.statements = self.catalog_loads = 0
        self.gc.pauses.clear()
        self._cpu0, self._t0 = self._cpu(), time.time()

    def line(self, per: int, what: str) -> str:
        cpu, wall = self._cpu() - self._cpu0, time.time() - self._t0
        gcs = self.gc.pauses
        return (f"worker cpu={cpu:.1f}s over {wall:.1f}s ({100 * cpu / wall:.0f}% of one core), "
                f"sql_statements={self.statements} ({self.statements / max(per, 1):.1f} per {what}), "
                f"catalog_reloads={self.catalog_loads}, "
                f"gc_pauses={len(gcs)} (longest {1000 * max(gcs, default=0):.1f}ms, {1000 * sum(gcs):.0f}ms in all)")


def make_service(url: str, port: int, *, workers: int, poll_s: float = 1.0, worker_id: str = "bench",
                 min_talk_s: int = 5):  # noqa: ANN201 - fsworker.service.app.Service
    """A Service (SystemClock) on ``url`` and the fake switch at ``port`` with ``workers``
    concurrent attempts, configured as ``fsworker run --workers`` would be."""
    from fsworker.config.settings import CallbackConfig, Config, DatabaseConfig, MetricsConfig, NodeConfig, WorkerConfig
    from fsworker.service.app import Service

    wcfg = WorkerConfig(workers=workers, poll_interval_s=poll_s, lease_s=300, worker_id=worker_id,
                        shutdown_grace_s=0)
    cfg = Config(database=DatabaseConfig(url=url), nodes=(NodeConfig(name="fs", host="127.0.0.1", port=port),),
                 worker=wcfg, callback=CallbackConfig(min_talk_s=min_talk_s), metrics=MetricsConfig(enabled=False))
    return Service(cfg, environ={"FSWORKER_ESL_PASSWORD": PASSWORD})


class ErrorCount(logging.Handler):
    """Counts ERROR records logged by fsworker during a run, with how many were database
    pool timeouts or refused connections (a database restarted by someone else's test)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors = self.pool_timeouts = self.refused = 0
        logging.getLogger("fsworker").addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.errors += 1
        text = record.getMessage()
        self.pool_timeouts += "QueuePool limit" in text
        self.refused += "Connection refused" in text or "could not connect" in text

    def close(self) -> None:
        logging.getLogger("fsworker").removeHandler(self)
        super().close()

    def line(self) -> str:
        return (f"fsworker errors logged={self.errors} (database pool timeouts={self.pool_timeouts}, "
                f"connection refused={self.refused})")
