"""Harness for the real-switch tier: a real FreeSWITCH, SIPp phones and customers,
`fsworker run` as a subprocess.

Rules:
- fsworker runs only through its console script, each process in its own session, with
  its own TOML file; its database is read through the CLI (`tasks show --json`), as an
  operator would.
- What happened on the switch is read from the switch: a second, independent ESL
  connection records the channel events of this test (``observer.Observer``), and ``api``
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.chaos.procs import EslClient, Proc, wait_for
from tests.realswitch.observer import Observer

EXE = str(Path(sys.executable).with_name("fsworker"))
DATA = Path(__file__).resolve().parents[1] / "data" / "realswitch"
SIPP_DIR = DATA / "sipp"
PHONES = {5071: "answers after 1 s", 5072: "rings forever", 5073: "busy (486)",
          5074: "customer phone, answers after 2 s", 5075: "answers, then blind-transfers (REFER)"}

def unique_number(prefix: str = "7916") -> str:
    """A customer number of 11 digits no other test run uses."""
    return prefix + f"{random.randrange(10**7):07d}"


@dataclass
class RealSwitch:
    host: str
    port: int
    password: str
    esl: EslClient
    sip_port: int = 5060  #: its SIP profile ``internal``, where customers call (``check_ready`` asks it)

    @classmethod
    def from_env(cls, value: str) -> RealSwitch:
        host, _, port = value.rpartition(":")
        password = os.environ.get("FSWORKER_REAL_SWITCH_PASSWORD", "ClueCon")
        return cls(host or "127.0.0.1", int(port), password, EslClient(int(port), host or "127.0.0.1", password))

    def check_ready(self) -> None:
        """The switch answers and the SIPp phones listen; else one clear failure, not a dozen."""
        status = self.esl.ok("status")
        assert status.startswith("UP"), f"the switch at {self.host}:{self.port} is not up: {status!r}"
        # conf/vars.xml sets it; start.sh gives a second switch another (README, "Real-switch tests")
        sip_port = self.esl.ok("global_getvar", "internal_sip_port").strip()
        assert sip_port.isdigit(), f"the switch at {self.host}:{self.port} has no internal_sip_port: {sip_port!r}"
        self.sip_port = int(sip_port)
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


@dataclass(frozen=True)
class Node:
    """A ``[[node]]`` of fsworker's configuration: one of the lab's switches."""

    name: str
    switch: RealSwitch
    failover: bool = False

    def toml(self) -> str:
        return (f'[[node]]\nname = "{self.name}"\nhost = "{self.switch.host}"\nport = {self.switch.port}\n'
                'password_env = "FSWORKER_ESL_PASSWORD"\nconnect_timeout_s = 3.0\ncommand_timeout_s = 10.0\n'
                + ("failover = true\n" if self.failover else "") + "\n")


@dataclass
class Lab:
    """One test's world: the switch (shared), an observer, fsworker processes, customers;
    with ``switch2``, a second switch and its own observer (``observer2``)."""

    dir: Path
    switch: RealSwitch
    switch2: RealSwitch | None = None
    procs: list[Proc] = field(default_factory=list)
    customers: list[Customer] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FSWORKER_")}
        self.env["FSWORKER_ESL_PASSWORD"] = self.switch.password
        self.env["PYTHONUNBUFFERED"] = "1"
        self.observer = Observer(self.switch.host, self.switch.port, self.switch.password)
        self.observer2 = (Observer(self.switch2.host, self.switch2.port, self.switch2.password)
                          if self.switch2 is not None else None)

    @property
    def sides(self) -> list[tuple[RealSwitch, Observer]]:
        """Each switch of the lab with its observer."""
        out = [(self.switch, self.observer)]
        if self.switch2 is not None and self.observer2 is not None:
            out.append((self.switch2, self.observer2))
        return out

    # -- fsworker ------------------------------------------------------------------------
    def config(self, name: str, *, db_url: str, workers: int = 4, min_talk_s: int = 2,
               employee_ring_s: int = 8, customer_ring_s: int = 10,
               customer_template: str = "sofia/internal/{number}@127.0.0.1:5074",
               metrics_port: int | None = None, extra: str = "", nodes: list[Node] | None = None) -> Path:
        cfg = self.dir / f"{name}.toml"
        nodes = nodes if nodes is not None else [Node("real", self.switch)]
        cfg.write_text(
            f'[database]\nurl = "{db_url}"\n\n'
            + "".join(node.toml() for node in nodes)
            + f"[worker]\nworkers = {workers}\nlease_s = 60\npoll_interval_s = 0.2\nshutdown_grace_s = 5\n"
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

    def run(self, name: str, cfg: Path, *, wait_link: bool = True, metrics: bool = False, links: int = 1) -> Proc:
        log = self.dir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen([EXE, "-c", str(cfg), "run", *([] if metrics else ["--no-metrics"])], stdout=out,
                                     stderr=subprocess.STDOUT, env=self.env, start_new_session=True, cwd=self.dir)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        if wait_link:  # one line per node: "ESL host:port: link #1 up"
            wait_for(f"{name}'s ESL links", lambda: proc.text().count("link #1 up") >= links, 30,
                     alive=lambda: proc.alive)
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
                 name: str | None = None, switch: RealSwitch | None = None) -> Customer:
        """A customer calls ``did`` on ``switch`` (the first): rings (or talks,
        uac_answer_bye.xml) ``hold_ms``, then gives up."""
        switch = switch or self.switch
        sip_port, media_port = sipp_ports()
        n = len(self.customers) + 1
        csv = self.dir / f"caller{n}.csv"
        fields = f"{number};{name};" if name is not None else f"{number};"
        csv.write_text(f"SEQUENTIAL\n{fields}\n", encoding="utf-8")
        messages, out = self.dir / f"caller{n}.msg.log", self.dir / f"caller{n}.out"
        with out.open("wb") as sink:
            popen = subprocess.Popen(
                ["sipp", f"{switch.host}:{switch.sip_port}", "-sf", str(SIPP_DIR / scenario), "-inf", str(csv),
                 "-s", did, "-i", "127.0.0.1", "-p", str(sip_port), "-mp", str(media_port), "-t", "u1",
                 "-m", "1", "-d", str(hold_ms), "-nostdin", "-pause_msg_ign", "-aa",
                 "-trace_msg", "-message_file", str(messages), "-timeout", "120s"],
                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.dir)
        for _, observer in self.sides:
            observer.numbers.add(number)
        customer = Customer(number, did, popen, sip_port, messages, out)
        self.customers.append(customer)
        return customer

    def lost_call(self, number: str, did: str, *, ring_ms: int = 4000, switch: RealSwitch | None = None) -> Customer:
        """A customer who calls ``did``, hears ringing for ``ring_ms`` and hangs up: a lost call."""
        customer = self.customer(number, did, hold_ms=ring_ms, switch=switch)
        rc = customer.wait(timeout=ring_ms / 1000 + 30)
        assert rc == 0, f"SIPp customer {number} exited {rc}:\n{customer.out.read_text(errors='replace')[-2000:]}"
        return customer

    # -- waiting ----------------------------------------------------------------------------
    def until(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        return wait_for(what, check, timeout, every=0.3)

    def quiet(self, numbers: list[str], timeout: float = 30) -> None:
        """No channel of these customers (theirs or fsworker's to them) is up."""
        def none_up() -> bool:
            rows = [row for sw, _ in self.sides for row in sw.channels()]
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
        for switch, observer in self.sides:
            try:
                for row in switch.channels():
                    if any(n in json.dumps(row) for n in numbers):
                        switch.esl.api("uuid_kill", row["uuid"])
            except Exception:  # noqa: BLE001 - the switch may be down after a restart test; nothing to clean
                pass
            observer.close()

    def report(self, lines: int = 60) -> str:
        out = []
        for proc in self.procs:
            out.append(f"===== {proc.name} (pid {proc.pid}, rc {proc.popen.poll()}) {proc.log} =====")
            out.append(proc.tail(lines))
        for switch, observer in self.sides:
            out.append(f"===== legs on the switch at {switch.host}:{switch.port} =====")
            for leg in observer.legs()[-30:]:
                out.append(f"leg {leg.uuid} {leg.name} cid={leg.caller_id_number} task={leg.task_id} "
                           f"attempt={leg.attempt} role={leg.role} answered={leg.answered} cause={leg.cause}")
        return "\n".join(out)
