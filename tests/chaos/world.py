"""The chaos tests' telephone world: who answers how fast, the rules, the lost calls,
and the invariants checked after every fault.

Calls come in five kinds, each on company numbers (DIDs) and rules of its own, so that
a single moment finds attempts in every phase of R1:

- ``ringing``  : the employee (user/201) answers only after 8 s: the employee leg rings;
- ``hint``     : user/202 answers at once, the rule's hint is a long text (~7 s of speech);
- ``cust_ring``: user/202, short hint, the customer answers after 6 s: the customer rings;
- ``bridged``  : user/202, short hint, the customer answers at once and talks 16 s
  (longer than a lease, so a dead worker's call is still up for the next to adopt);
- ``claim``    : placed last, the kill comes as soon as its task is active in the DB.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fsworker.core.calls import LossPlace
from fsworker.core.model import Employee, Hint, HintKind, Rule, VirtualNumber
from fsworker.store import migrate
from fsworker.store.repo import Repository
from tests.chaos.procs import Db, FakeSwitch, Leg, wait_for

KINDS = ("ringing", "hint", "cust_ring", "bridged", "claim")
#: rules per kind: a rule takes at most 5 calls at once (R10), a lane is one more rule
LANES = 4


def did(kind: str, lane: int = 0) -> str:
    """The company number of a kind's lane (each has its own rule)."""
    return f"749500{KINDS.index(kind) + 1}{lane % LANES:04d}"

EMPLOYEE = {"ringing": "slow", "hint": "fast", "cust_ring": "fast", "bridged": "fast", "claim": "fast"}
LONG_HINT = ("Автоперезвон. Клиент звонил в отдел продаж и не дождался ответа; "
             "пожалуйста, поздоровайтесь и уточните, чем можно помочь.")
BRIDGED_TALK_S = 16
#: how a customer of each kind answers the callback
CUSTOMER = {
    "ringing": {"after": 0.5, "hangup_after": 3},
    "hint": {"after": 0.5, "hangup_after": 3},
    "cust_ring": {"after": 6, "hangup_after": 3},
    "bridged": {"after": 0.5, "hangup_after": BRIDGED_TALK_S},
    "claim": {"after": 0.5, "hangup_after": 3},
}

_numbers = itertools.count(1)


def setup_db(url: str, *, intervals: tuple[int, ...] = (0, 1, 1, 1, 1)) -> None:
    migrate.upgrade(url)
    repo = Repository(url)
    try:
        repo.add(Employee(name="slow", endpoints=("user/201",)))
        repo.add(Employee(name="fast", endpoints=("user/202",)))
        for kind in KINDS:
            hint = Hint(kind=HintKind.TEXT, text=LONG_HINT) if kind == "hint" else Hint()
            for lane in range(LANES):
                repo.add(VirtualNumber(number=did(kind, lane)))
                repo.add_rule(Rule(name=f"r-{kind}-{lane}", place=LossPlace.NUMBER, place_value=did(kind, lane),
                                   strategy="employee", target=EMPLOYEE[kind], hint=hint, intervals=intervals,
                                   min_wait_s=0, max_concurrent=5))
    finally:
        repo.close()


def script_switch(sw: FakeSwitch) -> None:
    """The employees' behaviour (again after a switch restart: the fake forgets it)."""
    sw.endpoint("user/201", "answer", after=8)
    sw.endpoint("user/202", "answer", after=0.5)
    sw.endpoint("user/299", "ring")


@dataclass
class Call:
    kind: str
    customer: str
    uuid: str = ""


@dataclass
class World:
    """Every lost call injected so far, and what was seen at each fault."""

    calls: list[Call] = field(default_factory=list)
    #: customer legs bridged when their worker died: uuid -> (task id, time of the fault)
    bridged_at_fault: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    #: customer legs seen bridged (uuid -> switch time), accumulated over polls
    bridged: dict[str, float] = field(default_factory=dict)

    def new_customer(self, kind: str) -> str:
        n = next(_numbers)
        return f"7916{KINDS.index(kind)}{n:06d}"

    def lose(self, sw: FakeSwitch, kind: str, lane: int = 0, *, talk_s: float | None = None) -> Call:
        """A customer calls the kind's DID and hangs up before anyone answered;
        ``talk_s``: how long they talk when called back (else as the kind does)."""
        call = Call(kind, self.new_customer(kind))
        answer = CUSTOMER[kind] if talk_s is None else {**CUSTOMER[kind], "hangup_after": talk_s}
        sw.endpoint(call.customer, "answer", **answer)
        call.uuid = sw.call(call.customer, did(kind, lane))
        self.calls.append(call)
        return call

    def observe(self, legs: list[Leg]) -> None:
        for leg in legs:
            if leg.bridged_at is not None:
                self.bridged.setdefault(leg.uuid, leg.bridged_at)


def phase_of(task: dict[str, Any] | None, legs: list[Leg]) -> str | None:
    """Where the call's callback is now, as seen from the switch and the database."""
    if task is None:
        return None
    mine = [leg for leg in legs if leg.task_id == task["id"] and leg.up]
    cust = [leg for leg in mine if leg.role == "customer"]
    emp = [leg for leg in mine if leg.role == "employee"]
    if any(leg.bridged_at for leg in cust):
        return "bridged"
    if any(leg.ringing for leg in cust):
        return "cust_ring"
    if any(leg.answered_at and leg.app == "speak" for leg in emp):
        return "hint"
    if any(leg.ringing for leg in emp):
        return "ringing"
    if task["status"] == "active":
        return "claim"
    return None


# -- invariants --------------------------------------------------------------------
def check_world(world: World, db: Db, sw: FakeSwitch, *, allow_pending: bool = False,
                reasons: frozenset[str] = frozenset({"success"})) -> list[str]:
    """Everything the issue asks to hold after faults; returns human-readable facts
    (the caller prints them) and raises AssertionError listing every violation."""
    problems: list[str] = []
    now, legs = sw.legs()
    tasks = {t["id"]: t for t in db.tasks()}
    attempts = db.attempts()
    lost = {r["call_uuid"]: r for r in db.lost_calls()}
    by_customer: dict[str, list[dict[str, Any]]] = {}
    for t in tasks.values():
        by_customer.setdefault(t["customer_number"], []).append(t)

    # none lost, none doubled
    for call in world.calls:
        row = lost.get(call.uuid)
        if row is None:
            problems.append(f"lost call {call.uuid} ({call.kind}, {call.customer}) never recorded")
        elif row["task_id"] is None:
            problems.append(f"lost call {call.uuid} ({call.kind}) has no task: skip {row['skip_reason']}")
        if len(by_customer.get(call.customer, [])) != 1:
            problems.append(f"customer {call.customer} ({call.kind}) has tasks {by_customer.get(call.customer)}")

    # every task in a correct state; no attempt in flight
    utcnow = datetime.now(UTC)
    for t in tasks.values():
        if t["status"] == "done":
            if t["end_reason"] not in reasons:
                problems.append(f"task {t['id']} ({t['rule_name']}) ended {t['end_reason']}, "
                                f"not one of {sorted(reasons)}")
        elif t["status"] == "pending" and allow_pending:
            if t["lease_owner"] is not None:
                problems.append(f"task {t['id']} pending but leased to {t['lease_owner']}")
        else:
            problems.append(f"task {t['id']} is {t['status']} (due {t['due_at']}, lease {t['lease_owner']}) "
                            f"at {utcnow:%H:%M:%S}")
    for a in attempts:
        if a["ended_at"] is None or a["outcome"] is None:
            problems.append(f"attempt {a['id']} of task {a['task_id']} still in flight: {a}")

    # no customer ever rung by two legs at once
    cust_legs = [leg for leg in legs if leg.role == "customer"]
    by_dest: dict[str, list[Leg]] = {}
    for leg in cust_legs:
        by_dest.setdefault(leg.destination, []).append(leg)
    for dest, group in by_dest.items():
        for a, b in itertools.combinations(group, 2):
            if a.overlaps(b, now):
                problems.append(f"customer {dest} rung twice at once: {a.uuid} (task {a.task_id} attempt "
                                f"{a.attempt}, {a.started_at:.2f}-{a.ended_at}) and {b.uuid} (task {b.task_id} "
                                f"attempt {b.attempt}, {b.started_at:.2f}-{b.ended_at})")

    # a new attempt never dials while a leg of an earlier attempt of its task is up
    by_task: dict[int, list[Leg]] = {}
    for leg in legs:
        if leg.task_id is not None:
            by_task.setdefault(leg.task_id, []).append(leg)
    for task_id, group in by_task.items():
        for a, b in itertools.combinations(group, 2):
            if a.attempt != b.attempt and a.overlaps(b, now):
                problems.append(f"task {task_id}: leg {b.uuid} ({b.role}, attempt {b.attempt}) started while "
                                f"{a.uuid} ({a.role}, attempt {a.attempt}) was up: {_span(a)} and {_span(b)}")

    # a call bridged when its worker died, and still up when the next worker took the
    # task, is adopted: never dialled again, its outcome recorded from its talk time
    notes: list[str] = []
    for cust_uuid, (task_id, fault_at) in world.bridged_at_fault.items():
        leg = next((g for g in legs if g.uuid == cust_uuid), None)
        if leg is None:
            problems.append(f"task {task_id}: bridged leg {cust_uuid} unknown to the switch")
            continue
        later = [a for a in attempts if a["task_id"] == task_id and _utc(a["started_at"]) > fault_at]
        end = leg.ended_at if leg.ended_at is not None else now
        # the adopter: a worker that took the task while the call was up and lived to see it end
        adopter = next((a for a in later if _utc(a["started_at"]).timestamp() < end - 0.5
                        and a["outcome"] not in (None, "lease_lost")), None)
        again = [g for g in by_task.get(task_id, []) if g.role == "customer" and g.started_at > leg.started_at]
        if adopter is None:
            # Nobody could follow it; but the bridge was recorded as it happened (unless
            # the kill fell between the bridge and that write): the customer was reached
            # and must not be rung again.
            recorded = [a for a in attempts if a["task_id"] == task_id and a["bridged_at"] is not None
                        and _utc(a["bridged_at"]) <= fault_at]
            if recorded and again:
                problems.append(f"task {task_id}: customer bridged (recorded at {recorded[0]['bridged_at']}) "
                                f"in call {cust_uuid}, which ended unwatched, was rung again: "
                                f"{[(g.uuid, g.attempt, g.started_at) for g in again]}")
            notes.append(f"task {task_id}: bridged call {cust_uuid} ended while no worker watched it; "
                         + ("its bridge was recorded, not rung again" if recorded and not again
                            else "its bridge was not recorded yet" if not recorded else "rung again"))
            continue
        if again:
            problems.append(f"task {task_id}: bridged call {cust_uuid} (up at the fault and when the task was "
                            f"taken) was dialled again: {[(g.uuid, g.attempt, g.started_at) for g in again]}")
        if adopter["outcome"] != "success" or not (adopter["talk_s"] or 0) > 0:
            problems.append(f"task {task_id}: the adopted call's outcome is {adopter['outcome']} "
                            f"talk {adopter['talk_s']}, not success with its talk time")
        notes.append(f"task {task_id}: bridged call {cust_uuid} adopted")

    up = [leg for leg in legs if leg.up]
    if up:
        problems.append(f"legs still up at the end: {[(g.uuid, g.role, g.task_id, g.endpoint) for g in up]}")
    if problems:
        t0 = min((g.started_at for g in legs), default=0.0)
        bad = sorted({int(m) for p in problems for m in re.findall(r"task (\d+)", p)})
        for task_id in bad:
            notes.append(f"-- task {task_id}: {tasks.get(task_id)}")
            notes += [f"   leg {g.uuid[:8]} {g.role} att {g.attempt} {g.endpoint} start {g.started_at - t0:.2f} "
                      f"answer {_rel(g.answered_at, t0)} bridged {_rel(world.bridged.get(g.uuid), t0)} "
                      f"end {_rel(g.ended_at, t0)} {g.cause or ''}" for g in by_task.get(task_id, [])]
            notes += [f"   attempt {a['attempt_no']} by {a['worker']} {_utc(a['started_at']).timestamp() - t0:.2f}"
                      f"..{_rel(a['ended_at'] and _utc(a['ended_at']).timestamp(), t0)} {a['outcome']} "
                      f"{a['detail']} talk {a['talk_s']}" for a in attempts if a["task_id"] == task_id]
    assert not problems, "\n".join(problems + notes)
    return notes + [f"{len(tasks)} tasks, {len(attempts)} attempts, {len(legs)} legs, "
            f"outcomes {sorted({a['outcome'] for a in attempts})}"]


def _span(leg: Leg) -> str:
    """A leg's start and end on the switch clock, to the µs the switch stamps them with."""
    return f"{leg.started_at:.6f}-{'up' if leg.ended_at is None else format(leg.ended_at, '.6f')}"


def _rel(t: float | None, t0: float) -> str:
    return "-" if t is None else f"{t - t0:.2f}"


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def settle(db: Db, sw: FakeSwitch, timeout: float, alive: Callable[[], bool]) -> None:
    """Wait until every task is done and no leg is up; on timeout say what is not."""
    try:
        wait_for("every task done and no leg up", lambda: all_settled(db, sw), timeout, every=0.5, alive=alive)
    except AssertionError as exc:
        open_tasks = [t for t in db.tasks() if t["status"] != "done"]
        attempts = db.attempts()
        lines = [str(exc), "not done:"]
        for t in open_tasks:
            lines.append(f"  task {t['id']} {t['rule_name']} {t['status']} attempt {t['attempt_no']} "
                         f"lease {t['lease_owner']} due {t['due_at']:%H:%M:%S}")
            lines += [f"    attempt {a['attempt_no']} {a['worker']} {a['started_at']:%H:%M:%S.%f}.."
                      f"{a['ended_at'] and format(a['ended_at'], '%H:%M:%S.%f')} {a['outcome']} {a['detail']}"
                      for a in attempts if a["task_id"] == t["id"]]
        lines += ["legs up:"] + [f"  {g.uuid} {g.role} task {g.task_id} att {g.attempt} {g.endpoint} "
                                 f"answered={g.answered_at is not None} app={g.app} bridged_to={g.bridged_to}"
                                 for g in sw.up()]
        raise AssertionError("\n".join(lines)) from None


def all_settled(db: Db, sw: FakeSwitch) -> bool:
    """Every task done and no leg up on the switch."""
    tasks = db.tasks()
    return bool(tasks) and all(t["status"] == "done" for t in tasks) and not sw.up()
