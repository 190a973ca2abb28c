"""The callbacks API for CRMs: POST /api/v1/callbacks asks for a callback, GET and
DELETE /api/v1/callbacks/{id} read and cancel one. Documented by openapi.json beside
this module (served at GET /api/v1/openapi.json).

Rules:
- A thin layer: parsing is fsworker.core.requests', deciding is the intake's (the same
  rules, blacklist, D1 and master switch as any lost call), reading and cancelling the
  queue's. No business logic here.
- Every request but the OpenAPI document needs ``Authorization: Bearer <token>``; the
  token comes from the environment variable named by ``[api] token_env``, compared in
  constant time. No token configured: the API is off (404), never open.
- Bad input answers 400 with the field, the value and the limit; a body over
  MAX_BODY bytes 413; a call the rules skip 422 with the skip reason; the database away
  503. Nothing is half-written: the intake takes a request in one transaction.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from fsworker.core.clock import Clock, SystemClock
from fsworker.core.errors import ValidationError
from fsworker.core.requests import parse_callback_request, requested_lost_call
from fsworker.service.intake import Intake
from fsworker.store.errors import NotFoundError, StoreError, StoreUnavailableError
from fsworker.store.queue import TaskQueue, TaskView

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_BODY = 16 * 1024
OPENAPI_PATH = Path(__file__).with_name("openapi.json")
_ITEM = re.compile(rf"{PREFIX}/callbacks/(\d{{1,18}})")

StartResponse = Callable[..., Any]


def task_json(task: TaskView) -> dict[str, Any]:
    """A task as the API shows it (the schema ``Callback`` in openapi.json)."""
    def iso(t: datetime | None) -> str | None:
        return t.isoformat() if t else None

    return {
        "id": task.task_id,
        "customer_number": task.customer_number,
        "rule": task.rule_name,
        "status": task.status.value,
        "attempts_made": task.attempt_no,
        "due_at": iso(task.due_at),
        "created_at": iso(task.created_at),
        "ended_at": iso(task.ended_at),
        "end_reason": task.end_reason.value if task.end_reason else None,
        "lost_calls": list(task.lost_call_uuids),
        "attempts": [
            {"attempt": a.attempt_no, "started_at": iso(a.started_at), "ended_at": iso(a.ended_at),
             "outcome": a.outcome.value if a.outcome else None, "employee": a.employee, "talk_s": a.talk_s}
            for a in task.attempts
        ],
    }


class CallbacksApi:
    """The WSGI application under /api/v1."""

    def __init__(self, intake: Intake, queue: TaskQueue, token: str | None, *, clock: Clock | None = None,
                 on_cancelled: Callable[[int], None] | None = None) -> None:
        self.intake = intake
        self.queue = queue
        #: told of each task this API cancelled (metrics, the task_ended webhook)
        self.on_cancelled = on_cancelled or (lambda task_id: None)
        self._token = token.encode() if token else None
        self.clock = clock or SystemClock()

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if not self.enabled:
            return _send(start_response, 404, {"error": "not_found", "detail": "the API is off: no token configured"})
        if path == f"{PREFIX}/openapi.json" and method in ("GET", "HEAD"):
            body = OPENAPI_PATH.read_bytes()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if not self._authorized(environ):
            return _send(start_response, 401, {"error": "unauthorized", "detail": "Authorization: Bearer <token>"},
                         [("WWW-Authenticate", 'Bearer realm="fsworker"')])
        try:
            if path == f"{PREFIX}/callbacks":
                if method != "POST":
                    return _send(start_response, 405, {"error": "method_not_allowed"}, [("Allow", "POST")])
                return self._create(environ, start_response)
            m = _ITEM.fullmatch(path)
            if m is None:
                return _send(start_response, 404, {"error": "not_found"})
            task_id = int(m.group(1))
            if method in ("GET", "HEAD"):
                return _send(start_response, 200, task_json(self.queue.get_task(task_id)))
            if method == "DELETE":
                return self._cancel(task_id, start_response)
            return _send(start_response, 405, {"error": "method_not_allowed"}, [("Allow", "GET, DELETE")])
        except NotFoundError:
            return _send(start_response, 404, {"error": "not_found", "detail": "no such callback"})
        except StoreUnavailableError as exc:
            log.warning("api %s %s: database unavailable: %s", method, path, exc)
            return _send(start_response, 503, {"error": "unavailable", "detail": "the database cannot be reached"},
                         [("Retry-After", "5")])
        except StoreError as exc:
            log.error("api %s %s: %s", method, path, exc)
            return _send(start_response, 500, {"error": "store_error"})

    def _authorized(self, environ: dict[str, Any]) -> bool:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, given = header.partition(" ")
        assert self._token is not None
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._token)

    def _create(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        ctype = environ.get("CONTENT_TYPE", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            return _send(start_response, 415, {"error": "unsupported_media_type", "detail": "application/json"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            return _send(start_response, 413 if length > MAX_BODY else 400,
                         {"error": "invalid", "field": "Content-Length", "value": environ.get("CONTENT_LENGTH"),
                          "limit": f"1..{MAX_BODY} bytes"})
        raw = environ["wsgi.input"].read(length)
        try:
            req = parse_callback_request(json.loads(raw), self.intake.numbers)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _send(start_response, 400, {"error": "invalid", "field": "body", "value": None,
                                               "limit": f"a JSON object ({exc})"})
        except (ValidationError, RecursionError) as exc:
            if isinstance(exc, RecursionError):
                return _send(start_response, 400, {"error": "invalid", "field": "body", "limit": "nested too deeply"})
            return _send(start_response, 400, {"error": "invalid", "field": exc.field,
                                               "value": _jsonable(exc.value), "limit": exc.limit})
        if req.rule is not None and req.rule not in {r.name for r in self.intake.catalog().rules}:
            return _send(start_response, 400, {"error": "invalid", "field": "rule", "value": req.rule,
                                               "limit": "the name of an existing rule"})
        call = requested_lost_call(req, now=self.clock.now())
        result = self.intake.lost_call(call, rule=req.rule, not_before=req.not_before)
        if result.skip is not None and result.skip.value == "duplicate":
            # the same key again: answer with what the first request got
            return self._repeat(req.call_uuid, start_response)
        if result.task_id is None:
            reason = result.skip.value if result.skip else "skipped"
            log.info("api: callback for %s (key %s) skipped: %s", req.customer_number, req.idempotency_key, reason)
            return _send(start_response, 422, {"error": "skipped", "reason": reason, "detail": result.detail})
        task = self.queue.get_task(result.task_id)
        log.info("api: callback for %s (key %s): task %s %s", req.customer_number, req.idempotency_key,
                 task.task_id, "created" if result.created else "joined (D1)")
        return _send(start_response, 201 if result.created else 200, task_json(task),
                     [("Location", f"{PREFIX}/callbacks/{task.task_id}")])

    def _repeat(self, call_uuid: str, start_response: StartResponse) -> Iterable[bytes]:
        task_id = self.queue.lost_call_task(call_uuid)
        if task_id is None:
            reason = self.queue.lost_call_skip_reason(call_uuid)
            return _send(start_response, 422, {"error": "skipped", "reason": reason.value if reason else "skipped",
                                               "detail": "this idempotency key was used before"})
        return _send(start_response, 200, task_json(self.queue.get_task(task_id)),
                     [("Location", f"{PREFIX}/callbacks/{task_id}")])

    def _cancel(self, task_id: int, start_response: StartResponse) -> Iterable[bytes]:
        task = self.queue.get_task(task_id)  # NotFoundError -> 404
        if not self.queue.cancel_task(task_id, now=self.clock.now()):
            return _send(start_response, 409, {"error": "conflict", "detail": "the callback has already ended",
                                               "callback": task_json(self.queue.get_task(task_id))})
        log.info("api: task %s cancelled (customer %s)", task_id, task.customer_number)
        self.on_cancelled(task_id)
        return _send(start_response, 200, task_json(self.queue.get_task(task_id)))


def _jsonable(value: object) -> object:
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large", 415: "Unsupported Media Type",
            422: "Unprocessable Entity", 500: "Internal Server Error", 503: "Service Unavailable"}


def _send(start_response: StartResponse, code: int, doc: object,
          headers: list[tuple[str, str]] | None = None) -> Iterable[bytes]:
    body = json.dumps(doc, ensure_ascii=False).encode()
    start_response(f"{code} {_REASONS[code]}", [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                                                ("Content-Length", str(len(body))), *(headers or [])])
    return [body]
