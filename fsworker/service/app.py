"""Wiring: one fsworker process = switches + detector + intake + dispatcher + metrics.

Rules: this is the only module that knows every part; the parts know nothing of each
other beyond the values they exchange. Per FreeSWITCH node: one ESL connection
subscribed to what the detector and the call flow need, a detector, and a leg watcher;
events are routed from the connection's handler pool. After a reconnect the detector's
tracked calls are reconciled with ``show channels`` (calls whose hangup we missed).
"""

from __future__ import annotations

import gc
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import gevent
import gevent.event

from fsworker.config.settings import Config, WebhookEvent
from fsworker.core.calls import Contact, LostCall
from fsworker.core.catalog import Catalog
from fsworker.core.clock import Clock, SystemClock
from fsworker.core.detector import INTERESTING_EVENTS, Detector, IgnoredCall
from fsworker.core.outcomes import AttemptOutcome, HintFallback, SkipReason, TaskEndReason
from fsworker.core.prompts import PromptSettings
from fsworker.core.prompts.budget import RenderBudget
from fsworker.core.strategies import DialSettings
from fsworker.esl.connection import ConnectionHooks, ConnectionState, ESLConnection, Subscription
from fsworker.esl.proto.errors import ESLError, RemoteProtocolError, TooManyHeadersError
from fsworker.esl.proto.frames import Event
from fsworker.service.api import CallbacksApi
from fsworker.service.callflow import AttemptResult, CallFlow, FlowSettings
from fsworker.service.console import Console
from fsworker.service.dispatcher import Dispatcher, DispatchSettings, NodeSlot
from fsworker.service.health import Health, MetricsServer, ProbeResult, WsgiServer
from fsworker.service.intake import Intake, IntakeInterruptedError
from fsworker.service.legs import WATCHED_EVENTS, LegWatcher
from fsworker.service.metrics import Metrics
from fsworker.service.webhooks import (
    AttemptReport,
    WebhookDispatcher,
    lost_call_data,
    task_created_data,
    task_ended_data,
    task_skipped_data,
)
from fsworker.store.claim import ClaimedTask
from fsworker.store.errors import StoreError, StoreUnavailableError
from fsworker.store.queue import TaskQueue
from fsworker.store.repo import ConfigVersion, Repository
from fsworker.store.stats import FunnelReader

log = logging.getLogger(__name__)

SUBSCRIBED_EVENTS = tuple(sorted(set(INTERESTING_EVENTS) | set(WATCHED_EVENTS)))
DB_PROBE_TIMEOUT_S = 2.0  #: /healthz: how long the database may take to answer


class CatalogCache:
    """The configuration snapshot, re-read from the store at most every ``ttl_s``.

    An aged snapshot is kept when the store's configuration version (migration 0008)
    has not moved: one small query a second instead of re-reading everything.
    One reload at a time (single flight): while it runs, callers get the previous
    snapshot, or wait for the first one (or one after ``invalidate()``); a snapshot that
    only aged is reloaded in the background. Without this, every greenlet that asked during
    a reload started its own (each yields on its queries), and under load hundreds piled
    up and emptied the connection pool. The ``ttl_s`` counts from the end of a load."""

    def __init__(self, repo: Repository, ttl_s: float = 1.0) -> None:
        self.repo = repo
        self.ttl_s = ttl_s
        self._at = -1e18
        self._warned = -1e18
        self._catalog: Catalog | None = None
        self._loading: gevent.event.AsyncResult | None = None
        self._generation = 0  #: bumped by invalidate(): a load begun before it is not fresh
        self.loads = 0  #: reloads done (for tests and benchmarks)
        self._version: ConfigVersion | None = None  #: the store's configuration version of the snapshot

    def __call__(self) -> Catalog:
        now = gevent.get_hub().loop.now()
        if self._catalog is not None and now - self._at <= self.ttl_s:
            return self._catalog
        if self._loading is not None:
            if self._catalog is not None:
                return self._catalog
            return self._loading.get()  # the first load: wait for it (re-raises its error)
        self._loading = loading = gevent.event.AsyncResult()
        if self._catalog is not None and self._at > -1e17:
            # Only aged (not invalidated): reload in the background and go on with the
            # snapshot. A reload takes ~20 ms of CPU with 1,000 employees (and blocks
            # the process on SQLite); the caller, often an attempt about to dial, must
            # not wait for it (issue 14: due -> originate).
            gevent.spawn(self._load, loading, now)
            return self._catalog
        return self._load(loading, now)

    def _load(self, loading: gevent.event.AsyncResult, now: float) -> Catalog:
        generation = self._generation
        try:
            if self._catalog is not None and self._at > -1e17 and self.repo.config_version() == self._version:
                # Only aged, and nothing changed (migration 0008's version): keep it.
                self._at = gevent.get_hub().loop.now()
                loading.set(self._catalog)
                return self._catalog
            version, catalog = self.repo.load_catalog_versioned()
        except StoreError as exc:
            loading.set_exception(exc)
            if self._catalog is None:
                raise
            # The detector asks on every event; with the database away it goes on
            # with the last good configuration (intake keeps what it cannot store).
            if now - self._warned > 10:
                log.warning("configuration cannot be re-read (%s); using the copy from %.0fs ago",
                            exc, now - self._at)
                self._warned = now
            self._at = gevent.get_hub().loop.now() - self.ttl_s + 1.0  # retry in a second
            return self._catalog
        except BaseException as exc:
            loading.set_exception(exc)
            raise
        finally:
            self._loading = None
        self.loads += 1
        self._catalog = catalog
        self._version = version
        # Invalidated while loading (a rule was just added): serve it, reload next time.
        self._at = gevent.get_hub().loop.now() if generation == self._generation else -1e18
        loading.set(catalog)
        return catalog

    def invalidate(self) -> None:
        self._generation += 1
        self._at = -1e18


class _Observer:
    """Intake and attempt events -> Prometheus metrics and CRM webhooks."""

    def __init__(self, metrics: Metrics, webhooks: WebhookDispatcher | None, queue: TaskQueue) -> None:
        self.metrics = metrics
        self.webhooks = webhooks
        self.queue = queue
        self.funnel: dict[str, int] = {}

    def _count(self, key: str) -> None:
        self.funnel[key] = self.funnel.get(key, 0) + 1

    def _emit(self, event: WebhookEvent, data: dict[str, Any]) -> None:
        if self.webhooks is not None:
            self.webhooks.emit(event, data)

    # intake
    def lost_call(self, call: LostCall) -> None:
        self.metrics.lost_call(call.place)
        self._count("lost")
        self._emit(WebhookEvent.LOST_CALL_DETECTED, lost_call_data(call))

    def skipped(self, call: LostCall, reason: SkipReason, detail: str) -> None:
        self.metrics.skip(reason)
        self._count(f"skipped:{reason.value}")
        self._emit(WebhookEvent.TASK_SKIPPED, task_skipped_data(
            call_uuid=call.call_uuid, customer_number=call.customer_number, reason=reason))

    def task_created(self, call: LostCall, task_id: int, rule: str, due_at: datetime) -> None:
        self.metrics.task_created(rule)
        self._count("task_created")
        self._emit(WebhookEvent.TASK_CREATED, task_created_data(
            task_id=task_id, rule=rule, customer_number=call.customer_number, call_uuid=call.call_uuid,
            next_attempt_at=due_at))

    def task_joined(self, call: LostCall, task_id: int, rule: str) -> None:
        self.metrics.task_joined(rule)
        self._count("task_joined")
        self._emit(WebhookEvent.TASK_CREATED, task_created_data(
            task_id=task_id, rule=rule, customer_number=call.customer_number, call_uuid=call.call_uuid,
            next_attempt_at=None, joined=True))

    def tasks_cancelled(self, contact: Contact, task_ids: list[int]) -> None:
        for task_id in task_ids:
            self.metrics.task_ended(TaskEndReason.CANCELLED_CONTACT_MADE)
            self._count("cancelled:contact_made")
            self._task_ended(task_id)

    def task_cancelled_by_operator(self, task_id: int) -> None:
        """Cancelled in this process (the callbacks API, the console). A CLI cancel runs
        in a process of its own: the database and ``fsworker stats`` count it, not this."""
        self.metrics.task_ended(TaskEndReason.CANCELLED_BY_OPERATOR)
        self._count(f"ended:{TaskEndReason.CANCELLED_BY_OPERATOR.value}")
        self._task_ended(task_id)

    # attempts
    def attempt_started(self, task: ClaimedTask, node: str) -> None:
        self._count("attempts_dialled")

    def hint_fallback(self, task: ClaimedTask, reason: HintFallback) -> None:
        self.metrics.hint_fallback(reason)

    def callback_up(self, task: ClaimedTask) -> None:
        self.metrics.callback_up(task.rule_name)

    def callback_down(self, task: ClaimedTask) -> None:
        self.metrics.callback_down(task.rule_name)

    def attempt_finished(self, task: ClaimedTask, lost: LostCall | None, result: AttemptResult,
                         end: datetime | TaskEndReason | None, now: datetime) -> None:
        self.metrics.attempt(result.outcome)
        self._count("attempts")
        if result.employee_uuid:
            self._count("employee_answered")
        if result.outcome in (AttemptOutcome.SUCCESS, AttemptOutcome.CUSTOMER_SHORT_CALL):
            self._count("customer_answered")
        if result.outcome is AttemptOutcome.SUCCESS:
            self._count("bridged")
            if lost is not None:
                self.metrics.callback_succeeded(task.rule_name, (now - lost.lost_at).total_seconds())
        self._count(f"outcome:{result.outcome.value}")
        if isinstance(end, TaskEndReason):
            self.metrics.task_ended(end)
            self._count(f"ended:{end.value}")
            self._task_ended(task.task_id)

    def _task_ended(self, task_id: int) -> None:
        if self.webhooks is None:
            return
        try:
            view = self.queue.get_task(task_id)
        except StoreError:
            return
        self._emit(WebhookEvent.TASK_ENDED, task_ended_data(
            task_id=task_id, rule=view.rule_name, customer_number=view.customer_number,
            end_reason=view.end_reason or TaskEndReason.CANCELLED_BY_OPERATOR,
            attempts=[AttemptReport(number=a.attempt_no, started_at=a.started_at, ended_at=a.ended_at,
                                    outcome=a.outcome, employee=a.employee, detail=a.detail)
                      for a in view.attempts if a.outcome is not None]))


class _Hooks(ConnectionHooks):
    def __init__(self, node: NodeRuntime) -> None:
        self.node = node

    def state_changed(self, old: ConnectionState, new: ConnectionState) -> None:
        self.node.service.metrics.esl_connected(self.node.name, new is ConnectionState.CONNECTED)
        log.info("ESL node %s: %s -> %s", self.node.name, old.value, new.value)
        if old is ConnectionState.CONNECTED and new is not ConnectionState.CONNECTED:
            self.node.watcher.link_lost()
        if new is ConnectionState.CONNECTED and self.node.connected_before:
            # We may have missed hangups while the link was down.
            gevent.spawn(self.node.reconcile)
        if new is ConnectionState.CONNECTED:
            self.node.connected_before = True

    def event_received(self, name: str) -> None:
        self.node.service.metrics.esl_event(self.node.name, name)

    def command_done(self, verb: str, seconds: float, ok: bool) -> None:
        self.node.service.metrics.esl_command(self.node.name, verb, seconds)

    def handler_failed(self, event_name: str, exc: BaseException) -> None:
        self.node.service.metrics.handler_error("esl_handler")

    def malformed_event(self, exc: RemoteProtocolError) -> None:
        self.node.service.metrics.esl_event_dropped(self.node.name, "malformed")

    def event_dropped(self, exc: TooManyHeadersError) -> None:
        self.node.service.metrics.esl_event_dropped(self.node.name, "too_many_headers")

    def watchdog_tripped(self, quiet_s: float) -> None:
        self.node.service.metrics.esl_watchdog_trip(self.node.name)


@dataclass(eq=False)
class NodeRuntime:
    name: str
    conn: ESLConnection
    detector: Detector
    watcher: LegWatcher
    service: Service
    connected_before: bool = False

    def on_event(self, ev: Event) -> None:
        self.watcher.feed(ev)
        for outcome in self.detector.feed(ev):
            self.service.handle_outcome(outcome)

    def reconcile(self) -> None:
        try:
            body = self.conn.api("show", "channels as json", timeout=10)
            rows = json.loads(body or "{}").get("rows") or []
            existing = {str(r.get("uuid")): str(r.get("application") or "") for r in rows if isinstance(r, dict)}
        except (ESLError, ValueError) as exc:
            log.warning("node %s: cannot reconcile tracked calls: %s", self.name, exc)
            return
        self.watcher.reconcile(existing)
        for outcome in self.detector.reconcile(set(existing), all_tracked=True):
            self.service.handle_outcome(outcome)


@dataclass
class Service:
    config: Config
    clock: Clock = field(default_factory=SystemClock)
    environ: dict[str, str] | None = None
    nodes: list[NodeRuntime] = field(default_factory=list)

    def __post_init__(self) -> None:
        cfg = self.config
        self.metrics = Metrics()
        self.queue = TaskQueue(cfg.database.url)
        self.repo = Repository(self.queue.engine)
        self.catalog = CatalogCache(self.repo)
        self.webhooks = WebhookDispatcher(cfg.webhooks, metrics=self.metrics, environ=self.environ) \
            if cfg.webhooks else None
        self.observer = _Observer(self.metrics, self.webhooks, self.queue)
        numbers = cfg.numbers.plan
        self.intake = Intake(self.queue, self.catalog, clock=self.clock, observer=self.observer, numbers=numbers)
        self._pending: gevent.Greenlet | None = None
        self._pending_last: int | None = None
        self.metrics.set_pending_source(self._pending_tasks)
        flow_settings = FlowSettings(
            min_talk_s=cfg.callback.min_talk_s,
            customer_ring_timeout_s=cfg.callback.customer_ring_timeout_s,
            going_away_wait_s=cfg.callback.switch_shutdown_wait_s,
            command_timeout_s=max(n.command_timeout_s for n in cfg.nodes) if cfg.nodes else 10.0,
        )
        slots = []
        for node_cfg in cfg.nodes:
            conn = ESLConnection(
                node_cfg.host, node_cfg.port, node_cfg.password(self.environ),
                connect_timeout=node_cfg.connect_timeout_s, command_timeout=node_cfg.command_timeout_s,
                idle_timeout=node_cfg.idle_timeout_s, max_event_headers=node_cfg.max_event_headers,
                backlog_bytes=node_cfg.event_backlog_mib * 1024 * 1024,
                subscription=Subscription(events=SUBSCRIBED_EVENTS),
            )
            node = NodeRuntime(
                name=node_cfg.name, conn=conn,
                detector=Detector(self._employee_of, node=node_cfg.name),
                watcher=LegWatcher(), service=self,
            )
            conn.hooks = _Hooks(node)
            conn.register_handle("*", node.on_event)
            self.nodes.append(node)
            flow = CallFlow(conn, node.watcher, flow_settings, node=node_cfg.name)
            slots.append(NodeSlot(name=node_cfg.name, flow=flow, is_up=lambda c=conn: c.is_connected,
                                  failover=node_cfg.failover))
        cb = cfg.callback

        def dial_number(number: str) -> str:
            return numbers.for_dial(number, cb.dial_number_format)

        fallback_caller_id = numbers.normalize(cb.caller_id_number, "callback.caller_id_number") \
            if cb.caller_id_number else None
        self.dispatcher = Dispatcher(
            queue=self.queue, catalog=self.catalog, nodes=slots,
            worker_id=cfg.worker.effective_worker_id(), clock=self.clock, observer=self.observer,
            settings=DispatchSettings(
                workers=cfg.worker.workers, lease_s=cfg.worker.lease_s, poll_s=cfg.worker.poll_interval_s,
                grace_s=cfg.worker.shutdown_grace_s,
                customer_endpoint=lambda n: cb.customer_endpoint(dial_number(n)),
                fallback_caller_id=fallback_caller_id, dial_number=dial_number,
                dial=DialSettings(default_ring_timeout_s=cb.employee_ring_timeout_s,
                                  external_dial_template=cb.external_number_template, dial_number=dial_number),
                prompt=PromptSettings(tts_engine=cfg.tts.engine, tts_voice=cfg.tts.voice,
                                      default_language=cfg.tts.language,
                                      playback_prefixes=cfg.prompts.sound_dirs,
                                      render_budget=RenderBudget(cpu_ms=cfg.prompts.render_cpu_ms,
                                                                 wall_ms=cfg.prompts.render_wall_ms,
                                                                 max_chars=cfg.prompts.render_max_chars)),
            ),
        ) if slots else None
        self.health = Health(database=self._db_probe)
        for node in self.nodes:
            self.health.add_esl(node.name, lambda c=node.conn: ProbeResult(ok=c.is_connected,
                                                                                  detail={"state": c.state.value}))
        self.metrics_server: MetricsServer | None = None
        self.console_server: WsgiServer | None = None
        # Outcomes whose intake failed because the database was away, in order.
        self._backlog: deque[tuple[LostCall | Contact, bool]] = deque(maxlen=100_000)
        self._retrier: gevent.Greenlet | None = None

    # -- outcomes from detectors -----------------------------------------------------
    def handle_outcome(self, outcome: LostCall | Contact | IgnoredCall) -> None:
        if isinstance(outcome, IgnoredCall):
            return
        if self._backlog:
            # keep the detector's order (a contact before the loss that follows it)
            self._queue_for_retry(outcome, recorded=False)
            return
        self._take_in(outcome, recorded=False)

    def _take_in(self, outcome: LostCall | Contact, *, recorded: bool) -> bool:
        """True when done; False when the database failed and it waits for a retry.
        The detector yields a call once, so a failed intake is kept here, not lost."""
        try:
            if isinstance(outcome, LostCall):
                result = self.intake.lost_call(outcome, recorded=recorded)
                if self.dispatcher is not None and result.due_at is not None:
                    self.dispatcher.wake(result.due_at)
            else:
                self.intake.contact(outcome)  # idempotent per call UUID
            return True
        except IntakeInterruptedError as exc:
            self._queue_for_retry(outcome, recorded=True, error=exc)
        except StoreError as exc:
            self._queue_for_retry(outcome, recorded=recorded, error=exc)
        return False

    def _queue_for_retry(self, outcome: LostCall | Contact, *, recorded: bool, error: Exception | None = None) -> None:
        if error is not None:
            self.metrics.handler_error("intake")
            log.error("call %s: intake failed, kept for retry (%d waiting): %s",
                      outcome.call_uuid, len(self._backlog) + 1, error)
        if len(self._backlog) == self._backlog.maxlen:
            dropped, _ = self._backlog.popleft()
            log.error("call %s: intake backlog full (%d); dropped: %r", dropped.call_uuid, len(self._backlog), dropped)
        self._backlog.append((outcome, recorded))
        if self._retrier is None or self._retrier.dead:
            self._retrier = gevent.spawn(self._retry_backlog)

    def _retry_backlog(self) -> None:
        delay = 0.5
        while self._backlog:
            gevent.sleep(delay)
            while self._backlog:
                outcome, recorded = self._backlog.popleft()
                if not self._take_in(outcome, recorded=recorded):
                    # it went back to the end: move it to the front to keep the order
                    self._backlog.appendleft(self._backlog.pop())
                    delay = min(delay * 2, 30.0)
                    break
                delay = 0.5
            else:
                log.info("intake backlog drained")

    def _employee_of(self, endpoint: str) -> str | None:
        emp = self.catalog().employee_by_endpoint.get(endpoint)
        return emp.name if emp else None

    def _pending_tasks(self) -> int:
        """For the scrape: the count is asked in its own greenlet; the scrape waits for
        it only briefly, and only for the first count. A database held by another
        process's lock never holds up /metrics: the last count is served meanwhile."""
        job = self._pending
        if job is None or job.ready():
            job = self._pending = gevent.spawn(self._count_pending)
            if self._pending_last is None:
                job.join(timeout=0.05)  # a free database answers in a few ms
            else:
                gevent.sleep(0)  # let a free database answer this scrape already
        if self._pending_last is None:
            raise StoreError("the pending task count is not known yet (database busy or away)")
        return self._pending_last

    def _count_pending(self) -> None:
        try:
            self._pending_last = self.queue.counts().pending
        except StoreError as exc:
            log.warning("metrics: pending task count failed: %s", exc)

    def _db_probe(self) -> ProbeResult:
        try:
            # Bounded: a probe that hangs (a pool with no free connection, a database
            # host gone silent) is worse than one that says "down" in a few seconds.
            with gevent.Timeout(DB_PROBE_TIMEOUT_S + 1.0,
                                StoreUnavailableError(self.queue.url, "no answer within the probe's time")):
                self.queue.ping(DB_PROBE_TIMEOUT_S)
            return ProbeResult(ok=True)
        except StoreError as exc:
            # /healthz is JSON of mappings; the message stays in the log, not on the wire.
            log.warning("health: database probe failed: %s", exc)
            return ProbeResult(ok=False, detail={"error": type(exc).__name__})

    def _funnel_since(self, since: datetime) -> dict[str, list[tuple[str, str]]]:
        """The console's funnel: the `fsworker stats` rows of the period from ``since``."""
        return {"callbacks": FunnelReader(self.queue.engine).funnel(since=since).rows()}

    # -- lifecycle -------------------------------------------------------------------
    def start(self, *, metrics: bool = True) -> None:
        if self.webhooks is not None:
            self.webhooks.start()
        if metrics and self.config.metrics.enabled:
            host, port = self.config.metrics.address
            token = self.config.api.token()
            api = (CallbacksApi(self.intake, self.queue, token, clock=self.clock,
                                on_cancelled=self.observer.task_cancelled_by_operator) if token else None)
            self.metrics_server = MetricsServer(self.metrics, self.health, host, port, api=api)
            self.metrics_server.start()
            log.info("metrics on http://%s:%s/metrics, health on /healthz%s", *self.metrics_server.address,
                     f", callbacks API on /api/v1 (token from ${self.config.api.token_env})" if api else "")
        password = self.config.console.password()
        if password:
            console = Console(queue=self.queue, repo=self.repo, catalog=self.catalog, health=self.health.report,
                              funnel=self._funnel_since, password=password,
                              calls_up=self.metrics.calls_up, clock=self.clock,
                              on_cancelled=self.observer.task_cancelled_by_operator)
            host, port = self.config.console.address
            self.console_server = WsgiServer(console, host, port, setting="console.listen",
                                              name="fsworker-console-http").start()
            log.info("console on http://%s:%s/console/ (password from $%s)", *self.console_server.address,
                     self.config.console.password_env)
        # What start-up built (configuration, compiled templates, number metadata, the
        # SQL compiler's caches) lives as long as the process: out of the collector's
        # way, so a full collection no longer walks it while calls wait (one took 60+ ms
        # on a loaded worker, longer than the loss -> task budget).
        gc.collect()
        gc.freeze()
        for node in self.nodes:
            node.conn.start()
        if self.dispatcher is not None:
            self.dispatcher.start()

    def wait_connected(self, timeout: float) -> bool:
        return all(n.conn.wait_connected(timeout) for n in self.nodes)

    def stop(self, grace_s: float | None = None) -> None:
        grace = self.config.worker.shutdown_grace_s if grace_s is None else grace_s
        end = time.monotonic() + grace
        if self.dispatcher is not None:
            self.dispatcher.stop(grace_s)
        for node in self.nodes:
            node.conn.close()
        if self.webhooks is not None:
            # the grace covers webhooks too: what is not delivered by its end is abandoned and counted
            self.webhooks.close(timeout=max(0.0, end - time.monotonic()))
        if self.metrics_server is not None:
            self.metrics_server.stop()
        if self.console_server is not None:
            self.console_server.stop()
        self.queue.close()
