"""``fsworker demo``: the whole product on one machine in about a minute.

Rules: nothing here is special-cased in the product. The demo starts the built-in fake
FreeSWITCH on a loopback port, a real fsworker Service connected to it over ESL with
the embedded SQLite store, loads a sample configuration through the same repository
the CLI uses, and plays scripted traffic on the fake switch in compressed time (the
switch and the worker share one clock that runs ``speed`` times faster than the wall
clock). The funnel printed at the end is read back from the database.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import gevent

from fsworker.cli.funnel_view import funnel_lines
from fsworker.config.settings import CallbackConfig, Config, DatabaseConfig, MetricsConfig, NodeConfig, WorkerConfig
from fsworker.core.calls import LossPlace
from fsworker.core.clock import ManualClock
from fsworker.core.funnel import Funnel
from fsworker.core.model import BlacklistEntry, Employee, Group, Hint, HintKind, Rule, Scenario, Schedule
from fsworker.core.schedule import parse_weekly

log = logging.getLogger(__name__)

DEMO_START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday, 12:00 in Moscow
PASSWORD = "ClueCon"

# Phones: employees pick up after 8 s; a customer who waits less is a lost call.
STAFF = {
    "Anna (sales)": "user/101",
    "Boris (sales)": "user/102",
    "Vera (sales)": "user/103",
    "Olga (secretary)": "user/110",
    "Pavel (manager)": "user/105",
}


@dataclass(frozen=True)
class Step:
    at_s: float  #: simulated seconds from the start
    label: str
    action: Callable[[DemoRun], None]


class DemoRun:
    def __init__(self, *, speed: float, out: TextIO, workdir: Path) -> None:
        from fsworker.testing.fakeswitch.directory import Behaviour
        from fsworker.testing.fakeswitch.pbx import FakePBX
        from fsworker.testing.fakeswitch.server import FakeSwitchServer

        self.out = out
        self.speed = speed
        self.clock = ManualClock(DEMO_START)
        self.server = FakeSwitchServer(password=PASSWORD, clock=self.clock)
        self.pbx = FakePBX(self.server.bus, clock=self.clock, speak_seconds=2.0)
        self.server.backend = self.pbx
        self.server.start()
        d = self.pbx.directory
        d.default = Behaviour.rings()
        for ep in ("user/101", "user/102", "user/103", "user/110"):
            d.set(ep, Behaviour.answers(after=8))
        d.set("user/105", Behaviour.rings())  # the manager never takes transferred calls
        self.Behaviour = Behaviour
        self.db_url = f"sqlite:///{workdir / 'demo.sqlite3'}"
        self.config = Config(
            database=DatabaseConfig(url=self.db_url),
            nodes=(NodeConfig(name="fake-fs", host="127.0.0.1", port=self.server.port),),
            worker=WorkerConfig(workers=4, lease_s=60, poll_interval_s=0.05, shutdown_grace_s=5, worker_id="demo"),
            callback=CallbackConfig(min_talk_s=5, employee_ring_timeout_s=20, customer_ring_timeout_s=25),
            metrics=MetricsConfig(enabled=True, listen="127.0.0.1:0"),
        )
        self.started_real = time.monotonic()

    # -- setup -----------------------------------------------------------------------
    def load_configuration(self) -> None:
        from fsworker.store import migrate
        from fsworker.store.repo import Repository

        migrate.upgrade(self.db_url)
        repo = Repository(self.db_url)
        for name, ep in STAFF.items():
            repo.add(Employee(name=name, endpoints=(ep,)))
        repo.add(Group(name="sales", members=("Anna (sales)", "Boris (sales)", "Vera (sales)"), max_lines=2))
        repo.add(Schedule(name="office hours", timezone="Europe/Moscow",
                          windows=parse_weekly("mon-fri 09:00-21:00; sat 10:00-16:00")))
        repo.add(Schedule(name="always", timezone="Europe/Moscow", windows=parse_weekly("daily 00:00-24:00")))
        repo.add(Scenario(name="support", extension="support", context="default"))
        repo.add(Scenario(name="ivr", extension="ivr-main", context="default"))
        repo.add_blacklist(BlacklistEntry(number="79990000000", reason="known spammer"))
        rules = [
            Rule(name="lost in a transfer", place=LossPlace.TRANSFER, strategy="last_waiting_phase",
                 intervals=(30,), callback_schedule="office hours", max_concurrent=2),
            Rule(name="support queue", place=LossPlace.SCENARIO, place_value="support", strategy="employee",
                 target="Olga (secretary)", intervals=(30, 60), callback_schedule="office hours",
                 hint=Hint(kind=HintKind.TEXT, text="Перезвон клиенту {{ customer_digits }} из очереди поддержки")),
            Rule(name="IVR drop-outs", place=LossPlace.SCENARIO, place_value="ivr", strategy="last_attempted",
                 intervals=(30,)),
            Rule(name="sales", place=LossPlace.ANY, strategy="group", target="sales", min_wait_s=5,
                 intervals=(30, 60, 60), callback_schedule="office hours", applies_schedule="always",
                 max_concurrent=2,
                 hint=Hint(kind=HintKind.TEXT, text="Автоперезвон. Клиент с сайта {{ site }}")),
        ]
        for rule in rules:
            repo.add_rule(rule)
        repo.close()
        self.say(f"configuration: {len(STAFF)} employees, 1 group, 2 schedules, {len(rules)} rules, 1 blacklisted number")

    def start(self) -> None:
        from fsworker.service.app import Service

        self.service = Service(self.config, clock=self.clock, environ={"FSWORKER_ESL_PASSWORD": PASSWORD})
        self.service.start()
        if not self.service.wait_connected(10):
            raise RuntimeError("fsworker could not connect to the fake switch")
        self.pbx.run_realtime(self.speed)
        host, port = self.service.metrics_server.address if self.service.metrics_server else ("-", 0)
        self.metrics_url = f"http://{host}:{port}/metrics"
        self.say(f"fake FreeSWITCH on 127.0.0.1:{self.server.port}; fsworker connected; metrics on {self.metrics_url}")

    # -- traffic -----------------------------------------------------------------------
    def call(self, customer: str, *, did: str = "74950000001", scenario: str = "sales",
             site: str = "shop.example.com", ring: list[list[str]] | None = None, hangs_up_after: float = 12,
             queue: str | None = None) -> str:
        v = {"fsw_number": did, "fsw_scenario": scenario, "fsw_site": site, "fsw_campaign": "cpc-42"}
        return self.pbx.inbound_call(customer, did, vars=v, ring=ring if ring is not None else [["user/101", "user/102"]],
                                     leg_timeout=30, customer_hangs_up_after=hangs_up_after, queue=queue)

    def customer_phone(self, number: str, behaviour: object) -> None:
        self.pbx.directory.set(f"sofia/gateway/pstn/{number}", behaviour)  # type: ignore[arg-type]

    def script(self) -> list[Step]:
        B = self.Behaviour
        return [
            Step(0, "79161234567 calls sales, hangs up after 6 s: lost; will answer the callback",
                 lambda r: (r.customer_phone("79161234567", B.answers(after=4, hangup_after=40)),
                            r.call("79161234567", hangs_up_after=6))),
            Step(5, "79162222222 hangs up after 2 s: too short to call back (min wait 5 s)",
                 lambda r: r.call("79162222222", hangs_up_after=2)),
            Step(10, "79990000000 (blacklisted) hangs up after 7 s",
                 lambda r: r.call("79990000000", hangs_up_after=7)),
            Step(15, "79163333333 hangs up after 7 s; busy at the first callback, answers the second",
                 lambda r: (r.customer_phone("79163333333", B.busy()), r.call("79163333333", hangs_up_after=7))),
            Step(20, "79164444444 hangs up after 6 s and never answers callbacks",
                 lambda r: (r.customer_phone("79164444444", B.rings()), r.call("79164444444", hangs_up_after=6))),
            Step(25, "79165555555 waits in the support queue 20 s and gives up",
                 lambda r: (r.customer_phone("79165555555", B.answers(after=3, hangup_after=30)),
                            r.call("79165555555", did="74950000003", scenario="support", site="help.example.com",
                                   ring=[], queue="support@default", hangs_up_after=20))),
            Step(30, "79166666666 is answered by Anna, transferred to Pavel who never picks up; hangs up",
                 lambda r: r.transfer_call()),
            Step(35, "79167777777 drops out of the IVR before any employee rang",
                 lambda r: (r.customer_phone("79167777777", B.answers(after=2, hangup_after=30)),
                            r.call("79167777777", did="74950000009", scenario="ivr", ring=[], hangs_up_after=8))),
            Step(40, "79168888888 hangs up after 6 s ... and calls again at once and is answered (no callback)",
                 lambda r: (r.customer_phone("79168888888", B.answers(after=2, hangup_after=30)),
                            r.call("79168888888", hangs_up_after=6))),
            Step(47, "79168888888 calls again and Anna answers", lambda r: r.call("79168888888", hangs_up_after=25)),
            Step(75, "79163333333's phone is free now", lambda r: r.customer_phone(
                "79163333333", B.answers(after=3, hangup_after=30))),
        ]

    def transfer_call(self) -> None:
        self.customer_phone("79166666666", self.Behaviour.answers(after=3, hangup_after=30))
        v = {"fsw_number": "74950000004", "fsw_scenario": "manager", "fsw_site": "shop.example.com"}
        uuid = self.pbx.inbound_call("79166666666", "74950000004", vars=v, ring=[["user/101"]], leg_timeout=30,
                                     customer_hangs_up_after=30)
        self.pbx.add_extension("74950000005", ring=[["user/105"]], leg_timeout=30)
        # Anna answers after 8 s, talks 4 s, then transfers the customer to the manager.
        self.pbx.scheduler.call_later(12, lambda: self.pbx.transfer_call(uuid, "74950000005"))

    # -- running -----------------------------------------------------------------------
    def sim_s(self) -> float:
        return self.clock.time() - DEMO_START.timestamp()

    def say(self, text: str) -> None:
        self.out.write(f"[{self._stamp()}] {text}\n")
        self.out.flush()

    def _stamp(self) -> str:
        s = max(0, int(self.clock.time() - DEMO_START.timestamp()))
        return f"+{s // 60:02d}:{s % 60:02d}"

    def progress(self) -> str:
        f = self.service.observer.funnel
        skipped = sum(v for k, v in f.items() if k.startswith("skipped:"))
        counts = self.service.queue.counts()
        return (f"lost {f.get('lost', 0)} | skipped {skipped} | tasks {f.get('task_created', 0)} "
                f"(pending {counts.pending}, calling {counts.active}) | attempts {f.get('attempts', 0)} | "
                f"bridged {f.get('bridged', 0)}")

    def play(self, *, until_s: float) -> None:
        steps = self.script()
        last_progress = ""
        last_print = 0.0
        while True:
            now = self.sim_s()
            while steps and steps[0].at_s <= now:
                step = steps.pop(0)
                self.say(step.label)
                step.action(self)
            counts = self.service.queue.counts()
            line = self.progress()
            if line != last_progress and time.monotonic() - last_print > 1.0:
                self.say(line)
                last_progress, last_print = line, time.monotonic()
            if not steps and now > 60 and counts.pending == 0 and counts.active == 0:
                break
            if now > until_s:
                self.say("time is up")
                break
            gevent.sleep(0.05)

    def funnel(self) -> Funnel:
        """What the run left in the database, as ``fsworker stats --since all`` shows it."""
        from fsworker.store.stats import FunnelReader

        reader = FunnelReader(self.db_url)
        try:
            return reader.funnel()
        finally:
            reader.close()

    def switch_bridges(self) -> int:
        """Callbacks the fake switch itself bridged for at least min_talk_s: what the
        "bridged (success)" row, which fsworker counts, must agree with."""
        min_talk_us = round(self.service.config.callback.min_talk_s * 1e6)
        ours = {r.uuid for r in self.pbx.legs.legs if "fsw_task_id" in r.variables}
        return sum(1 for b in self.pbx.legs.bridges()
                   if {b.a_uuid, b.b_uuid} <= ours and (b.talk_us or 0) >= min_talk_us)

    def scrape(self) -> list[str]:
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=5) as resp:  # noqa: S310 - loopback
                text = resp.read().decode()
        except OSError as exc:
            return [f"(metrics not reachable: {exc})"]
        wanted = ("fsworker_lost_calls_total", "fsworker_skips_total", "fsworker_attempts_total",
                  "fsworker_callbacks_succeeded_total")
        # Counters start at 0 for every label value; show the ones that moved.
        return [line for line in text.splitlines()
                if line.startswith(wanted) and not line.endswith(" 0.0")]

    def stop(self) -> None:
        self.pbx.scheduler.stop_realtime()
        service = getattr(self, "service", None)
        if service is not None:
            service.stop(grace_s=2)
        self.server.stop()


def run_demo(*, quick: bool = False, out: TextIO = sys.stdout, keep: str | None = None) -> int:
    speed = 30.0 if quick else 6.0
    workdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="fsworker-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    out.write(f"fsworker demo: fake FreeSWITCH + SQLite in {workdir}, time runs {speed:g}x\n")
    run = DemoRun(speed=speed, out=out, workdir=workdir)
    try:
        run.load_configuration()
        run.start()
        run.play(until_s=900)
        out.write("\nFunnel (the same table as `fsworker stats --since all` on the demo's database)\n")
        for line in funnel_lines(run.funnel()):
            out.write(f"{line}\n")
        # what fsworker counts as bridged, held against the fake switch's own record
        out.write(f"\n  bridged on the switch  {run.switch_bridges()}\n")
        out.write(f"\nMetrics were served at {run.metrics_url} (and /healthz); a scrape at the end:\n")
        for line in run.scrape():
            out.write(f"  {line}\n")
        exe = sys.argv[0] if sys.argv and sys.argv[0].endswith("fsworker") else "fsworker"
        db = f"sqlite:///{workdir / 'demo.sqlite3'}"
        out.write(f"\nThe database is kept in {workdir / 'demo.sqlite3'}; look around with\n"
                  f"  {exe} --db {db} tasks list\n"
                  f"  {exe} --db {db} tasks show 1\n"
                  f"  {exe} --db {db} stats --since all\n"
                  f"  {exe} --db {db} rules list\n")
        bridged = run.service.observer.funnel.get("bridged", 0)
        return 0 if bridged > 0 else 1
    finally:
        run.stop()
