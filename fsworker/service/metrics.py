"""Prometheus metrics: every number an operator watches, behind one small API.

Rules: metrics live in a dedicated ``CollectorRegistry`` (never the process-global one,
so tests and several Metrics objects never collide); names follow Prometheus
conventions (``fsworker_`` prefix, ``_total`` counters, ``_seconds`` units, base units
only). Label values are bounded: enums for places/reasons/outcomes (pre-initialised to
0 so rate() works from the first event), ESL event names and command verbs through an
allow-list (anything else is ``other``), node and rule names come from the operator's
configuration. Never a call UUID, a phone number or a task id as a label. Recording a
metric never raises into the caller's call flow for a *value* it does not know: enums
are strict (a wrong member is a bug, raised), free strings are folded.

Usage::

    metrics = Metrics()                      # or Metrics(registry)
    metrics.lost_call(LossPlace.SCENARIO)
    metrics.skip(SkipReason.BLACKLISTED)
    with metrics.callback_call("sales"):     # fsworker_callback_calls_up{rule="sales"}
        ...
    metrics.attempt(AttemptOutcome.SUCCESS)
    metrics.callback_succeeded("sales", loss_to_callback_s=840.0)
    with metrics.esl_command_timer("pbx1", "bgapi originate ..."):
        ...
The HTTP endpoint (/metrics, /healthz) is in ``fsworker.service.health``.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from fsworker.core.calls import LossPlace
from fsworker.core.outcomes import AttemptOutcome, HintFallback, SkipReason, TaskEndReason

log = logging.getLogger(__name__)

# From "just after the loss" to "a week later": the callback schedule can push a
# callback past a weekend (R7).
LOSS_TO_CALLBACK_BUCKETS = (
    10, 30, 60, 120, 300, 600, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 16 * 3600,
    86400, 2 * 86400, 4 * 86400, 7 * 86400,
)
# ESL round trips: sub-millisecond api replies up to a 10 s command timeout.
COMMAND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# Event names counted by name; the rest (CUSTOM subclasses, rare events) are "other".
KNOWN_EVENTS = frozenset({
    "CHANNEL_CREATE", "CHANNEL_DESTROY", "CHANNEL_STATE", "CHANNEL_CALLSTATE", "CHANNEL_ANSWER",
    "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE",
    "CHANNEL_HOLD", "CHANNEL_UNHOLD", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA", "CHANNEL_OUTGOING", "CHANNEL_PARK", "CHANNEL_UNPARK",
    "CHANNEL_ORIGINATE", "CHANNEL_UUID", "CHANNEL_DATA", "CALL_UPDATE", "BACKGROUND_JOB",
    "HEARTBEAT", "RE_SCHEDULE", "API", "CUSTOM", "CODEC", "DTMF", "PLAYBACK_START",
    "PLAYBACK_STOP", "PRESENCE_IN", "PRIVATE_COMMAND", "RECORD_START", "RECORD_STOP",
    "SHUTDOWN", "MODULE_LOAD", "RELOADXML",
})
# Command verbs timed by name: the ESL command itself, or for api/bgapi the API command.
KNOWN_VERBS = frozenset({
    "auth", "event", "nixevent", "noevents", "filter", "linger", "exit", "sendmsg", "log",
    "originate", "uuid_bridge", "uuid_kill", "uuid_exists", "uuid_transfer", "uuid_broadcast",
    "uuid_setvar", "uuid_getvar", "uuid_dump", "uuid_break", "uuid_park", "uuid_answer",
    "show", "status", "version", "hupall", "reloadxml", "sofia", "callcenter_config", "eval",
})
OTHER = "other"
#: components that count caught exceptions (``handler_error``): zeroed at start so the
#: series exist, and an alert on their rate works, before the first error
HANDLER_COMPONENTS = ("esl_handler", "intake", "metrics.pending_tasks", "webhooks")
_VERB_RE = re.compile(r"[a-z_]{1,40}")


class WebhookResult(enum.StrEnum):
    """What became of one webhook delivery (one event to one URL)."""

    DELIVERED = "delivered"  #: a 2xx reply, possibly after retries
    RETRIED = "retried"  #: one failed try that will be retried (counted per try)
    FAILED = "failed"  #: given up after the configured retries
    REJECTED = "rejected"  #: a 4xx reply (other than 408/429), or a target address refused: not retried
    DROPPED = "dropped"  #: the queue was full; the oldest delivery was discarded
    ABANDONED = "abandoned"  #: not delivered by the end of the shutdown grace (queued, waiting or cut off)


def event_label(name: str) -> str:
    return name if name in KNOWN_EVENTS else OTHER


def command_verb(command: str) -> str:
    """The bounded label for an ESL command line: ``bgapi originate {...}`` ->
    ``originate``, ``sendmsg <uuid>`` -> ``sendmsg``, unknown -> ``other``."""
    words = command.split(None, 2)
    if not words:
        return OTHER
    verb = words[0].lower()
    if verb in ("api", "bgapi") and len(words) > 1:
        verb = words[1].lower()
    return verb if _VERB_RE.fullmatch(verb) and verb in KNOWN_VERBS else OTHER


class _PendingCollector(Collector):
    """``fsworker_pending_tasks`` asked from a provided function at scrape time,
    cached for ``min_interval_s`` so several scrapers do not each hit the database."""

    def __init__(self, metrics: Metrics, min_interval_s: float) -> None:
        self._metrics = metrics
        self._source: Callable[[], int] | None = None
        self._min_interval_s = min_interval_s
        self._cached: tuple[float, int] | None = None
        self._lock = threading.Lock()

    def set_source(self, source: Callable[[], int] | None) -> None:
        with self._lock:
            self._source = source
            self._cached = None

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily("fsworker_pending_tasks", "Tasks waiting for an attempt (pending or active)")]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            source, cached = self._source, self._cached
        if source is None:
            return
        now = time.monotonic()
        if cached is None or now - cached[0] >= self._min_interval_s:
            try:
                value = int(source())
            except Exception:
                log.exception("pending-tasks source failed; fsworker_pending_tasks omitted from this scrape")
                self._metrics.handler_error("metrics.pending_tasks")
                return
            cached = (now, value)
            with self._lock:
                self._cached = cached
        family = GaugeMetricFamily("fsworker_pending_tasks", "Tasks waiting for an attempt (pending or active)")
        family.add_metric([], cached[1])
        yield family


class Metrics:
    """fsworker's metrics in their own registry (``self.registry``)."""

    def __init__(self, registry: CollectorRegistry | None = None, *, version: str = "",
                 pending_min_interval_s: float = 5.0) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._lost = Counter("fsworker_lost_calls_total", "Lost inbound calls detected, by loss place",
                             ["place"], registry=r)
        self._skips = Counter("fsworker_skips_total", "Lost calls that created no task, by reason",
                              ["reason"], registry=r)
        self._created = Counter("fsworker_tasks_created_total", "Callback tasks created, by rule",
                                ["rule"], registry=r)
        self._joined = Counter("fsworker_tasks_joined_total",
                               "Lost calls that joined an open task for the same customer, by rule",
                               ["rule"], registry=r)
        self._ended = Counter("fsworker_tasks_ended_total", "Tasks ended, by end reason",
                              ["reason"], registry=r)
        self._attempts = Counter("fsworker_attempts_total", "Callback attempts finished, by outcome",
                                 ["outcome"], registry=r)
        self._succeeded = Counter("fsworker_callbacks_succeeded_total",
                                  "Callbacks that bridged the customer to an employee for at least the "
                                  "minimum talk time, by rule", ["rule"], registry=r)
        self._loss_to_cb = Histogram("fsworker_loss_to_callback_seconds",
                                     "Time from the lost call to the start of its successful callback",
                                     buckets=LOSS_TO_CALLBACK_BUCKETS, registry=r)
        self._calls_up = Gauge("fsworker_callback_calls_up", "Callback calls bridged now (dialled or adopted), by rule",
                               ["rule"], registry=r)
        self._esl_up = Gauge("fsworker_esl_up", "1 when the Event Socket connection to the node is "
                             "established and authenticated", ["node"], registry=r)
        self._esl_connects = Counter("fsworker_esl_connects_total",
                                     "Successful ESL connections (a rising rate means reconnects)",
                                     ["node"], registry=r)
        self._esl_event_children: dict[tuple[str, str], Any] = {}
        self._esl_events = Counter("fsworker_esl_events_total", "ESL events received, by node and event name",
                                   ["node", "event"], registry=r)
        self._esl_dropped = Counter("fsworker_esl_events_dropped_total",
                                    "ESL events dropped with the link kept (malformed, too_many_headers)",
                                    ["node", "reason"], registry=r)
        self._esl_watchdog = Counter("fsworker_esl_watchdog_trips_total",
                                     "ESL links declared dead: no complete frame and no reply to the probe",
                                     ["node"], registry=r)
        self._esl_cmd = Histogram("fsworker_esl_command_duration_seconds",
                                  "ESL command round trip (send to reply), by node and command verb",
                                  ["node", "command"], buckets=COMMAND_BUCKETS, registry=r)
        self._webhooks = Counter("fsworker_webhook_deliveries_total",
                                 "Webhook deliveries and tries, by result", ["result"], registry=r)
        self._hint_fallbacks = Counter("fsworker_hint_fallbacks_total",
                                       "Rule hints replaced by the default hint at call time, by reason",
                                       ["reason"], registry=r)
        self._errors = Counter("fsworker_handler_errors_total",
                               "Unexpected errors caught and logged so the worker goes on, by component",
                               ["component"], registry=r)
        self._info = Gauge("fsworker_build_info", "Always 1; the fsworker version as a label",
                           ["version"], registry=r)
        self._info.labels(version=version or _version()).set(1)
        self._pending = _PendingCollector(self, pending_min_interval_s)
        r.register(self._pending)
        # Zero every enum label so the series exist before the first event.
        for place in LossPlace:
            if place is not LossPlace.ANY:
                self._lost.labels(place=place.value)
        for reason in SkipReason:
            self._skips.labels(reason=reason.value)
        for end in TaskEndReason:
            self._ended.labels(reason=end.value)
        for outcome in AttemptOutcome:
            self._attempts.labels(outcome=outcome.value)
        for result in WebhookResult:
            self._webhooks.labels(result=result.value)
        for fallback in HintFallback:
            self._hint_fallbacks.labels(reason=fallback.value)
        for component in HANDLER_COMPONENTS:
            self._errors.labels(component=component)

    # --- detection and intake -------------------------------------------------------------

    def lost_call(self, place: LossPlace | str) -> None:
        place = LossPlace(place)
        if place is LossPlace.ANY:
            raise ValueError("a lost call has a concrete place, not 'any'")
        self._lost.labels(place=place.value).inc()

    def skip(self, reason: SkipReason | str) -> None:
        self._skips.labels(reason=SkipReason(reason).value).inc()

    def task_created(self, rule: str) -> None:
        self._created.labels(rule=rule).inc()

    def task_joined(self, rule: str) -> None:
        self._joined.labels(rule=rule).inc()

    def task_ended(self, reason: TaskEndReason | str) -> None:
        self._ended.labels(reason=TaskEndReason(reason).value).inc()

    # --- callbacks ------------------------------------------------------------------------

    def attempt(self, outcome: AttemptOutcome | str) -> None:
        self._attempts.labels(outcome=AttemptOutcome(outcome).value).inc()

    def callback_succeeded(self, rule: str, loss_to_callback_s: float) -> None:
        """A successful callback; ``loss_to_callback_s`` from the loss to the attempt's start."""
        self._succeeded.labels(rule=rule).inc()
        self._loss_to_cb.observe(max(0.0, loss_to_callback_s))

    @contextlib.contextmanager
    def callback_call(self, rule: str) -> Iterator[None]:
        """Count a callback call as up for the duration of the ``with`` block."""
        gauge = self._calls_up.labels(rule=rule)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    def calls_up(self) -> dict[str, int]:
        """fsworker_callback_calls_up as {rule: calls}, read back from the gauge."""
        return {s.labels["rule"]: int(s.value) for m in self._calls_up.collect() for s in m.samples
                if s.name == "fsworker_callback_calls_up"}

    def callback_up(self, rule: str) -> None:
        """One more callback of ``rule`` is bridged (the dispatcher pairs it with
        ``callback_down`` when that call is over)."""
        self._calls_up.labels(rule=rule).inc()

    def callback_down(self, rule: str) -> None:
        self._calls_up.labels(rule=rule).dec()

    def set_calls_up(self, rule: str, n: int) -> None:
        """Set the gauge directly (e.g. from the store's count across workers)."""
        self._calls_up.labels(rule=rule).set(n)

    def forget_rule(self, rule: str) -> None:
        """Drop a deleted/renamed rule's series so they stop being exported."""
        for metric in (self._created, self._joined, self._succeeded, self._calls_up):
            with contextlib.suppress(KeyError):
                metric.remove(rule)

    def set_pending_source(self, source: Callable[[], int] | None) -> None:
        """``source()`` returns the number of pending tasks; asked at scrape time (cached
        a few seconds). It should be cheap: one indexed COUNT."""
        self._pending.set_source(source)

    # --- ESL ------------------------------------------------------------------------------

    #: reasons an event is dropped with the link kept (fsworker_esl_events_dropped_total)
    ESL_DROP_REASONS = ("malformed", "too_many_headers")

    def esl_connected(self, node: str, up: bool) -> None:
        self._esl_up.labels(node=node).set(1 if up else 0)
        # the node's series exist at 0 from its first state change, before any trouble
        for reason in self.ESL_DROP_REASONS:
            self._esl_dropped.labels(node=node, reason=reason)
        self._esl_watchdog.labels(node=node)
        if up:
            self._esl_connects.labels(node=node).inc()

    def esl_event(self, node: str, event_name: str) -> None:
        # Every event of every call passes here: labels() costs ~20 us a time, a dict
        # lookup well under one (the label set is bounded: KNOWN_EVENTS x nodes).
        key = (node, event_label(event_name))  # not the raw name: the switch's text is unbounded
        child = self._esl_event_children.get(key)
        if child is None:
            child = self._esl_event_children[key] = self._esl_events.labels(node=node, event=key[1])
        child.inc()

    def esl_event_dropped(self, node: str, reason: str) -> None:
        """An event dropped with the link kept; ``reason`` is a fixed code name."""
        self._esl_dropped.labels(node=node, reason=reason).inc()

    def esl_watchdog_trip(self, node: str) -> None:
        self._esl_watchdog.labels(node=node).inc()

    def esl_command(self, node: str, command: str, seconds: float) -> None:
        """Record one command's round trip; ``command`` is the command line or a verb."""
        self._esl_cmd.labels(node=node, command=command_verb(command)).observe(seconds)

    @contextlib.contextmanager
    def esl_command_timer(self, node: str, command: str) -> Iterator[None]:
        """Time the ``with`` block as one ESL command (failures are timed too)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.esl_command(node, command, time.perf_counter() - start)

    # --- webhooks and errors --------------------------------------------------------------

    def webhook(self, result: WebhookResult | str) -> None:
        self._webhooks.labels(result=WebhookResult(result).value).inc()

    def hint_fallback(self, reason: HintFallback | str) -> None:
        """A rule's hint was not spoken; the default was (see prompts.HintFallback)."""
        self._hint_fallbacks.labels(reason=HintFallback(reason).value).inc()

    def handler_error(self, component: str) -> None:
        """A caught, logged, unexpected exception; ``component`` is a fixed code name
        such as ``detector`` or ``dispatcher`` (never data from a call)."""
        self._errors.labels(component=component).inc()

    # --- reading back (tests, the demo's funnel) ------------------------------------------

    def value(self, name: str, **labels: str) -> float:
        """The current value of one sample, 0.0 when it does not exist yet."""
        got = self.registry.get_sample_value(name, labels)
        return 0.0 if got is None else got


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - stdlib since 3.8
        return "unknown"
    try:
        return version("fsworker")
    except PackageNotFoundError:
        return "unknown"
