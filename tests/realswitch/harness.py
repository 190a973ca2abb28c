"""Harness for the real-switch tier: a real FreeSWITCH, SIPp phones and customers,
`fsworker run` as a subprocess.

Rules:
- fsworker runs only through its console script, each process in its own session, with
  its own TOML file; its database is read through the CLI (`tasks show --json`), as an
  operator would.
- What happened on the switch is read from the switch: a second, independent ESL
  connection records the channel events of this test (``Observer``), and ``api``
  commands (`show channels`) answer "what is up now". A test asserts on those, not only
  on fsworker's log.
- Customers are SIPp UACs, one process per call, each with its own SIP and media ports
  (a clash makes SIPp exit at once). Every customer number a test uses is its own, so
  channels of other users of the same switch never count.
- Every process a test starts is killed in teardown; every channel of its customers
  still up is hung up.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from tests.chaos.procs import EslClient, Proc, wait_for

EXE = str(Path(sys.executable).with_name("fsworker"))
DATA = Path(__file__).resolve().parents[1] / "data" / "realswitch"
SIPP_DIR = DATA / "sipp"
PHONES = {5071: "answers after 1 s", 5072: "rings forever", 5073: "busy (486)",
          5074: "customer phone, answers after 2 s", 5075: "answers, then blind-transfers (REFER)"}
EVENTS = ("CHANNEL_CREATE CHANNEL_OUTGOING CHANNEL_ANSWER CHANNEL_BRIDGE CHANNEL_UNBRIDGE "
          "CHANNEL_EXECUTE CHANNEL_HANGUP_COMPLETE")


def unique_number(prefix: str = "7916") -> str:
    """A customer number of 11 digits no other test run uses."""
    return prefix + f"{random.randrange(10**7):07d}"


# -- the switch's own record ---------------------------------------------------------------
@dataclass
class Leg:
    """One channel, as its events on the switch describe it."""

    uuid: str
    name: str = ""
    created_seq: int = 0
    created_us: int = 0  #: the switch's clock (Event-Date-Timestamp), not the host's
    ended_us: int | None = None
    outgoing_seq: int | None = None
    create: dict[str, str] = field(default_factory=dict)
    answered: bool = False
    bridged_to: str | None = None
    cause: str | None = None
    apps: list[tuple[str, str]] = field(default_factory=list)

    def var(self, name: str) -> str | None:
        return self.create.get(f"variable_{name}")

    @property
    def task_id(self) -> int | None:
        value = self.var("fsw_task_id")
        return int(value) if value else None

    @property
    def attempt(self) -> int | None:
        value = self.var("fsw_attempt")
        return int(value) if value else None

    @property
    def role(self) -> str | None:
        return self.var("fsw_role")

    @property
    def caller_id_number(self) -> str:
        return self.create.get("Caller-Caller-ID-Number", "")

    @property
    def ended(self) -> bool:
        return self.cause is not None


def _parse_plain(body: bytes) -> dict[str, str]:
    head = body.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    event: dict[str, str] = {}
    for line in head.splitlines():
        name, sep, value = line.partition(": ")
        if sep:
            event[name] = unquote(value)
    return event


class Observer:
    """Records the channel events of the whole switch on its own ESL connection.

    The socket has no timeout: a quiet switch is not a dead one. After a switch restart
    ``reconnect`` opens a new connection; events in between are lost, which the tests
    that restart the switch allow for."""

    def __init__(self, host: str, port: int, password: str) -> None:
        self.addr, self.password = (host, port), password
        self.events: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.connect()

    def connect(self) -> None:
        sock = socket.create_connection(self.addr, timeout=5)
        buf = b""

        def frame() -> tuple[dict[str, str], bytes]:
            nonlocal buf
            while b"\n\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the switch closed the observer's connection")
                buf += chunk
            head, buf = buf.split(b"\n\n", 1)
            headers = dict(line.split(": ", 1) for line in head.decode().splitlines() if ": " in line)
            n = int(headers.get("Content-Length", "0"))
            while len(buf) < n:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the switch closed the observer's connection")
                buf += chunk
            body, buf = buf[:n], buf[n:]
            return headers, body

        frame()  # auth/request
        sock.sendall(f"auth {self.password}\n\n".encode())
        if not frame()[0].get("Reply-Text", "").startswith("+OK"):
            raise ConnectionError("the switch refused the observer's ESL password")
        sock.sendall(f"event plain {EVENTS}\n\n".encode())
        frame()
        sock.settimeout(None)
        self._sock = sock

        def pump() -> None:
            try:
                while True:
                    headers, body = frame()
                    if headers.get("Content-Type") == "text/event-plain":
                        event = _parse_plain(body)
                        with self._lock:
                            self.events.append(event)
            except (OSError, ConnectionError, ValueError):
                return

        self._thread = threading.Thread(target=pump, name="observer", daemon=True)
        self._thread.start()

    def reconnect(self) -> None:
        self.close()
        wait_for("the observer to reconnect", self._try_connect, 60, every=0.5)

    def _try_connect(self) -> bool:
        try:
            self.connect()
            return True
        except OSError:
            return False

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
            self._sock = None

    def legs(self) -> list[Leg]:
        """Every channel seen, in the order the switch created them (Event-Sequence)."""
        with self._lock:
            events = list(self.events)
        legs: dict[str, Leg] = {}
        for ev in events:
            uuid = ev.get("Unique-ID")
            if not uuid:
                continue
            leg = legs.setdefault(uuid, Leg(uuid=uuid))
            name = ev.get("Event-Name")
            seq = int(ev.get("Event-Sequence", "0"))
            if name == "CHANNEL_CREATE":
                leg.create, leg.created_seq, leg.name = ev, seq, ev.get("Channel-Name", "")
                leg.created_us = int(ev.get("Event-Date-Timestamp", "0"))
            elif name == "CHANNEL_OUTGOING":
                leg.outgoing_seq = seq
            elif name == "CHANNEL_ANSWER":
                leg.answered = True
            elif name == "CHANNEL_BRIDGE":
                leg.bridged_to = ev.get("Other-Leg-Unique-ID")
            elif name == "CHANNEL_EXECUTE":
                leg.apps.append((ev.get("Application", ""), ev.get("Application-Data", "")))
            elif name == "CHANNEL_HANGUP_COMPLETE":
                leg.cause = ev.get("Hangup-Cause", "")
                leg.ended_us = int(ev.get("Event-Date-Timestamp", "0"))
        return sorted((leg for leg in legs.values() if leg.create), key=lambda leg: leg.created_seq)

    def callback_legs(self, task_id: int, role: str | None = None) -> list[Leg]:
        return [leg for leg in self.legs() if leg.task_id == task_id and (role is None or leg.role == role)]

    def customer_legs(self, number: str) -> list[Leg]:
        """Inbound legs of a customer's own calls (not fsworker's)."""
        return [leg for leg in self.legs() if leg.caller_id_number == number and leg.task_id is None
                and leg.create.get("Call-Direction") == "inbound"]


@dataclass
class RealSwitch:
    host: str
    port: int
    password: str
    esl: EslClient

    @classmethod
    def from_env(cls, value: str) -> RealSwitch:
        host, _, port = value.rpartition(":")
        password = os.environ.get("FSWORKER_REAL_SWITCH_PASSWORD", "ClueCon")
        return cls(host or "127.0.0.1", int(port), password, EslClient(int(port), host or "127.0.0.1", password))

    def check_ready(self) -> None:
        """The switch answers and the SIPp phones listen; else one clear failure, not a dozen."""
        status = self.esl.ok("status")
        assert status.startswith("UP"), f"the switch at {self.host}:{self.port} is not up: {status!r}"
        missing = []
        for port, what in PHONES.items():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue  # taken: the phone is there
                missing.append(f"{port} ({what})")
        assert not missing, (f"SIPp phones not running on {', '.join(missing)}: "
                             "start them with tests/data/realswitch/start.sh (README, 'Real-switch tests')")

    def channels(self) -> list[dict[str, Any]]:
        doc = json.loads(self.esl.ok("show", "channels as json") or "{}")
        return list(doc.get("rows") or [])

    def calls(self) -> list[dict[str, Any]]:
        doc = json.loads(self.esl.ok("show", "calls as json") or "{}")
        return list(doc.get("rows") or [])

    def close(self) -> None:
        self.esl.close()


# -- processes -------------------------------------------------------------------------------
def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def sipp_ports() -> tuple[int, int]:
    """A SIP port and a media port (mp..mp+3) nobody uses, 10 apart from other SIPp's."""
    for _ in range(200):
        base = random.randrange(20000, 29990, 10)
        if all(_udp_free(p) for p in (base, base + 5000, base + 5001, base + 5002, base + 5003)):
            return base, base + 5000
    raise AssertionError("no free UDP ports for a SIPp customer")


@dataclass(eq=False)
class Customer:
    """A SIPp UAC calling the switch: one call, then it exits."""

    number: str
    did: str
    popen: subprocess.Popen
    sip_port: int
    messages: Path
    out: Path

    def wait(self, timeout: float = 60) -> int:
        return self.popen.wait(timeout=timeout)

    def trace(self) -> str:
        return self.messages.read_text(errors="replace") if self.messages.exists() else ""


@dataclass
class Lab:
    """One test's world: the switch (shared), an observer, fsworker processes, customers."""

    dir: Path
    switch: RealSwitch
    procs: list[Proc] = field(default_factory=list)
    customers: list[Customer] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FSWORKER_")}
        self.env["FSWORKER_ESL_PASSWORD"] = self.switch.password
        self.env["PYTHONUNBUFFERED"] = "1"
        self.observer = Observer(self.switch.host, self.switch.port, self.switch.password)

    # -- fsworker ------------------------------------------------------------------------
    def config(self, name: str, *, db_url: str, workers: int = 4, min_talk_s: int = 2,
               employee_ring_s: int = 8, customer_ring_s: int = 10,
               customer_template: str = "sofia/internal/{number}@127.0.0.1:5074",
               metrics_port: int | None = None, extra: str = "") -> Path:
        cfg = self.dir / f"{name}.toml"
        cfg.write_text(
            f'[database]\nurl = "{db_url}"\n\n'
            f'[[node]]\nname = "real"\nhost = "{self.switch.host}"\nport = {self.switch.port}\n'
            'password_env = "FSWORKER_ESL_PASSWORD"\nconnect_timeout_s = 3.0\ncommand_timeout_s = 10.0\n\n'
            f"[worker]\nworkers = {workers}\nlease_s = 60\npoll_interval_s = 0.2\nshutdown_grace_s = 5\n"
            f'worker_id = "{name}"\n\n'
            f"[callback]\nmin_talk_s = {min_talk_s}\nemployee_ring_timeout_s = {employee_ring_s}\n"
            f'customer_ring_timeout_s = {customer_ring_s}\ncustomer_dial_template = "{customer_template}"\n'
            'caller_id_number = "74950000000"\n\n'
            '[tts]\nengine = "flite"\nvoice = "slt"\nlanguage = "en"\n\n'
            + (f'[metrics]\nenabled = true\nlisten = "127.0.0.1:{metrics_port}"\n\n' if metrics_port
               else "[metrics]\nenabled = false\n\n")
            + f'[log]\nlevel = "DEBUG"\n{extra}'
        )
        return cfg

    def cli(self, cfg: Path, *args: str, ok: bool = True) -> str:
        out = subprocess.run([EXE, "-c", str(cfg), *args], capture_output=True, text=True, timeout=60,
                             env=self.env, cwd=self.dir, check=False)
        if ok:
            assert out.returncode == 0, f"fsworker {' '.join(args)} -> {out.returncode}\n{out.stdout}{out.stderr}"
        return out.stdout

    def run(self, name: str, cfg: Path, *, wait_link: bool = True, metrics: bool = False) -> Proc:
        log = self.dir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen([EXE, "-c", str(cfg), "run", *([] if metrics else ["--no-metrics"])], stdout=out,
                                     stderr=subprocess.STDOUT, env=self.env, start_new_session=True, cwd=self.dir)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        if wait_link:
            wait_for(f"{name}'s ESL link", lambda: "link #1 up" in proc.text(), 30, alive=lambda: proc.alive)
        return proc

    def tasks(self, cfg: Path) -> list[dict[str, Any]]:
        return json.loads(self.cli(cfg, "tasks", "list", "--json"))

    def task_of(self, cfg: Path, number: str) -> dict[str, Any] | None:
        found = [t for t in self.tasks(cfg) if t["customer_number"] == number]
        return json.loads(self.cli(cfg, "tasks", "show", str(found[-1]["id"]), "--json")) if found else None

    def wait_task_done(self, cfg: Path, number: str, timeout: float) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            task = self.task_of(cfg, number)
            return task if task and task["status"] == "done" else None

        try:
            return wait_for(f"the task of {number} to end", done, timeout, every=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\ntask now: {self.task_of(cfg, number)}") from None

    # -- customers -------------------------------------------------------------------------
    def customer(self, number: str, did: str, *, scenario: str = "uac_ring_cancel.xml", hold_ms: int = 4000,
                 name: str | None = None) -> Customer:
        """A customer calls ``did``: rings (or talks, uac_answer_bye.xml) ``hold_ms``, then gives up."""
        sip_port, media_port = sipp_ports()
        n = len(self.customers) + 1
        csv = self.dir / f"caller{n}.csv"
        fields = f"{number};{name};" if name is not None else f"{number};"
        csv.write_text(f"SEQUENTIAL\n{fields}\n", encoding="utf-8")
        messages, out = self.dir / f"caller{n}.msg.log", self.dir / f"caller{n}.out"
        with out.open("wb") as sink:
            popen = subprocess.Popen(
                ["sipp", f"{self.switch.host}:5060", "-sf", str(SIPP_DIR / scenario), "-inf", str(csv),
                 "-s", did, "-i", "127.0.0.1", "-p", str(sip_port), "-mp", str(media_port), "-t", "u1",
                 "-m", "1", "-d", str(hold_ms), "-nostdin", "-pause_msg_ign", "-aa",
                 "-trace_msg", "-message_file", str(messages), "-timeout", "120s"],
                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.dir)
        customer = Customer(number, did, popen, sip_port, messages, out)
        self.customers.append(customer)
        return customer

    def lost_call(self, number: str, did: str, *, ring_ms: int = 4000) -> Customer:
        """A customer who calls ``did``, hears ringing for ``ring_ms`` and hangs up: a lost call."""
        customer = self.customer(number, did, hold_ms=ring_ms)
        rc = customer.wait(timeout=ring_ms / 1000 + 30)
        assert rc == 0, f"SIPp customer {number} exited {rc}:\n{customer.out.read_text(errors='replace')[-2000:]}"
        return customer

    # -- waiting ----------------------------------------------------------------------------
    def until(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        return wait_for(what, check, timeout, every=0.3)

    def quiet(self, numbers: list[str], timeout: float = 30) -> None:
        """No channel of these customers (theirs or fsworker's to them) is up."""
        def none_up() -> bool:
            rows = self.switch.channels()
            return not any(any(n in json.dumps(r) for n in numbers) for r in rows)

        self.until(f"the channels of {numbers} to end", none_up, timeout)

    # -- teardown ---------------------------------------------------------------------------
    def close(self) -> None:
        for proc in self.procs:
            if proc.alive:
                try:
                    os.killpg(proc.pid, 9)
                except ProcessLookupError:
                    pass
            proc.popen.wait(timeout=10)
        for customer in self.customers:
            if customer.popen.poll() is None:
                customer.popen.kill()
            customer.popen.wait(timeout=10)
        numbers = {c.number for c in self.customers}
        try:
            for row in self.switch.channels():
                if any(n in json.dumps(row) for n in numbers):
                    self.switch.esl.api("uuid_kill", row["uuid"])
        except Exception:  # noqa: BLE001 - the switch may be down after a restart test; nothing to clean
            pass
        self.observer.close()

    def report(self, lines: int = 60) -> str:
        out = []
        for proc in self.procs:
            out.append(f"===== {proc.name} (pid {proc.pid}, rc {proc.popen.poll()}) {proc.log} =====")
            out.append(proc.tail(lines))
        for leg in self.observer.legs()[-30:]:
            out.append(f"leg {leg.uuid} {leg.name} cid={leg.caller_id_number} task={leg.task_id} "
                       f"attempt={leg.attempt} role={leg.role} answered={leg.answered} cause={leg.cause}")
        return "\n".join(out)
