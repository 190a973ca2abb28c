"""The supervisor's console: server-rendered pages (Jinja2, no front-end build) over
the store and the running service — today's funnel, the callback queue, a task's story,
callback calls up, each switch's state, the rules in order — and two actions, the
master switch and cancelling a task.

Rules:
- A thin layer: every number comes from the queue, the repository, the health probes
  or the funnel provider; every action is an existing store call. No business logic in
  handlers or templates.
- Off unless the environment variable named by ``[console] password_env`` holds a
  password. Login sets an HttpOnly, SameSite=Strict session cookie; sessions live in
  memory and expire (CONSOLE_SESSION_S). Failed logins are slowed down.
- Every POST carries the session's CSRF token; a POST without it changes nothing (403).
- Templates autoescape: caller numbers, rule and employee names are untrusted text.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape

from fsworker.core.catalog import Catalog
from fsworker.core.clock import Clock, SystemClock
from fsworker.core.outcomes import TaskStatus
from fsworker.store.errors import NotFoundError, StoreError
from fsworker.store.queue import TaskQueue
from fsworker.store.repo import Repository

log = logging.getLogger(__name__)

PREFIX = "/console"
COOKIE = "fsw_console"
CONSOLE_SESSION_S = 8 * 3600
REFRESH_S = 10
MAX_FORM = 4096
_FAILED_LOGIN_DELAY_S = 1.0
_TEMPLATES = Path(__file__).with_name("console_templates")

StartResponse = Callable[..., Any]
#: the funnel since an instant: rows of (label, count) grouped by section
Funnel = Callable[[datetime], Mapping[str, Iterable[tuple[str, object]]]]


class _Sessions:
    """Session id -> (CSRF token, expiry). In memory: a restart logs everyone out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, tuple[str, float]] = {}

    def new(self) -> tuple[str, str]:
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._by_id = {k: v for k, v in self._by_id.items() if v[1] > now}
            self._by_id[sid] = (csrf, now + CONSOLE_SESSION_S)
        return sid, csrf

    def csrf(self, sid: str | None) -> str | None:
        if not sid:
            return None
        with self._lock:
            got = self._by_id.get(sid)
        if got is None or got[1] < time.monotonic():
            return None
        return got[0]

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)


class Console:
    """The WSGI application under /console."""

    def __init__(self, *, queue: TaskQueue, repo: Repository, catalog: Callable[[], Catalog],
                 health: Callable[[], Mapping[str, Any]], funnel: Funnel, password: str | None,
                 calls_up: Callable[[], Mapping[str, int]], clock: Clock | None = None,
                 display_zone: Any = None, on_cancelled: Callable[[int], None] | None = None) -> None:
        #: told of each task a supervisor cancelled here (metrics, the task_ended webhook)
        self.on_cancelled = on_cancelled or (lambda task_id: None)
        self.queue, self.repo, self.catalog, self.health = queue, repo, catalog, health
        self.funnel, self.calls_up = funnel, calls_up
        self.clock = clock or SystemClock()
        self.zone = display_zone
        self._password = password.encode() if password else None
        self._sessions = _Sessions()
        self._env = Environment(loader=FileSystemLoader(str(_TEMPLATES)), autoescape=select_autoescape(["html"]),
                                trim_blocks=True, lstrip_blocks=True)
        self._env.filters["when"] = self._when

    @property
    def enabled(self) -> bool:
        return self._password is not None

    def _when(self, t: datetime | None) -> str:
        if t is None:
            return "—"
        return t.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")

    # -- dispatch --------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not self.enabled:
            return _text(start_response, "404 Not Found", "the console is off: no password configured\n")
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == f"{PREFIX}/login":
            return self._login(environ, start_response) if method == "POST" else \
                self._page(start_response, "login.html", error=None)
        sid = _cookie(environ)
        csrf = self._sessions.csrf(sid)
        if csrf is None:
            return _redirect(start_response, f"{PREFIX}/login")
        try:
            if method == "POST":
                form = _form(environ)
                if not hmac.compare_digest(form.get("csrf", "").encode(), csrf.encode()):
                    log.warning("console: POST %s without a valid CSRF token refused", path)
                    return _text(start_response, "403 Forbidden", "missing or wrong CSRF token\n")
                return self._action(path, form, sid, start_response)
            if method not in ("GET", "HEAD"):
                return _text(start_response, "405 Method Not Allowed", "GET or POST\n")
            if path in (PREFIX, f"{PREFIX}/"):
                return self._dashboard(start_response, csrf)
            if path.startswith(f"{PREFIX}/tasks/") and path.rsplit("/", 1)[1].isdigit():
                return self._task(start_response, csrf, int(path.rsplit("/", 1)[1]))
            return _text(start_response, "404 Not Found", "not found\n")
        except NotFoundError:
            return _text(start_response, "404 Not Found", "no such task\n")
        except StoreError as exc:
            log.warning("console %s %s: %s", method, path, exc)
            return _text(start_response, "503 Service Unavailable", f"the database cannot be reached: {exc}\n")

    # -- pages -----------------------------------------------------------------------
    def _dashboard(self, start_response: StartResponse, csrf: str) -> Iterable[bytes]:
        now = self.clock.now()
        since = now.astimezone(self.zone).replace(hour=0, minute=0, second=0, microsecond=0)
        waiting = self.queue.list_tasks(status=TaskStatus.PENDING, limit=50)
        active = self.queue.list_tasks(status=TaskStatus.ACTIVE, limit=50)
        return self._page(start_response, "dashboard.html", csrf=csrf, now=now,
                          master=self.repo.master_switch(), funnel=self.funnel(since), since=since,
                          waiting=sorted(waiting, key=lambda t: t.due_at), active=active,
                          counts=self.queue.counts(now=now), health=self.health(),
                          calls_up=self.calls_up(), rules=self.catalog().rules)

    def _task(self, start_response: StartResponse, csrf: str, task_id: int) -> Iterable[bytes]:
        task = self.queue.get_task(task_id)
        return self._page(start_response, "task.html", csrf=csrf, task=task,
                          lost_calls=self.queue.lost_calls_for_task(task_id))

    # -- actions ---------------------------------------------------------------------
    def _action(self, path: str, form: dict[str, str], sid: str | None,
                start_response: StartResponse) -> Iterable[bytes]:
        if path == f"{PREFIX}/switch":
            if form.get("enabled") not in ("on", "off"):
                return _text(start_response, "400 Bad Request", "enabled: on or off\n")
            on = form["enabled"] == "on"
            self.repo.set_master_switch(on, now=self.clock.now())
            log.warning("console: master switch turned %s", "on" if on else "off")
            return _redirect(start_response, f"{PREFIX}/")
        if path.startswith(f"{PREFIX}/tasks/") and path.endswith("/cancel"):
            raw = path[len(f"{PREFIX}/tasks/"):-len("/cancel")]
            if not raw.isdigit():
                return _text(start_response, "404 Not Found", "not found\n")
            task_id = int(raw)
            self.queue.get_task(task_id)  # 404 for an unknown id
            if self.queue.cancel_task(task_id, now=self.clock.now()):
                log.info("console: task %s cancelled", task_id)
                self.on_cancelled(task_id)
            return _redirect(start_response, f"{PREFIX}/tasks/{task_id}")
        if path == f"{PREFIX}/logout":
            self._sessions.drop(sid)
            return _redirect(start_response, f"{PREFIX}/login", clear=True)
        return _text(start_response, "404 Not Found", "not found\n")

    def _login(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        form = _form(environ)
        assert self._password is not None
        if not hmac.compare_digest(form.get("password", "").encode(), self._password):
            time.sleep(_FAILED_LOGIN_DELAY_S)  # under gevent's monkey patch: this request only
            log.warning("console: failed login from %s", environ.get("REMOTE_ADDR", "?"))
            return self._page(start_response, "login.html", code="401 Unauthorized", error="wrong password")
        sid, _ = self._sessions.new()
        log.info("console: login from %s", environ.get("REMOTE_ADDR", "?"))
        cookie = f"{COOKIE}={sid}; Path={PREFIX}; HttpOnly; SameSite=Strict; Max-Age={CONSOLE_SESSION_S}"
        start_response("303 See Other", [("Location", f"{PREFIX}/"), ("Set-Cookie", cookie),
                                         ("Content-Length", "0")])
        return [b""]

    def _page(self, start_response: StartResponse, template: str, code: str = "200 OK",
              **context: Any) -> Iterable[bytes]:
        body = self._env.get_template(template).render(prefix=PREFIX, refresh_s=REFRESH_S,
                                                       timedelta=timedelta, **context).encode()
        start_response(code, [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"),
                              ("X-Frame-Options", "DENY"), ("Content-Security-Policy",
                                                            "default-src 'none'; style-src 'self' 'unsafe-inline'; "
                                                            "form-action 'self'; frame-ancestors 'none'"),
                              ("Content-Length", str(len(body)))])
        return [body]


def _cookie(environ: dict[str, Any]) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(environ.get("HTTP_COOKIE", ""))
    except Exception:  # noqa: BLE001 - a malformed cookie header is no session
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else None


def _form(environ: dict[str, Any]) -> dict[str, str]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(min(max(length, 0), MAX_FORM)) if length > 0 else b""
    parsed = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


def _redirect(start_response: StartResponse, to: str, *, clear: bool = False) -> Iterable[bytes]:
    headers = [("Location", to), ("Content-Length", "0")]
    if clear:
        headers.append(("Set-Cookie", f"{COOKIE}=; Path={PREFIX}; HttpOnly; SameSite=Strict; Max-Age=0"))
    start_response("303 See Other", headers)
    return [b""]


def _text(start_response: StartResponse, status: str, text: str) -> Iterable[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
