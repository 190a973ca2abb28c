"""End-to-end harness: a fake FreeSWITCH on loopback TCP + a real fsworker Service.

The switch and the worker share one ManualClock: the test moves simulated time with
``run_until`` (the fake's timers fire, the worker's due times come), while the real
I/O (ESL over TCP, the database) happens as it would in production.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from datetime import UTC, datetime

import gevent

from fsworker.config.settings import CallbackConfig, Config, DatabaseConfig, MetricsConfig, NodeConfig, WorkerConfig
from fsworker.core.calls import LossPlace
from fsworker.core.clock import ManualClock
from fsworker.core.model import Employee, Group, Rule
from fsworker.service.app import Service
from fsworker.store import migrate
from fsworker.store.repo import Repository
from fsworker.testing.fakeswitch.dialing import CreateOrder
from fsworker.testing.fakeswitch.directory import Behaviour, BridgeRecord
from fsworker.testing.fakeswitch.pbx import FakePBX
from fsworker.testing.fakeswitch.server import FakeSwitchServer

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday
PASSWORD = "ClueCon"
ENV = {"FSWORKER_ESL_PASSWORD": PASSWORD}

EMPLOYEES = {
    "ivanov": ("user/101",),
    "petrov": ("user/102",),
    "sidorov": ("user/103",),
    "secretary": ("user/110",),
    "transfer-target": ("user/105",),
}


class Harness:
    def __init__(self, db_url: str, *, workers: int = 2, min_talk_s: int = 5, nodes: int = 1,
                 customer_ring_timeout_s: int = 30, employee_ring_timeout_s: int = 20,
                 create_order: CreateOrder = CreateOrder.SHUFFLED, seed: int = 17) -> None:
        # Legs rung together start in a shuffled (seeded, repeatable) order, as on a real
        # switch (trace 17): every test runs with CREATE events both in and out of
        # dial-string order. A test that needs one order sets ``pbx.create_order``.
        self.db_url = db_url
        self.clock = ManualClock(START)
        self.servers: list[FakeSwitchServer] = []
        self.pbxs: list[FakePBX] = []
        for i in range(nodes):
            server = FakeSwitchServer(password=PASSWORD, clock=self.clock)
            pbx = FakePBX(server.bus, clock=self.clock, speak_seconds=2.0, create_order=create_order,
                          seed=seed + i)
            server.backend = pbx
            server.start()
            pbx.directory.default = Behaviour.rings()
            self.servers.append(server)
            self.pbxs.append(pbx)
        migrate.upgrade(db_url)
        self.repo = Repository(db_url)
        self.config = Config(
            database=DatabaseConfig(url=db_url),
            nodes=tuple(NodeConfig(name=f"fs{i + 1}", host="127.0.0.1", port=s.port, connect_timeout_s=2,
                                   command_timeout_s=5) for i, s in enumerate(self.servers)),
            worker=WorkerConfig(workers=workers, lease_s=30, poll_interval_s=0.05, shutdown_grace_s=2,
                                worker_id=f"test-{os.getpid()}"),
            callback=CallbackConfig(min_talk_s=min_talk_s, customer_ring_timeout_s=customer_ring_timeout_s,
                                    employee_ring_timeout_s=employee_ring_timeout_s),
            metrics=MetricsConfig(enabled=False),
        )
        self.service: Service | None = None

    @property
    def pbx(self) -> FakePBX:
        return self.pbxs[0]

    # -- configuration ---------------------------------------------------------------
    def add_staff(self, max_lines: int = 3) -> None:
        for name, eps in EMPLOYEES.items():
            self.repo.add(Employee(name=name, endpoints=eps))
        self.repo.add(Group(name="sales", members=("ivanov", "petrov", "sidorov"), max_lines=max_lines))

    def add_rule(self, **kw) -> Rule:  # noqa: ANN003
        kw.setdefault("intervals", (0,))
        kw.setdefault("place", LossPlace.ANY)
        rule = self.repo.add_rule(Rule(**kw))
        if self.service is not None:
            self.service.catalog.invalidate()
        return rule

    # -- running ---------------------------------------------------------------------
    def start(self) -> Service:
        self.service = Service(self.config, clock=self.clock, environ=ENV)
        self.service.start(metrics=False)
        assert self.service.wait_connected(5), "fsworker did not connect to the fake switch"
        return self.service

    def run_until(self, predicate: Callable[[], bool], *, max_sim_s: float = 600, step_s: float = 0.5,
                  real_timeout_s: float = 60) -> bool:
        """Advance simulated time in steps, letting real I/O settle between them."""
        deadline = gevent.get_hub().loop.now() + real_timeout_s
        simulated = 0.0
        while simulated <= max_sim_s and gevent.get_hub().loop.now() < deadline:
            if predicate():
                return True
            for pbx in self.pbxs[:1]:
                pbx.advance(step_s)
            simulated += step_s
            gevent.sleep(0.01)
        return predicate()

    def run_for(self, sim_s: float, *, step_s: float = 0.5, real_timeout_s: float = 60) -> None:
        """Advance simulated time by ``sim_s`` in steps, letting real I/O settle between
        them: for "nothing happens later" checks. Fails if the real-time budget ran out
        first, so such a check never passes having covered less than it claims."""
        deadline = gevent.get_hub().loop.now() + real_timeout_s
        start = self.clock.time()
        covered = 0.0
        while covered < sim_s:
            if gevent.get_hub().loop.now() >= deadline:
                raise AssertionError(
                    f"run_for: covered {covered:g} of {sim_s:g} simulated seconds before the "
                    f"real-time budget ({real_timeout_s:g} s) ran out; the check after it would "
                    f"claim more than was run")
            for pbx in self.pbxs[:1]:
                pbx.advance(min(step_s, sim_s - covered))
            covered = self.clock.time() - start
            gevent.sleep(0.01)

    def settle(self, real_s: float = 0.2) -> None:
        gevent.sleep(real_s)

    def assert_bridged(self, task_id: int, pbx: FakePBX | None = None) -> BridgeRecord:
        """``assert_bridged_on_switch`` with this harness's ``min_talk_s``."""
        return assert_bridged_on_switch(pbx or self.pbx, task_id, min_talk_s=self.config.callback.min_talk_s)

    def tasks(self):  # noqa: ANN201
        assert self.service is not None
        return self.service.queue.list_tasks()

    def task(self, task_id: int):  # noqa: ANN201
        assert self.service is not None
        return self.service.queue.get_task(task_id)

    def close(self) -> None:
        if self.service is not None:
            self.service.stop(grace_s=1)
        for s in self.servers:
            s.stop()
        self.repo.close()

    def lost_call(self, customer: str = "79161234567", did: str = "74950000001", *, ring=None,  # noqa: ANN001
                  hangs_up_after: float = 12, vars: dict[str, str] | None = None, pbx: FakePBX | None = None,
                  **kw) -> str:  # noqa: ANN003
        v = {"fsw_number": did, "fsw_scenario": "sales", "fsw_site": "shop.example.com", "fsw_campaign": "cpc-42"}
        v.update(vars or {})
        ring = [["user/101", "user/102"], ["user/103"]] if ring is None else ring
        return (pbx or self.pbx).inbound_call(customer, did, vars=v, ring=ring, leg_timeout=5,
                                               customer_hangs_up_after=hangs_up_after, **kw)


def replace_callback(h: Harness, **changes) -> None:  # noqa: ANN003
    h.config = dataclasses.replace(h.config, callback=dataclasses.replace(h.config.callback, **changes))


# -- additions for the issue-5 end-to-end suite (additive) ------------------------------
def callback_legs(pbx: FakePBX, task_id: int | None = None, role: str | None = None) -> list:
    """Legs fsworker originated (they carry fsw_task_id), optionally of one task / role,
    in the order the switch created them."""
    out = [leg for leg in pbx.legs.legs if "fsw_task_id" in leg.variables]
    if task_id is not None:
        out = [leg for leg in out if leg.variables.get("fsw_task_id") == str(task_id)]
    if role is not None:
        out = [leg for leg in out if leg.variables.get("fsw_role") == role]
    return out


def assert_bridged_on_switch(pbx: FakePBX, task_id: int, *, min_talk_s: float) -> BridgeRecord:
    """Success as the switch saw it, not as fsworker logged it: the task's last answered
    customer leg was bridged exactly once, to an answered employee leg of the same task
    and attempt, and the bridge (CHANNEL_BRIDGE to CHANNEL_UNBRIDGE) lasted at least
    ``min_talk_s``. Returns that bridge."""
    customers = [leg for leg in callback_legs(pbx, task_id, "customer") if leg.answered]
    assert customers, f"task {task_id}: no customer leg answered on the switch"
    customer = customers[-1]
    assert len(customer.bridges) == 1, \
        f"task {task_id}: customer leg {customer.uuid} was bridged {len(customer.bridges)} times on the switch"
    [bridge] = customer.bridges
    partner = pbx.legs.by_uuid(bridge.partner_of(customer.uuid))
    assert partner is not None and partner.variables.get("fsw_role") == "employee", \
        f"task {task_id}: customer leg {customer.uuid} bridged to {bridge.partner_of(customer.uuid)}, not an employee leg"
    assert partner.variables.get("fsw_task_id") == str(task_id)
    assert partner.variables.get("fsw_attempt") == customer.variables.get("fsw_attempt")
    assert partner.answered
    assert bridge.started_us >= round(partner.answered_at * 1e6)  # type: ignore[operator]
    assert bridge.talk_us is not None, f"task {task_id}: the switch still has the bridge up"
    assert bridge.talk_us >= round(min_talk_s * 1e6), \
        f"task {task_id}: bridged {bridge.talk_us / 1e6:.6f} s on the switch, less than min_talk_s {min_talk_s}"
    return bridge


def dial_groups(legs: list) -> list[list]:
    """Legs grouped by (dial_id, step) in the order the groups started: legs rung together."""
    groups: dict[tuple[int, int], list] = {}
    for leg in legs:
        groups.setdefault((leg.dial_id, leg.step), []).append(leg)
    return list(groups.values())


def hostile_inbound_call(pbx: FakePBX, caller: str, did: str, *, ring: list[str],
                         hangs_up_after: float = 12, uuid: str | None = None) -> str:
    """An inbound call whose caller ID is an arbitrary string (a real switch passes on
    whatever the far end put in From). ``FakePBX.inbound_call`` validates its caller, so
    this builds the same channel and dialplan from the fake's own pieces, unvalidated."""
    from fsworker.testing.fakeswitch.apps import make_app

    with pbx.scheduler.lock:
        ch = pbx._inbound_channel(caller, did, caller, uuid, 5100)  # test-only bypass of its validation
        apps = [("set", f"fsw_number={did}"), ("set", "hangup_after_bridge=true"),
                ("bridge", ",".join(ring))]
        ch.dialplan = [make_app(n, a) for n, a in apps]
        ch.hangup_when_idle = True
        pbx.scheduler.call_later(hangs_up_after, pbx.customer_hangup, ch.uuid)
        pbx.scheduler.call_later(0, pbx.run_next, ch)
    return ch.uuid


class MultiHarness(Harness):
    """A Harness that can start more fsworker Services (another 'process': its own
    worker id, database connections, ESL connection, detector and dispatcher) on the
    same database and fake switch, sharing the ManualClock."""

    def __init__(self, db_url: str, **kw) -> None:
        super().__init__(db_url, **kw)
        self.extra: list[Service] = []

    def start_another(self, worker_id: str, workers: int) -> Service:
        cfg = dataclasses.replace(self.config, worker=dataclasses.replace(
            self.config.worker, worker_id=worker_id, workers=workers))
        svc = Service(cfg, clock=self.clock, environ=ENV)
        svc.start(metrics=False)
        assert svc.wait_connected(5), f"{worker_id} did not connect to the fake switch"
        self.extra.append(svc)
        return svc

    def close(self) -> None:
        for svc in self.extra:
            svc.stop(grace_s=1)
        super().close()


CUSTOMER = "79161234567"
DID = "74950000001"
CUSTOMER_EP = f"sofia/gateway/pstn/{CUSTOMER}"


def take_in(h: Harness, **kw) -> int:  # noqa: ANN003
    """Place a lost call and wait until it became a task; returns the task id."""
    h.lost_call(**kw)
    assert h.run_until(lambda: len(h.tasks()) == 1, max_sim_s=30), "the lost call did not become a task"
    return h.tasks()[0].task_id
