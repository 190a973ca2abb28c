"""CRM webhooks: a signed JSON POST per event, retried, never blocking a call.

Rules: ``emit()`` only serialises and enqueues; it never does I/O, never blocks and
never raises into the call flow. Deliveries wait in one bounded queue (full: the
oldest delivery is dropped, logged and counted) and are sent by a few worker threads
with ``urllib`` (stdlib). Under ``gevent.monkey.patch_all()`` — the worker process —
those threads and sockets are greenlets, so delivery is cooperative; without
monkey-patching (tests, the CLI) they are ordinary threads. A failing endpoint is
retried with capped exponential back-off, then given up (logged, counted), never
fatal. Only http/https URLs (checked by the config); redirects are not followed (a
POST must not turn into a GET elsewhere); the secret never appears in a log line.
``timeout_s`` bounds each whole try — connect, send, the whole response — and
``close(timeout)`` returns within its timeout: what is not delivered by then (queued,
waiting for a retry, or cut off mid-request) is logged and counted as ``abandoned``.
The addresses a target resolves to are checked on every connect (``webhook_target``).

Document (UTF-8 JSON, the same bytes on every retry)::

    {
      "version": 1,
      "id": "3f0c...e1",                  # unique per event; use it to de-duplicate
      "event": "task.ended",              # lost_call.detected | task.created | task.skipped | task.ended
      "occurred_at": "2026-11-28T16:25:03.120000+00:00",
      "data": { ... }                     # per event, below
    }

``data`` per event (fields may be null; new fields may be added, never renamed):

- ``lost_call.detected``: ``{"call": {"call_uuid", "customer_number", "caller_name",
  "virtual_number", "scenario", "site", "campaign", "place" (number|scenario|site|
  transfer), "lost_at", "waited_s", "hangup_cause", "node", "rung": [{"endpoint",
  "destination", "employee", "ring_group", "answered", "cause"}], "transfer": null |
  {"kind" (blind|refer|attended), "transferrer_employee", "transferrer_endpoint",
  "target_employee", "target_endpoint", "target_destination"}}}``
- ``task.created``: ``{"task": {"id", "rule", "customer_number", "call_uuid",
  "next_attempt_at", "joined"}}`` — ``joined`` true when the lost call joined an open
  task for the same customer (D1).
- ``task.skipped``: ``{"call_uuid", "customer_number", "reason"`` (a SkipReason value)
  ``, "rule"}``
- ``task.ended``: ``{"task": {"id", "rule", "customer_number"}, "end_reason"`` (a
  TaskEndReason value) ``, "attempts": [{"number", "started_at", "ended_at",
  "outcome"`` (an AttemptOutcome value) ``, "employee", "detail"}]}``

Headers: ``Content-Type: application/json; charset=utf-8``, ``X-Fsworker-Event``,
``X-Fsworker-Delivery`` (= ``id``), ``X-Fsworker-Attempt`` (1, 2, ...),
``X-Fsworker-Timestamp`` (Unix seconds of this try) and, when the webhook has a
``secret_env``, ``X-Fsworker-Signature: sha256=<hex HMAC-SHA256 of the raw body with the
secret>``. Verify it over the raw bytes, compare in constant time, de-duplicate by
``id`` (which also defeats replays).

Results: 2xx = delivered; 408, 425, 429, 5xx, timeouts and connection errors are
retried (``Retry-After`` in seconds is honoured up to the back-off cap); any other
status (3xx, 4xx), and a target whose address is refused, is rejected at once.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from fsworker.config.settings import WebhookConfig, WebhookEvent
from fsworker.core.calls import LostCall
from fsworker.core.outcomes import AttemptOutcome, SkipReason, TaskEndReason
from fsworker.core.webhook_target import TargetRefused
from fsworker.service.metrics import Metrics, WebhookResult
from fsworker.service.webhook_transport import Deadline, DeadlineExceeded, build_opener, post

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SIGNATURE_HEADER = "X-Fsworker-Signature"
_RETRYABLE = frozenset({408, 425, 429})


# --- policy -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Backoff:
    """Capped exponential back-off: base, base*factor, ... up to cap (seconds)."""

    base_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 300.0

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.factor < 1 or self.cap_s < self.base_s:
            raise ValueError(f"Backoff: invalid {self!r}")

    def delay(self, retry: int) -> float:
        """Seconds before retry number ``retry`` (1 = the first retry)."""
        return min(self.cap_s, self.base_s * self.factor ** max(0, retry - 1))


def sign(secret: bytes, body: bytes) -> str:
    """The X-Fsworker-Signature value for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str) -> bool:
    """What a receiver does (also handy in a CRM's tests)."""
    return hmac.compare_digest(sign(secret, body), header)


# --- documents (pure) -------------------------------------------------------------------


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def lost_call_data(lost: LostCall) -> dict[str, Any]:
    t = lost.transfer
    return {"call": {
        "call_uuid": lost.call_uuid,
        "customer_number": lost.customer_number,
        "caller_name": lost.caller_name,
        "virtual_number": lost.virtual_number,
        "scenario": lost.scenario,
        "site": lost.site,
        "campaign": lost.campaign,
        "place": lost.place.value,
        "lost_at": _iso(lost.lost_at),
        "waited_s": round(lost.waited_s, 3),
        "hangup_cause": lost.hangup_cause,
        "node": lost.node,
        "rung": [{"endpoint": leg.endpoint, "destination": leg.destination, "employee": leg.employee,
                  "ring_group": leg.ring_group, "answered": leg.answered, "cause": leg.cause}
                 for leg in lost.rung],
        "transfer": None if t is None else {
            "kind": t.kind.value,
            "transferrer_employee": t.transferrer_employee,
            "transferrer_endpoint": t.transferrer_endpoint,
            "target_employee": t.target_employee,
            "target_endpoint": t.target_endpoint,
            "target_destination": t.target_destination,
        },
    }}


def task_created_data(*, task_id: int | str, rule: str, customer_number: str, call_uuid: str | None,
                      next_attempt_at: datetime | None, joined: bool = False) -> dict[str, Any]:
    return {"task": {"id": task_id, "rule": rule, "customer_number": customer_number,
                     "call_uuid": call_uuid, "next_attempt_at": _iso(next_attempt_at), "joined": joined}}


def task_skipped_data(*, call_uuid: str, customer_number: str, reason: SkipReason | str,
                      rule: str | None = None) -> dict[str, Any]:
    return {"call_uuid": call_uuid, "customer_number": customer_number,
            "reason": SkipReason(reason).value, "rule": rule}


@dataclass(frozen=True, kw_only=True, slots=True)
class AttemptReport:
    """One attempt as a task.ended document lists it."""

    number: int
    started_at: datetime | None
    ended_at: datetime | None
    outcome: AttemptOutcome
    employee: str | None = None
    detail: str = ""  #: e.g. the hangup cause


def task_ended_data(*, task_id: int | str, rule: str, customer_number: str, end_reason: TaskEndReason | str,
                    attempts: Sequence[AttemptReport]) -> dict[str, Any]:
    return {
        "task": {"id": task_id, "rule": rule, "customer_number": customer_number},
        "end_reason": TaskEndReason(end_reason).value,
        "attempts": [{"number": a.number, "started_at": _iso(a.started_at), "ended_at": _iso(a.ended_at),
                      "outcome": AttemptOutcome(a.outcome).value, "employee": a.employee, "detail": a.detail}
                     for a in attempts],
    }


# --- delivery ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class _Delivery:
    seq: int  #: enqueue order; the smallest is the oldest (dropped first)
    target: int  #: index into the dispatcher's targets
    event: WebhookEvent
    event_id: str
    body: bytes
    tries: int = 0  #: tries made so far
    due: float = 0.0  #: time.monotonic() when it may be sent


def _safe_url(url: str) -> str:
    # query strings often carry tokens; the log gets scheme://host/path only
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}{p.path}"


class WebhookDispatcher:
    """Queue + delivery workers for the configured webhooks::

        d = WebhookDispatcher(config.webhooks, metrics=metrics).start()
        d.emit(WebhookEvent.LOST_CALL_DETECTED, lost_call_data(lost))  # or d.emit_lost_call(lost)
        d.close(timeout=5)          # at shutdown: try to send what is due
    """

    def __init__(self, targets: Sequence[WebhookConfig], *, metrics: Metrics | None = None,
                 queue_size: int = 1000, workers: int = 2, backoff: Backoff = Backoff(),
                 environ: Mapping[str, str] | None = None, proxies: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.time, user_agent: str = "fsworker-webhooks/1") -> None:
        if queue_size < 1 or workers < 1:
            raise ValueError("queue_size and workers must be >= 1")
        self._targets = tuple(targets)
        # resolved now: a webhook whose secret_env is unset is a ConfigError at start-up,
        # not thousands of unsigned deliveries
        self._secrets = tuple(t.secret(environ) for t in self._targets)
        self._metrics = metrics if metrics is not None else Metrics()
        self._queue_size = queue_size
        self._backoff = backoff
        self._clock = clock
        self._ua = user_agent
        self._opener = build_opener(proxies)
        self._heap: list[tuple[float, int, _Delivery]] = []
        self._requests: set[Deadline] = set()  #: tries in flight, aborted by close()
        self._cond = threading.Condition()
        self._seq = 0
        self._in_flight = 0
        self._closing = False
        self._threads = [threading.Thread(target=self._run, name=f"fsworker-webhook-{i}", daemon=True)
                         for i in range(workers if self._targets else 0)]

    # --- producer side ------------------------------------------------------------------

    def start(self) -> WebhookDispatcher:
        for t in self._threads:
            t.start()
        return self

    def emit(self, event: WebhookEvent | str, data: Mapping[str, Any]) -> str | None:
        """Queue ``event`` for every webhook subscribed to it; returns the event id, or
        None when nothing was queued (nobody subscribed, unknown event, data not
        JSON-serialisable). Never blocks, never does I/O, never raises."""
        try:
            event = WebhookEvent(event)
        except ValueError:
            log.exception("webhook: unknown event %r; not sent", event)
            self._metrics.handler_error("webhooks")
            return None
        if not any(event in t.events for t in self._targets):
            return None  # nobody subscribed: do not even serialise
        try:
            event_id = uuid.uuid4().hex
            doc = {"version": SCHEMA_VERSION, "id": event_id, "event": event.value,
                   "occurred_at": datetime.fromtimestamp(self._clock(), UTC).isoformat(),
                   "data": data}
            body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=_json_default).encode()
        except (TypeError, ValueError):
            log.exception("webhook %s: cannot serialise the document; not sent", event)
            self._metrics.handler_error("webhooks")
            return None
        now = time.monotonic()
        with self._cond:
            if self._closing:
                log.warning("webhook %s id=%s emitted after close; not sent", event, event_id)
                return event_id
            for i, target in enumerate(self._targets):
                if event not in target.events:
                    continue
                if len(self._heap) >= self._queue_size:
                    self._drop_oldest()
                self._seq += 1
                d = _Delivery(seq=self._seq, target=i, event=event, event_id=event_id, body=body, due=now)
                heapq.heappush(self._heap, (d.due, d.seq, d))
            self._cond.notify_all()
        return event_id

    def emit_lost_call(self, lost: LostCall) -> str | None:
        return self.emit(WebhookEvent.LOST_CALL_DETECTED, lost_call_data(lost))

    def _drop_oldest(self) -> None:
        # called with the lock held; O(n) over a bounded queue, only when it is full
        k = min(range(len(self._heap)), key=lambda j: self._heap[j][2].seq)
        dropped = self._heap.pop(k)[2]
        heapq.heapify(self._heap)
        self._metrics.webhook(WebhookResult.DROPPED)
        log.warning("webhook queue full (%d): dropped %s id=%s for %s", self._queue_size, dropped.event,
                    dropped.event_id, _safe_url(self._targets[dropped.target].url))

    # --- lifecycle ----------------------------------------------------------------------

    def pending(self) -> int:
        """Deliveries queued or being sent."""
        with self._cond:
            return len(self._heap) + self._in_flight

    def flush(self, timeout: float) -> bool:
        """Wait until nothing is queued or in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop within ``timeout``: deliver what can be delivered by then; abandon (log
        and count) what is queued, waiting for a retry or still being sent."""
        end = time.monotonic() + max(0.0, timeout)
        # keep a little of the time to cut off tries in flight and let their workers end
        self.flush(timeout - min(0.5, timeout / 4))
        with self._cond:
            self._closing = True
            left = [d for _, _, d in self._heap]
            self._heap.clear()
            cut = list(self._requests)
            self._cond.notify_all()
        for request in cut:
            request.abort()  # its worker counts it as abandoned
        for d in left:
            self._abandoned(d)
        for t in self._threads:
            if t.is_alive():
                t.join(timeout=max(0.0, end - time.monotonic()))
        busy = sum(t.is_alive() for t in self._threads)
        if busy:
            log.warning("webhook: %d delivery worker(s) still busy after the %.1f s shutdown grace", busy, timeout)

    def _abandoned(self, d: _Delivery) -> None:
        self._metrics.webhook(WebhookResult.ABANDONED)
        log.error("webhook %s id=%s to %s abandoned at shutdown after %d tries", d.event, d.event_id,
                  _safe_url(self._targets[d.target].url), d.tries)

    # --- workers ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closing and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                if self._closing:
                    return
                d = heapq.heappop(self._heap)[2]
                self._in_flight += 1
            try:
                retry_in = self._deliver(d)
            except Exception:
                log.exception("webhook %s id=%s: unexpected error; given up", d.event, d.event_id)
                self._metrics.handler_error("webhooks")
                retry_in = None
            with self._cond:
                self._in_flight -= 1
                closing = self._closing
                if retry_in is not None and not closing:
                    nxt = replace(d, tries=d.tries + 1, due=time.monotonic() + retry_in)
                    heapq.heappush(self._heap, (nxt.due, nxt.seq, nxt))
                self._cond.notify_all()
            if retry_in is not None and closing:
                self._abandoned(d)

    def _deliver(self, d: _Delivery) -> float | None:
        """One try. Returns the delay before the next try, or None when done."""
        target = self._targets[d.target]
        url = _safe_url(target.url)
        attempt = d.tries + 1
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": self._ua,
            "X-Fsworker-Event": d.event.value,
            "X-Fsworker-Delivery": d.event_id,
            "X-Fsworker-Attempt": str(attempt),
            "X-Fsworker-Timestamp": str(int(self._clock())),
        }
        secret = self._secrets[d.target]
        if secret is not None:
            headers[SIGNATURE_HEADER] = sign(secret, d.body)
        req = urllib.request.Request(target.url, data=d.body, headers=headers, method="POST")
        status: int | None = None
        retry_after: float | None = None
        problem = ""
        request = Deadline(target.timeout_s)
        with self._cond:
            if self._closing:
                return 0.0  # closed while this was being picked up: _run abandons it
            self._requests.add(request)
        try:
            with request:
                status = post(self._opener, req, deadline=request, allow_private=target.allow_private)
        except urllib.error.HTTPError as exc:
            status = exc.code
            retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            exc.close()
            problem = f"HTTP {status}"
        except TargetRefused as exc:
            self._metrics.webhook(WebhookResult.REJECTED)
            log.error("webhook %s id=%s to %s refused: %s; not retried", d.event, d.event_id, url, exc)
            return None
        except DeadlineExceeded as exc:
            if request.aborted:
                self._abandoned(replace(d, tries=attempt))
                return None
            problem = f"timed out: {exc}"
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            problem = f"{type(exc).__name__}: {reason}"
        finally:
            with self._cond:
                self._requests.discard(request)
        if status is not None and 200 <= status < 300:
            self._metrics.webhook(WebhookResult.DELIVERED)
            log.debug("webhook %s id=%s delivered to %s (try %d)", d.event, d.event_id, url, attempt)
            return None
        if status is not None and status not in _RETRYABLE and not 500 <= status < 600:
            self._metrics.webhook(WebhookResult.REJECTED)
            log.error("webhook %s id=%s rejected by %s: %s; not retried", d.event, d.event_id, url, problem)
            return None
        if d.tries >= target.retries:
            self._metrics.webhook(WebhookResult.FAILED)
            log.error("webhook %s id=%s to %s failed after %d tries: %s; given up",
                      d.event, d.event_id, url, attempt, problem)
            return None
        delay = self._backoff.delay(attempt)
        if retry_after is not None:
            delay = min(self._backoff.cap_s, max(delay, retry_after))
        self._metrics.webhook(WebhookResult.RETRIED)
        log.warning("webhook %s id=%s to %s: %s; retry %d/%d in %.1f s",
                    d.event, d.event_id, url, problem, attempt, target.retries, delay)
        return delay


def _json_default(v: Any) -> Any:
    # datetimes as ISO 8601; anything else unknown is a bug in the caller, not "str(v)"
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, (tuple, frozenset, set)):
        return list(v)
    raise TypeError(f"not JSON-serialisable: {type(v).__name__}")


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None  # the HTTP-date form is rare for webhooks; back-off applies
    return float(value.strip())
