"""Process harness for the chaos tests: real processes, real signals, real sockets.

Rules:
- Everything fsworker runs as a subprocess through its console script: the fake
  switch (`fsworker fake-switch`) and the workers (`fsworker run` with their own TOML
  file), each in its own session so a kill -9 hits exactly that process.
- Every child is registered in a ``Lab`` and killed in teardown whatever happened;
  every child's output goes to a file under tmp_path, printed when a test fails.
- The test process never imports gevent for its own I/O: the switch is driven over a
  small blocking ESL client (api commands only) and the database is read with
  SQLAlchemy, so a test reads the world exactly as an operator would.
- Waits poll with a deadline and say what they waited for.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from fsworker.store import tables as t

EXE = str(Path(sys.executable).with_name("fsworker"))
PASSWORD = "ClueCon"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check: Callable[[], Any], timeout: float, *, every: float = 0.1,
             alive: Callable[[], bool] | None = None) -> Any:
    """Poll ``check`` until it returns something truthy; AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            last_exc = None
        except Exception as exc:  # noqa: BLE001 - transient (switch restarting, database away)
            value, last_exc = None, exc
        if value:
            return value
        if alive is not None and not alive():
            break
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}"
                         + (f" (last error: {last_exc!r})" if last_exc else ""))


# -- ESL: a blocking client, api commands only ---------------------------------------
class EslError(Exception):
    pass


class EslClient:
    """One inbound ESL connection without event subscription: ``api`` in, body out."""

    def __init__(self, port: int, host: str = "127.0.0.1", password: str = PASSWORD, timeout: float = 5.0) -> None:
        self.addr = (host, port)
        self.password = password
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = b""
        self._lock = threading.Lock()

    def _frame(self) -> tuple[dict[str, str], bytes]:
        assert self._sock is not None
        while b"\n\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise EslError("connection closed by the switch")
            self._buf += chunk
        head, self._buf = self._buf.split(b"\n\n", 1)
        headers = dict(line.split(": ", 1) for line in head.decode().splitlines() if ": " in line)
        n = int(headers.get("Content-Length", "0"))
        while len(self._buf) < n:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise EslError("connection closed by the switch")
            self._buf += chunk
        body, self._buf = self._buf[:n], self._buf[n:]
        return headers, body

    def _connect(self) -> None:
        self.close()
        sock = socket.create_connection(self.addr, timeout=self.timeout)
        self._sock, self._buf = sock, b""
        headers, _ = self._frame()
        if headers.get("Content-Type") != "auth/request":
            raise EslError(f"no auth/request: {headers}")
        sock.sendall(f"auth {self.password}\n\n".encode())
        headers, _ = self._frame()
        if not headers.get("Reply-Text", "").startswith("+OK"):
            raise EslError(f"auth refused: {headers}")

    def api(self, command: str, arg: str = "") -> str:
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._sock is None:
                        self._connect()
                    assert self._sock is not None
                    self._sock.sendall(f"api {command} {arg}".rstrip().encode() + b"\n\n")
                    while True:
                        headers, body = self._frame()
                        if headers.get("Content-Type") == "api/response":
                            return body.decode()
                except (OSError, EslError):
                    self.close()
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

    def ok(self, command: str, arg: str = "") -> str:
        out = self.api(command, arg)
        if out.startswith("-"):
            raise EslError(f"{command} {arg}: {out.strip()}")
        return out

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


# -- what the switch says about legs -------------------------------------------------
@dataclass
class Leg:
    uuid: str
    origin: str
    endpoint: str
    destination: str
    task_id: int | None
    attempt: int | None
    role: str | None
    started_at: float
    answered_at: float | None
    ended_at: float | None
    cause: str | None
    up: bool
    bridged_at: float | None
    bridged_to: str | None
    app: str | None
    spoken: list[str]

    @classmethod
    def of(cls, d: dict[str, Any]) -> Leg:
        return cls(
            uuid=d["uuid"], origin=d["origin"], endpoint=d["endpoint"], destination=d["destination"],
            task_id=int(d["task_id"]) if d.get("task_id") else None,
            attempt=int(d["attempt"]) if d.get("attempt") else None, role=d.get("role"),
            started_at=d["started_at"], answered_at=d["answered_at"], ended_at=d["ended_at"], cause=d["cause"],
            up=d["up"], bridged_at=d["bridged_at"], bridged_to=d["bridged_to"], app=d["app"],
            spoken=list(d["spoken"]),
        )

    @property
    def ringing(self) -> bool:
        return self.up and self.answered_at is None

    def overlaps(self, other: Leg, now: float) -> bool:
        a_end = self.ended_at if self.ended_at is not None else now
        b_end = other.ended_at if other.ended_at is not None else now
        return self.started_at < b_end and other.started_at < a_end


# -- processes -----------------------------------------------------------------------
@dataclass(eq=False)
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.text().splitlines()[-n:])

    def kill9(self) -> None:
        if self.alive:
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def terminate(self) -> None:
        if self.alive:
            os.kill(self.pid, signal.SIGTERM)


@dataclass(eq=False)
class FakeSwitch:
    """A `fsworker fake-switch` process and a control client for it."""

    proc: Proc
    port: int
    esl: EslClient

    def legs(self) -> tuple[float, list[Leg]]:
        doc = json.loads(self.esl.ok("fake_legs"))
        return doc["now"], [Leg.of(d) for d in doc["legs"]]

    def ours(self) -> list[Leg]:
        """Legs fsworker originated (they carry fsw_task_id)."""
        return [leg for leg in self.legs()[1] if leg.task_id is not None]

    def endpoint(self, endpoint: str, action: str, **opts: float) -> None:
        words = [endpoint, action] + [f"{k}={v:g}" for k, v in opts.items()]
        self.esl.ok("fake_endpoint", " ".join(words))

    def call(self, customer: str, did: str, *, ring: str = "user/299", hangup_after: float = 0.6,
             leg_timeout: float = 30) -> str:
        """A customer calls ``did``, rings ``ring`` and hangs up: a lost call."""
        out = self.esl.ok("fake_call", f"{customer} {did} ring={ring} leg_timeout={leg_timeout:g} "
                                       f"hangup_after={hangup_after:g}")
        return out.removeprefix("+OK").strip()

    def up(self) -> list[Leg]:
        return [leg for leg in self.legs()[1] if leg.up]


@dataclass
class Lab:
    """The processes of one test. ``close`` kills them all."""

    dir: Path
    procs: list[Proc] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    _n: int = 0

    def __post_init__(self) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FSWORKER_")}
        self.env["FSWORKER_ESL_PASSWORD"] = PASSWORD
        self.env["PYTHONUNBUFFERED"] = "1"

    def spawn(self, name: str, args: list[str]) -> Proc:
        self._n += 1
        log = self.dir / f"{self._n:02d}-{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen([EXE, *args], stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                     start_new_session=True, cwd=self.dir)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    # -- the fake switch ----------------------------------------------------------
    def switch(self, port: int = 0, *, speak_seconds: float | None = None) -> FakeSwitch:
        """Start a fake switch (``port`` 0: a free one; else that port, e.g. a restart)."""
        proc = self.spawn("switch", ["fake-switch", "--port", str(port), "--password", PASSWORD,
                                     "--speed", "1", "--heartbeat", "5"])
        m = wait_for("the fake switch to listen",
                     lambda: re.search(r"listening on 127\.0\.0\.1:(\d+)", proc.text()), 20, alive=lambda: proc.alive)
        sw = FakeSwitch(proc, int(m.group(1)), EslClient(int(m.group(1))))
        if speak_seconds is not None:
            sw.esl.ok("fake_config", f"speak_seconds={speak_seconds:g}")
        return sw

    # -- workers ------------------------------------------------------------------
    def worker(self, name: str, *, db_url: str, port: int, workers: int = 48, lease_s: int = 10,
               grace_s: int = 10, min_talk_s: int = 2, employee_ring_s: int = 20, customer_ring_s: int = 20,
               wait_link: bool = True, poll_s: float = 0.2) -> Proc:
        cfg = self.dir / f"{name}.toml"
        cfg.write_text(
            f'[database]\nurl = "{db_url}"\n\n'
            f'[[node]]\nname = "fs1"\nhost = "127.0.0.1"\nport = {port}\n'
            'password_env = "FSWORKER_ESL_PASSWORD"\nconnect_timeout_s = 2.0\ncommand_timeout_s = 5.0\n\n'
            f"[worker]\nworkers = {workers}\nlease_s = {lease_s}\npoll_interval_s = {poll_s:g}\n"
            f'shutdown_grace_s = {grace_s}\nworker_id = "{name}"\n\n'
            f"[callback]\nmin_talk_s = {min_talk_s}\nemployee_ring_timeout_s = {employee_ring_s}\n"
            f"customer_ring_timeout_s = {customer_ring_s}\n\n"
            '[metrics]\nenabled = false\n\n[log]\nlevel = "DEBUG"\n'
        )
        # only `fsworker db upgrade` creates a database; `run` refuses a missing one
        subprocess.run([EXE, "-c", str(cfg), "db", "upgrade"], check=True, env=self.env, cwd=self.dir,
                       capture_output=True, timeout=120)
        proc = self.spawn(name, ["-c", str(cfg), "run", "--no-metrics"])
        if wait_link:
            wait_for(f"{name}'s ESL link", lambda: "link #1 up" in proc.text(), 30, alive=lambda: proc.alive)
        return proc

    # -- teardown -------------------------------------------------------------------
    def close(self) -> None:
        for proc in self.procs:
            if proc.alive:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                proc.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - nothing more to do
                pass

    def report(self, lines: int = 80) -> str:
        out = []
        for proc in self.procs:
            out.append(f"===== {proc.name} (pid {proc.pid}, rc {proc.popen.poll()}) {proc.log} =====")
            out.append(proc.tail(lines))
        return "\n".join(out)


# -- the database, read as an operator would -------------------------------------------
class Db:
    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg2://" + url.removeprefix("postgresql://")
        self.engine = create_engine(url, poolclass=NullPool)

    def rows(self, query: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def tasks(self) -> list[dict[str, Any]]:
        c = t.tasks.c
        return self.rows(select(c.id, c.customer_number, c.rule_name, c.status, c.attempt_no, c.due_at,
                                c.lease_owner, c.end_reason).order_by(c.id))

    def task_of(self, customer: str) -> dict[str, Any] | None:
        c = t.tasks.c
        found = self.rows(select(c.id, c.status, c.end_reason, c.attempt_no, c.lease_owner)
                          .where(c.customer_number == customer).order_by(c.id.desc()))
        return found[0] if found else None

    def attempts(self) -> list[dict[str, Any]]:
        c = t.attempts.c
        return self.rows(select(c.id, c.task_id, c.attempt_no, c.customer_number, c.worker, c.started_at,
                                c.ended_at, c.outcome, c.detail, c.talk_s, c.bridged_at).order_by(c.id))

    def lost_calls(self) -> list[dict[str, Any]]:
        c = t.lost_calls.c
        return self.rows(select(c.call_uuid, c.customer_number, c.task_id, c.skip_reason, c.rule_name))

    def close(self) -> None:
        self.engine.dispose()


# -- a TCP proxy that can cut the stream in the middle of a frame ---------------------------
class CuttingProxy:
    """Forwards loopback TCP connections to ``upstream``; ``cut_mid_frame()`` makes the
    next chunk from the switch go through only half-way, then drops both sides (the
    worker sees a frame that never completes, then EOF). New connections are served."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._cut = threading.Event()
        self.cuts = 0
        self.accepted = 0
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)  # a quiet link is not a dead one: only cut_mid_frame cuts
            self.accepted += 1
            self._pairs.append((client, server))
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_switch: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_switch and self._cut.is_set() and len(data) > 8:
                    self._cut.clear()
                    dst.sendall(data[: len(data) // 2])
                    self.cuts += 1
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def cut_mid_frame(self) -> None:
        self._cut.set()

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        for a, b in self._pairs:
            a.close()
            b.close()
