"""The worker pool: claims due tasks and runs their attempts on the switches.

Rules:
- What an attempt dials (plan, customer endpoint, caller ID, hint), or why it dials
  nothing, is decided by fsworker.core.attempt.prepare_attempt; this module claims,
  schedules, records and watches.
- The database decides who dials what: a task is worked on only under a lease claimed
  from the store (D3), renewed by a heartbeat; the per-rule cap (R10), the master switch
  (R16) and one attempt per customer (D1) are enforced by the claim, not here.
- No polling for due work (duewaker.py): an idle claimer sleeps until the next due
  time or lease expiry, and is woken by a lost call taken in, an attempt ending, or
  (PostgreSQL) another process's task change; ``poll_s`` is only the backstop.
- One claimer per process takes due tasks in batches (one statement for up to as many
  tasks as there are free attempt slots) and runs each attempt in its own greenlet, at
  most ``workers`` at once: 1,000 due tasks are started in a few statements, not 1,000.
- A task an earlier worker lost mid-attempt (``recover_legs``) is looked for on the
  switches before anything is dialled (recovery.py): a bridged call is adopted, other
  legs are hung up, and nobody is rung twice at once.
- A cancelled task (rule deleted R15, contact made R17) is noticed through the
  heartbeat or the contact log; an attempt in flight then does not go on to ring the
  customer.
- Stop (SIGTERM): claim nothing more; an attempt that has not rung anyone yet, or would
  start ringing the customer with too little grace left to finish, is given back at
  once; the others finish within the grace period; then what is left is given back to
  the store (not counted), a bridged call left talking for the next worker to adopt.
- Every log line names the task id (and the call UUIDs the flow logs).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import gevent
import gevent.event
import gevent.pool

from fsworker.core.attempt import AttemptSettings, NotDialled, NotDialledReason, prepare_attempt
from fsworker.core.calls import LostCall
from fsworker.core.catalog import Catalog
from fsworker.core.clock import Clock, SystemClock
from fsworker.core.detector.employees import EmployeeResolver
from fsworker.core.errors import ValidationError
from fsworker.core.nodes import NodeState, choose_node
from fsworker.core.numbers import validate_number
from fsworker.core.outcomes import AttemptOutcome, HintFallback, TaskEndReason
from fsworker.core.planner import ScheduleNeverOpensError, after_attempt
from fsworker.core.prompts import PromptSettings
from fsworker.core.recovery import Action, FoundLeg, RecoveryError, decide
from fsworker.core.strategies import DialSettings
from fsworker.esl.proto import commands
from fsworker.service.callflow import PHASE_CUSTOMER, AttemptRequest, AttemptResult, CallFlow, LeaveBridgedUp
from fsworker.service.duewaker import DueWaker, TaskChangeListener
from fsworker.service.leg_search import find_task_legs
from fsworker.store.claim import ClaimedTask
from fsworker.store.errors import LeaseLostError, StoreError
from fsworker.store.queue import AttemptInputs, TaskQueue

log = logging.getLogger(__name__)

CLAIM_BATCH = 100  #: most tasks one claim statement takes
NO_NODE_RECHECK_S = 0.5  #: how often a claimer with no switch connected looks again


class AttemptReleased(Exception):  # noqa: N818 - a signal, not a failure
    """The attempt stops without counting and its task goes back to the store
    (shutdown before anyone was rung; legs that could not be looked for)."""

    def __init__(self, why: str, *, recover_legs: bool = False) -> None:
        super().__init__(why)
        self.recover_legs = recover_legs


class AttemptObserver(Protocol):
    def attempt_started(self, task: ClaimedTask, node: str) -> None: ...
    def hint_fallback(self, task: ClaimedTask, reason: HintFallback) -> None: ...
    def attempt_finished(self, task: ClaimedTask, lost: LostCall | None, result: AttemptResult,
                         end: datetime | TaskEndReason, now: datetime) -> None: ...
    #: the customer is bridged to an employee (dialled or adopted) ...
    def callback_up(self, task: ClaimedTask) -> None: ...
    #: ... and that call is over for this worker (ended, or left to the next one)
    def callback_down(self, task: ClaimedTask) -> None: ...


class _NullObserver:
    def attempt_started(self, task: ClaimedTask, node: str) -> None: ...
    def hint_fallback(self, task: ClaimedTask, reason: HintFallback) -> None: ...
    def attempt_finished(self, task: ClaimedTask, lost: LostCall | None, result: AttemptResult,
                         end: datetime | TaskEndReason, now: datetime) -> None: ...
    def callback_up(self, task: ClaimedTask) -> None: ...
    def callback_down(self, task: ClaimedTask) -> None: ...


@dataclass
class NodeSlot:
    """One switch as the dispatcher sees it."""

    name: str
    flow: CallFlow
    is_up: Callable[[], bool]
    active: int = 0
    failover: bool = False  #: its callbacks may go out through another node while it is down


@dataclass(frozen=True, kw_only=True)
class DispatchSettings:
    workers: int = 4
    lease_s: float = 120.0
    poll_s: float = 1.0
    grace_s: float = 30.0
    customer_endpoint: Callable[[str], str] = lambda n: f"sofia/gateway/pstn/{validate_number(n)}"
    fallback_caller_id: str | None = None  #: shown to the customer when the DID is unknown
    #: how a stored number is written to the switch as a caller ID ([callback] dial_number_format)
    dial_number: Callable[[str], str] = lambda n: n
    dial: DialSettings = field(default_factory=DialSettings)
    prompt: PromptSettings = field(default_factory=PromptSettings)
    hint_timezone: str = "UTC"


class Dispatcher:
    def __init__(
        self,
        *,
        queue: TaskQueue,
        catalog: Callable[[], Catalog],
        nodes: list[NodeSlot],
        worker_id: str,
        settings: DispatchSettings | None = None,
        clock: Clock | None = None,
        observer: AttemptObserver | None = None,
    ) -> None:
        if not nodes:
            raise ValidationError("nodes", nodes, "at least one FreeSWITCH node")
        self.queue = queue
        self.catalog = catalog
        self.nodes = nodes
        self.worker_id = worker_id
        self.settings = settings or DispatchSettings()
        self.clock = clock or SystemClock()
        self.observer: AttemptObserver = observer or _NullObserver()
        self._active: dict[int, ClaimedTask] = {}
        self._cancelled: set[int] = set()
        self._lost_lease: set[int] = set()
        self._stopping = gevent.event.Event()
        self._workers: list[gevent.Greenlet] = []
        self._heart: gevent.Greenlet | None = None
        self._rr = itertools.count()
        self._due = DueWaker(next_due=queue.next_due_at, clock=self.clock, max_sleep_s=self.settings.poll_s)
        self._listener: TaskChangeListener | None = None
        self._pool = gevent.pool.Pool(self.settings.workers)
        self._grace_until: float | None = None  #: monotonic end of the shutdown grace
        self._renewed: dict[int, float] = {}  #: task id -> monotonic time its lease was last extended
        s = self.settings
        self._attempt_settings = AttemptSettings(
            dial=s.dial, prompt=s.prompt, hint_timezone=s.hint_timezone, fallback_caller_id=s.fallback_caller_id,
            customer_endpoint=s.customer_endpoint, dial_number=s.dial_number,
            scenario_endpoint=lambda handoff: commands.loopback_endpoint(handoff.extension, handoff.context),
        )

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self._workers.append(gevent.spawn(self._claimer))
        self._heart = gevent.spawn(self._heartbeat)
        if self.queue.is_postgresql:
            self._listener = TaskChangeListener(self.queue.engine, self._due.wake).start()
        log.info("dispatcher %s: %d workers on nodes %s", self.worker_id, self.settings.workers,
                 ", ".join(n.name for n in self.nodes))

    def wake(self, due_at: datetime | None = None) -> None:
        """A task was just created or changed: claim now, or, given its due time, by then
        (a claimer already sleeping until no later than that sleeps on)."""
        self._due.wake(due_at)

    @property
    def active_tasks(self) -> list[int]:
        return sorted(self._active)

    def stop(self, grace_s: float | None = None) -> None:
        """Stop claiming; wait for attempts in flight; release what is left."""
        grace = self.settings.grace_s if grace_s is None else grace_s
        self._grace_until = time.monotonic() + grace
        self._stopping.set()
        self._due.wake()
        if self._listener is not None:
            self._listener.stop()
        log.info("dispatcher %s stopping: %d attempts in flight, grace %.0fs", self.worker_id, len(self._active), grace)
        gevent.joinall(self._workers, timeout=grace)
        self._pool.join(timeout=max(0.0, self._grace_until - time.monotonic()))
        if len(self._pool):
            log.info("dispatcher %s: %d attempts still in flight after the grace; giving them back",
                     self.worker_id, len(self._pool))
            # A bridged call keeps talking (the next worker adopts it); other legs are hung up.
            self._pool.kill(exception=LeaveBridgedUp, block=True, timeout=10)
        for g in self._workers:
            g.kill(block=True, timeout=2)
        for task_id in list(self._active):
            self._release(task_id, "at shutdown", recover_legs=True)
        self._active.clear()
        if self._heart is not None:
            self._heart.kill(block=False)

    # -- workers ---------------------------------------------------------------------
    def _claimer(self) -> None:
        while not self._stopping.is_set():
            free = self.settings.workers - len(self._pool)
            if free <= 0:
                self._pool.wait_available(timeout=self.settings.poll_s)
                continue
            if not any(n.is_up() for n in self.nodes):
                # Nothing could be dialled: leave the tasks to workers that can. Not the
                # poll interval: that is only a backstop now, and may be long.
                self._stopping.wait(NO_NODE_RECHECK_S)
                continue
            self._due.arm()
            try:
                claimed = self.queue.claim_due(
                    self.worker_id, now=self.clock.now(), limit=min(free, CLAIM_BATCH),
                    lease_seconds=self.settings.lease_s,
                )
            except StoreError as exc:
                log.warning("dispatcher %s: claim failed: %s", self.worker_id, exc)
                self._stopping.wait(max(self.settings.poll_s, 1.0))
                continue
            if not claimed:
                self._due.wait()
                continue
            now = time.monotonic()
            inputs = self._inputs(claimed)
            for task in claimed:
                self._active[task.task_id] = task
                self._renewed[task.task_id] = now
                self._pool.spawn(self._attempt, task, inputs.get(task.task_id))
            if not self.queue.is_postgresql:
                # SQLite blocks the process while it claims: let this batch's attempts
                # start first. PostgreSQL's green driver yields during the next claim
                # instead, so the batch runs while the server works on it.
                gevent.sleep(0)

    def _inputs(self, claimed: list[ClaimedTask]) -> dict[int, AttemptInputs]:
        """The batch's lost calls and last contacts in two statements; on a database
        error each attempt reads its own (and meets the error there, where it is handled)."""
        try:
            return self.queue.attempt_inputs(claimed)
        except StoreError as exc:
            log.warning("dispatcher %s: could not read the claimed tasks' lost calls at once: %s", self.worker_id, exc)
            return {}

    def _attempt(self, task: ClaimedTask, inputs: AttemptInputs | None = None) -> None:
        try:
            self._run(task, inputs)
        except AttemptReleased as exc:
            self._release(task.task_id, str(exc), recover_legs=exc.recover_legs or task.recover_legs)
        except LeaveBridgedUp:
            self._release(task.task_id, "at shutdown", recover_legs=True)
            raise
        except StoreError as exc:
            # The database went away mid-attempt: nothing more can be recorded now.
            # The lease runs out and the task comes back (looking for its legs first).
            log.error("task %s attempt %s: database error, the task returns when its lease expires: %s",
                      task.task_id, task.attempt_no, exc)
        except Exception:  # noqa: BLE001 - one broken task must not kill the worker
            log.exception("task %s: attempt %s crashed", task.task_id, task.attempt_no)
            try:
                self._finish(task, None, AttemptResult(outcome=AttemptOutcome.SWITCH_ERROR,
                                                       detail="internal error"))
            except StoreError as exc:
                log.error("task %s: could not record the crash: %s", task.task_id, exc)
        finally:
            self._forget(task)
            self._due.wake()  # its rule slot is free: a due task may be claimable now

    def _release(self, task_id: int, why: str, *, recover_legs: bool = False) -> None:
        try:
            if self.queue.release(task_id, self.worker_id, now=self.clock.now(), recover_legs=recover_legs):
                log.info("task %s released %s (attempt not counted)", task_id, why)
        except StoreError as exc:
            log.warning("task %s: release failed: %s (the lease will expire)", task_id, exc)

    def _run(self, task: ClaimedTask, inputs: AttemptInputs | None = None) -> None:
        tag = f"task {task.task_id} attempt {task.attempt_no}"
        catalog = self.catalog()
        rule = catalog.rule_by_name.get(task.rule_name)
        lost_calls = inputs.lost_calls if inputs is not None else self.queue.lost_calls_for_task(task.task_id)
        prepared = prepare_attempt(
            rule=rule, catalog=catalog, lost_calls=lost_calls,
            attempt=task.attempt_no, customer_number=task.customer_number, settings=self._attempt_settings,
            task_id=task.task_id,
        )
        if isinstance(prepared, NotDialled):
            self._not_dialled(task, prepared, catalog, rule, tag)
            return
        if prepared.prompt.fallback_reason is not None:
            self.observer.hint_fallback(task, prepared.prompt.fallback_reason)
        node, why = self._pick_node(prepared.lost.node)
        if node is None:
            self._no_node(task, tag, why)
            return
        req = AttemptRequest(
            task_id=task.task_id, attempt=task.attempt_no, attempt_id=task.attempt_id,
            customer_number=task.customer_number, customer_endpoint=prepared.customer_endpoint,
            customer_caller_id=prepared.caller_id, plan=prepared.plan, prompt=prepared.prompt,
            employee_caller_id=prepared.employee_caller_id,
        )
        if task.recover_legs and self._recover(task, prepared.lost, req, tag, catalog, rule):
            return
        log.info("%s: customer %s (lost call %s), rule %r, strategy %s, node %s (%s)", tag, task.customer_number,
                 prepared.lost.call_uuid, rule.name, prepared.plan.strategy, node.name, why)
        self._dial(task, prepared.lost, node, req, catalog, rule, inputs)

    def _not_dialled(self, task: ClaimedTask, nd: NotDialled, catalog: Catalog, rule, tag: str) -> None:  # noqa: ANN001 - rule: Rule | None
        """Record an attempt that ends before anything is dialled (ending the task if
        ``nd.end`` says so)."""
        level = logging.INFO if nd.reason is NotDialledReason.NO_PLAN else logging.WARNING
        log.log(level, "%s: %s", tag, nd.why)
        result = AttemptResult(outcome=nd.outcome, detail=nd.detail)
        if nd.end is not None:
            self._finish(task, nd.lost, result, end=nd.end)
        else:
            self._finish(task, nd.lost, result, catalog=catalog, rule=rule)

    def _no_node(self, task: ClaimedTask, tag: str, why: str) -> None:
        log.warning("%s: %s; giving the task back", tag, why)
        self.queue.release(task.task_id, self.worker_id, now=self.clock.now(), recover_legs=task.recover_legs)
        # No longer ours: the heartbeat must not report it lost, and another worker
        # of this dispatcher may claim it again while this one waits.
        self._forget(task)
        self._stopping.wait(max(self.settings.poll_s, 1.0))

    def _dial(self, task: ClaimedTask, lost: LostCall, node: NodeSlot, req: AttemptRequest,
              catalog: Catalog, rule, inputs: AttemptInputs | None = None) -> None:  # noqa: ANN001 - rule: Rule
        self.observer.attempt_started(task, node.name)
        node.active += 1
        # The claim batch's contact check stands for the first look only (taken
        # milliseconds ago); every later phase asks the store again.
        fresh = [inputs] if inputs is not None else []

        def cancelled(phase: str) -> AttemptOutcome | None:
            return self._stop_outcome(task, lost, phase, fresh.pop() if fresh else None)

        try:
            with self._bridge_watch(task) as bridged:
                result = node.flow.run(req, cancelled=cancelled, bridged=bridged)
        finally:
            node.active -= 1
        if result.released:  # the switch went away under it: not the customer's try
            raise AttemptReleased(f"on node {node.name}: {result.detail}", recover_legs=True)
        self._finish(task, lost, result, catalog=catalog, rule=rule)

    def _recover(self, task: ClaimedTask, lost: LostCall, req: AttemptRequest, tag: str,
                 catalog: Catalog, rule) -> bool:  # noqa: ANN001 - rule: Rule
        """An earlier worker lost this task mid-attempt: settle its legs before dialling.
        True when that settled the attempt (a call adopted, or the customer had been
        rung and the attempt counts); False to dial as usual."""
        found: dict[str, tuple[NodeSlot, list[FoundLeg]]] = {}
        for node in self.nodes:
            if not node.is_up():
                log.warning("%s: node %s is down; legs of the lost attempt there cannot be looked for",
                            tag, node.name)
                continue
            try:
                legs = find_task_legs(node.flow.conn, task.task_id, timeout=node.flow.settings.command_timeout_s)
            except RecoveryError as exc:
                raise AttemptReleased(f"legs of the lost attempt could not be looked for: {exc}",
                                      recover_legs=True) from exc
            if legs:
                found[node.name] = (node, legs)
        adopt = None
        counted = False
        unsure: list[str] = []  #: nodes where a hung-up leg was not confirmed gone
        for node, legs in found.values():
            plan = decide(legs)
            log.info("%s: recovery on node %s: %s", tag, node.name, plan.describe())
            stray = list(plan.hang_up)
            if plan.action is Action.ADOPT and adopt is None:
                adopt = (node, plan)
            elif plan.action is Action.ADOPT:  # a second bridged pair cannot be ours twice
                stray += [leg for leg in (plan.employee, plan.customer) if leg is not None]
            counted = counted or plan.action is Action.HANG_UP_COUNT
            if not node.flow.hang_up([leg.uuid for leg in stray], "NORMAL_CLEARING", tag):
                unsure.append(node.name)
        if adopt is not None:
            node, plan = adopt
            assert plan.employee is not None and plan.customer is not None
            self.observer.attempt_started(task, node.name)
            node.active += 1
            try:
                with self._bridge_watch(task) as bridged:
                    result = node.flow.adopt(req, plan.employee, plan.customer, bridged=bridged)
            finally:
                node.active -= 1
            self._finish(task, lost, result, catalog=catalog, rule=rule)
            return True
        try:
            talked_at = self.queue.bridged_unaccounted(task.task_id)
        except StoreError as exc:
            raise AttemptReleased(f"cannot tell whether the lost attempt reached the customer: {exc}",
                                  recover_legs=True) from exc
        if talked_at is not None:
            # The customer talked with an employee, and the call ended before anyone
            # could follow it: they were reached; ringing them again would be wrong.
            detail = (f"the customer was bridged at {talked_at:%Y-%m-%d %H:%M:%S} by an attempt whose worker "
                      "stopped; the call ended before it could be followed (talk time unknown)")
            log.info("%s: %s", tag, detail)
            self._finish(task, lost, AttemptResult(outcome=AttemptOutcome.SUCCESS, detail=detail),
                         catalog=catalog, rule=rule)
            return True
        if counted:
            detail = "the lost worker's attempt had rung the customer; its legs were hung up"
            log.info("%s: %s; the attempt counts", tag, detail)
            self._finish(task, lost, AttemptResult(outcome=AttemptOutcome.INTERRUPTED, detail=detail),
                         catalog=catalog, rule=rule)
            return True
        if unsure:
            # A leg of the lost attempt may still ring someone: dialling now could ring
            # them twice at once. The task comes back and looks again.
            raise AttemptReleased(f"legs of the lost attempt on node {', '.join(unsure)} not confirmed gone; "
                                  "not dialling", recover_legs=True)
        return False

    @contextlib.contextmanager
    def _bridge_watch(self, task: ClaimedTask) -> Iterator[Callable[[], None]]:
        """The ``bridged`` callback of one flow run: records the bridge in the store and
        tells the observer the callback call is up, then down when the run is over
        (however it ends), so ``fsworker_callback_calls_up`` follows the real calls."""
        up = False

        def bridged() -> None:
            nonlocal up
            self._mark_bridged(task)
            if not up:
                up = True
                self.observer.callback_up(task)

        try:
            yield bridged
        finally:
            if up:
                self.observer.callback_down(task)

    def _mark_bridged(self, task: ClaimedTask) -> None:
        try:
            self.queue.mark_bridged(task.task_id, self.worker_id, at=self.clock.now())
        except StoreError as exc:
            log.warning("task %s: could not record that the customer is bridged: %s", task.task_id, exc)

    def _forget(self, task: ClaimedTask) -> None:
        """Drop a task's bookkeeping, unless another worker of ours has claimed it since
        (the entries are keyed by task id; a re-claim's must survive)."""
        if self._active.get(task.task_id) is task:
            del self._active[task.task_id]
            self._renewed.pop(task.task_id, None)
            self._cancelled.discard(task.task_id)
            self._lost_lease.discard(task.task_id)

    def _stop_outcome(self, task: ClaimedTask, lost: LostCall, phase: str,
                      inputs: AttemptInputs | None = None) -> AttemptOutcome | None:
        """The outcome to end the attempt with before ``phase`` (lease lost, customer
        reached, task cancelled); None: it may go on. Raises AttemptReleased at shutdown
        when going on would start what the grace cannot see finished."""
        if task.task_id in self._lost_lease:
            return AttemptOutcome.LEASE_LOST
        renewed = self._renewed.get(task.task_id)
        if renewed is not None and time.monotonic() - renewed > self.settings.lease_s * 0.9:
            # The heartbeat could not reach the database: the lease may have run out and
            # another worker may be taking the task over. Ring nobody more.
            log.warning("task %s: lease not renewed for %.0fs; stopping before the %s",
                        task.task_id, time.monotonic() - renewed, phase)
            self._lost_lease.add(task.task_id)
            return AttemptOutcome.LEASE_LOST
        if self._stopping.is_set():
            if phase != PHASE_CUSTOMER:
                raise AttemptReleased("at shutdown, before ringing employees")
            left = (self._grace_until or 0.0) - time.monotonic()
            flow = self.nodes[0].flow.settings
            needed = flow.customer_ring_timeout_s + flow.min_talk_s + 5
            if left < needed:
                raise AttemptReleased(f"at shutdown: {left:.0f}s of grace left, under the {needed:.0f}s "
                                      "a customer call needs")
        try:
            reached = (inputs.reached_since(lost.lost_at) if inputs is not None
                       else self.queue.contact_since(task.customer_number, lost.lost_at))
            if reached:
                return AttemptOutcome.CONTACT_MADE
        except StoreError as exc:
            # Going on risks a callback the customer no longer needs; stopping on every
            # database hiccup would ring nobody. The heartbeat's cancellations still hold.
            log.warning("task %s: could not check whether customer %s was reached since %s; going on with the %s: %s",
                        task.task_id, task.customer_number, lost.lost_at, phase, exc)
        if task.task_id in self._cancelled:
            return AttemptOutcome.CANCELLED
        return None

    def _finish(
        self,
        task: ClaimedTask,
        lost: LostCall | None,
        result: AttemptResult,
        *,
        catalog: Catalog | None = None,
        rule=None,  # noqa: ANN001 - Rule | None
        end: TaskEndReason | None = None,
    ) -> None:
        now = self.clock.now()
        outcome = result.outcome
        next_due: datetime | None = None
        if end is None:
            if task.task_id in self._lost_lease:
                log.warning("task %s: lease lost during the attempt; not recording it", task.task_id)
                return
            if rule is None or catalog is None:
                end = TaskEndReason.CANCELLED_RULE_DELETED
            else:
                try:
                    nxt = after_attempt(rule, catalog, task.attempt_no, outcome, now)
                except ScheduleNeverOpensError:
                    nxt = TaskEndReason.ATTEMPTS_EXHAUSTED
                if isinstance(nxt, TaskEndReason):
                    end = nxt
                else:
                    next_due = nxt
        uuids = [u for u in (result.employee_uuid, result.customer_uuid) if u]
        try:
            self.queue.finish_attempt(
                task.task_id, self.worker_id, outcome=outcome,
                next_due=next_due, end_reason=end,
                detail=result.detail, employee=self._employee_name(catalog, result.employee_endpoint), call_uuids=uuids,
                talk_s=result.talk_s or None, now=now,
                # The switch stopped answering mid-attempt: a leg may be up unseen.
                recover_legs=result.legs_uncertain,
            )
        except LeaseLostError:
            log.warning("task %s: lease lost before the outcome %s could be recorded", task.task_id, outcome.value)
            return
        self.observer.attempt_finished(task, lost, result, end if end is not None else next_due, now)

    @staticmethod
    def _employee_name(catalog: Catalog | None, endpoint: str | None) -> str | None:
        """Who answered, as the operator named them; the channel name if unknown."""
        if not endpoint:
            return None
        if catalog is None:
            return endpoint
        user = endpoint.split("@", 1)[0].rsplit("/", 1)[-1]
        return EmployeeResolver(catalog.employee_by_endpoint).resolve(endpoint, user) or endpoint

    def _pick_node(self, origin: str | None) -> tuple[NodeSlot | None, str]:
        states = [NodeState(name=n.name, up=n.is_up(), active=n.active, failover=n.failover) for n in self.nodes]
        choice = choose_node(origin, states, next(self._rr))
        return next((n for n in self.nodes if n.name == choice.node), None), choice.why

    # -- leases ----------------------------------------------------------------------
    def _heartbeat(self) -> None:
        every = max(0.2, self.settings.lease_s / 3)
        # Leases expire on the dispatcher's clock (the store compares lease_expires_at
        # with clock.now()), so renew by that clock as well as by real time: with a
        # ManualClock moved faster than real time, renewing only every `every` real
        # seconds let leases of calls in flight expire and the task be claimed again.
        tick = min(every, max(0.05, self.settings.poll_s))
        last_clock, last_real = self.clock.time(), time.monotonic()
        while True:
            gevent.sleep(tick)
            if self.clock.time() - last_clock < every and time.monotonic() - last_real < every:
                continue
            last_clock, last_real = self.clock.time(), time.monotonic()
            ids = list(self._active)
            if not ids:
                continue
            try:
                hb = self.queue.heartbeat(self.worker_id, ids, lease_seconds=self.settings.lease_s,
                                          now=self.clock.now())
            except StoreError as exc:
                log.warning("heartbeat failed: %s", exc)
                continue
            now_mono = time.monotonic()
            for task_id in hb.renewed:
                if task_id in self._renewed:
                    self._renewed[task_id] = now_mono
            for task_id in hb.cancelled - self._cancelled:
                log.info("task %s was cancelled while its attempt runs; stopping before the customer", task_id)
            self._cancelled |= set(hb.cancelled)
            self._lost_lease |= set(hb.lost)
