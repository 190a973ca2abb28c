"""A one-shot Event Socket login: connect, ``auth``, ``api status``, close.

Rules: this is what ``fsworker check`` asks each configured node, before anyone relies
on ``fsworker run`` reaching it. It is blocking and gevent-free (the CLI does not patch
the standard library), uses the sans-I/O parser and the command builders, and puts the
whole exchange under one deadline (the node's connect timeout). Each way it can fail is
its own exception, so the caller can say what to fix; no message ever contains the
password.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from fsworker.esl.proto import commands
from fsworker.esl.proto.errors import AuthenticationError, ConnectionLostError, NotConnectedError, RemoteProtocolError
from fsworker.esl.proto.frames import API_RESPONSE, AUTH_REQUEST, COMMAND_REPLY, Frame
from fsworker.esl.proto.parser import NEED_DATA, Parser

#: the switch's ``api status`` reply is a few lines; more means we are not talking to one
_MAX_REPLY_BYTES = 64 * 1024


def _shown(text: str, limit: int = 200) -> str:
    """What the switch said, safe to print on an operator's terminal (no escapes)."""
    return "".join(ch if ch.isprintable() else "?" for ch in text.strip())[:limit]


class ProbeTimeoutError(NotConnectedError):
    """The switch accepted the connection but did not finish the exchange in time."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LoginProbe:
    """What a successful login saw."""

    host: str
    port: int
    seconds: float  #: connect to the ``api status`` reply
    status: str  #: the first line of ``api status`` (``UP 0 years, 0 days, ...``)


class _Exchange:
    def __init__(self, sock: socket.socket, deadline: float, where: str) -> None:
        self.sock = sock
        self.deadline = deadline
        self.where = where
        self.parser = Parser(max_body_bytes=_MAX_REPLY_BYTES)

    def frame(self, waiting_for: str) -> Frame:
        while True:
            try:
                frame = self.parser.next_frame()
            except RemoteProtocolError as exc:
                raise RemoteProtocolError(f"{self.where}: is this FreeSWITCH's Event Socket? waiting for "
                                          f"{waiting_for}: {exc}") from exc
            if frame is not NEED_DATA:
                assert isinstance(frame, Frame)
                return frame
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise ProbeTimeoutError(f"{self.where}: no {waiting_for} in time")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise ProbeTimeoutError(f"{self.where}: no {waiting_for} in time") from None
            except OSError as exc:
                raise ConnectionLostError(f"{self.where}: connection lost waiting for {waiting_for}: "
                                          f"{exc.strerror or exc}") from exc
            if not data:
                raise ConnectionLostError(f"{self.where}: the switch closed the connection "
                                          f"before the {waiting_for}")
            self.parser.feed(data)

    def reply(self, content_type: str, waiting_for: str) -> Frame:
        """The next frame of ``content_type``, skipping events and log lines."""
        while True:
            frame = self.frame(waiting_for)
            if frame.content_type == content_type:
                return frame
            if frame.content_type in ("text/disconnect-notice", "text/rude-rejection"):
                raise ConnectionLostError(f"{self.where}: the switch hung up: {_shown(frame.text)}")


def login(host: str, port: int, password: str, *, timeout: float) -> LoginProbe:
    """Log in and ask ``api status``, all within ``timeout`` seconds.

    Raises NotConnectedError (refused, unreachable, ProbeTimeoutError), AuthenticationError
    (the switch refused the password), ConnectionLostError or RemoteProtocolError."""
    auth = commands.auth(password)  # refuses an unusable password before any I/O
    where = f"{host}:{port}"
    started = time.monotonic()
    deadline = started + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise NotConnectedError(f"cannot connect to {where}: {exc.strerror or exc}") from exc
    with sock:
        talk = _Exchange(sock, deadline, where)
        hello = talk.frame("auth/request")
        if hello.content_type != AUTH_REQUEST:
            raise RemoteProtocolError(f"{where}: is this FreeSWITCH's Event Socket? expected auth/request, got "
                                      f"{_shown(hello.content_type) or 'no Content-Type'}")
        sock.sendall(auth)
        reply = talk.reply(COMMAND_REPLY, "reply to auth")
        if not reply.ok:
            raise AuthenticationError(f"{where} refused the password: {_shown(reply.reply_text)}")
        sock.sendall(commands.api("status"))
        status = talk.reply(API_RESPONSE, "reply to api status")
        seconds = time.monotonic() - started
        if not status.ok:
            raise RemoteProtocolError(f"{where}: api status answered {_shown(status.text)}")
        try:
            sock.sendall(commands.exit_())
        except OSError:
            pass  # we are done either way
    first = next((line for line in status.text.splitlines() if line.strip()), "")
    return LoginProbe(host=host, port=port, seconds=seconds, status=_shown(first))
