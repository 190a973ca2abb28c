"""One webhook POST: under a whole-request deadline, to an address the rules allow.

Rules: ``timeout_s`` bounds the whole request — resolving, connecting, sending and
reading the whole response — not each socket operation (a receiver dripping a byte
every second would otherwise hold a delivery worker for ever). A ``Deadline`` timer
shuts the connection's socket down when the time is up, which ends whatever read or
write is blocked on it, in a plain thread or a monkey-patched greenlet alike; the same
``abort()`` ends a delivery at shutdown. Before connecting, every address a target
name resolves to is checked (``webhook_target``): a DNS name pointing at a metadata,
link-local or (without ``allow_private``) private address is refused like the literal
would be. Through a configured proxy, the proxy resolves the target: only the URL's
literal host is checked (by the configuration). Redirects are not followed. During a
TLS handshake only the per-operation socket timeout applies (the socket being wrapped
cannot be shut down from outside); from the first byte sent, the deadline does.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import threading
import time
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fsworker.core.webhook_target import check_address

_RESPONSE_READ = 64 * 1024


class DeadlineExceeded(OSError):
    """The whole request took longer than the webhook's timeout_s (or was aborted)."""


class Deadline:
    """Shuts down the sockets of one request when its time is up or it is aborted."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.expired = False
        self.aborted = False
        self._timer = threading.Timer(seconds, self.expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def left(self) -> float:
        return self.at - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            if not (self.expired or self.aborted):
                return
        _shut(sock)

    def expire(self) -> None:
        self._end(aborted=False)

    def abort(self) -> None:
        """End the request now (shutdown): its worker sees a DeadlineExceeded."""
        self._end(aborted=True)

    def _end(self, *, aborted: bool) -> None:
        with self._lock:
            if aborted:
                self.aborted = True
            else:
                self.expired = True
            socks = list(self._socks)
        for s in socks:
            _shut(s)

    def check(self) -> None:
        if self.aborted:
            raise DeadlineExceeded("aborted at shutdown")
        if self.expired or self.left() <= 0:
            raise DeadlineExceeded(f"no complete response within {self.seconds:g} s")


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected: nothing blocks on it


def _connector(deadline: Deadline, target_host: str, allow_private: bool) -> Any:
    """A replacement for ``socket.create_connection`` that checks the addresses of the
    target (not of a proxy), connects under what is left of the deadline and registers
    the socket with it."""

    def connect(address: tuple[str, int], timeout: Any = None, source_address: Any = None) -> socket.socket:
        host, port = address
        deadline.check()
        left = max(0.001, deadline.left())
        op_timeout = min(timeout, left) if isinstance(timeout, (int, float)) else left
        if host.lower() != target_host:
            sock = socket.create_connection(address, op_timeout, source_address)  # a proxy
        else:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            for info in infos:
                check_address(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]), allow_private=allow_private)
            # connect to an address just checked, not to the result of a second lookup
            family, _, proto, _, sockaddr = infos[0]
            sock = socket.socket(family, socket.SOCK_STREAM, proto)
            try:
                sock.settimeout(op_timeout)
                if source_address:
                    sock.bind(source_address)
                deadline.watch(sock)
                sock.connect(sockaddr)
            except BaseException:
                sock.close()
                raise
        deadline.watch(sock)
        deadline.check()
        return sock

    return connect


def _watched(base: type[http.client.HTTPConnection], deadline: Deadline, target_host: str,
             allow_private: bool) -> Any:
    def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
        conn = base(*args, **kwargs)
        conn._create_connection = _connector(deadline, target_host, allow_private)  # type: ignore[attr-defined]
        plain_connect = conn.connect

        def connect() -> None:
            plain_connect()
            # HTTPS: wrapping the socket in TLS detached the one watched so far
            deadline.watch(conn.sock)

        conn.connect = connect  # type: ignore[method-assign]
        return conn

    return make


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: Any) -> Any:
        d = req.fsworker_deadline
        return self.do_open(_watched(http.client.HTTPConnection, d, req.fsworker_host, req.fsworker_private), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: Any) -> Any:
        d = req.fsworker_deadline
        return self.do_open(_watched(http.client.HTTPSConnection, d, req.fsworker_host, req.fsworker_private), req,
                            context=self._context)


def build_opener(proxies: Mapping[str, str] | None) -> urllib.request.OpenerDirector:
    handlers: list[Any] = [_NoRedirect(), _HTTPHandler(), _HTTPSHandler()]
    if proxies is not None:
        handlers.append(urllib.request.ProxyHandler(dict(proxies)))
    return urllib.request.build_opener(*handlers)


def post(opener: urllib.request.OpenerDirector, req: urllib.request.Request, *, deadline: Deadline,
         allow_private: bool) -> int:
    """POST ``req`` and read (at most 64 KiB of) the response; its status. Raises what
    urllib raises (HTTPError for non-2xx), TargetRefused, or DeadlineExceeded."""
    req.fsworker_deadline = deadline  # type: ignore[attr-defined]
    req.fsworker_host = (urlsplit(req.full_url).hostname or "").lower()  # type: ignore[attr-defined]
    req.fsworker_private = allow_private  # type: ignore[attr-defined]
    try:
        with opener.open(req, timeout=deadline.seconds) as resp:
            resp.read(_RESPONSE_READ)
            status = resp.status
    except (OSError, http.client.HTTPException) as exc:
        if deadline.aborted or deadline.expired:
            raise DeadlineExceeded(str(exc) if deadline.aborted else
                                   f"no complete response within {deadline.seconds:g} s") from exc
        raise
    deadline.check()
    return status
