"""One inbound ESL connection of the fake switch: command parsing, replies, delivery.

Rules:
- Reply texts and frame layouts are copied from FreeSWITCH 1.10.12's wire bytes
  (traces 01, 02); header order matters (``Content-Type`` before ``Content-Length`` on
  api/response and the disconnect notice, the reverse on events).
- Subscription semantics follow mod_event_socket.c: ``event`` adds to the set (``ALL``
  means everything, words after ``CUSTOM`` are subclasses), ``nixevent`` removes,
  ``noevents`` clears; filters: an event passes if it matches any positive filter and
  no '-' filter (values compared case-insensitively, ``/regex/`` supported).
- All writes to the socket go through one lock: a reply and an event never interleave.
- A session never raises into the server: any failure closes this socket only.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import uuid as uuidlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape as xml_escape

import gevent
import gevent.lock

from fsworker.esl.proto.wire import event_plain_frame, fs_url_encode
from fsworker.testing.fakeswitch.bus import event_name

if TYPE_CHECKING:
    from fsworker.testing.fakeswitch.server import FakeSwitchServer

log = logging.getLogger(__name__)

DISCONNECT_TEXT = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
# Sent to every client when the switch stops (`freeswitch -stop`); the text as the real
# switch gave it (the trailing newline is assumed: it was not captured byte for byte).
SHUTDOWN_TEXT = b"The system is being shut down.\n"
MAX_COMMAND_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024


def reply_frame(text: str, *extra: tuple[str, str]) -> bytes:
    lines = ["Content-Type: command/reply", f"Reply-Text: {text}"]
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def api_response_frame(body: str) -> bytes:
    data = body.encode("utf-8")
    return f"Content-Type: api/response\nContent-Length: {len(data)}\n\n".encode() + data


def disconnect_frame(text: bytes = DISCONNECT_TEXT) -> bytes:
    return (
        f"Content-Type: text/disconnect-notice\nContent-Length: {len(text)}\n\n".encode()
        + text
    )


def event_json_frame(headers: Sequence[tuple[str, str]], body: bytes = b"") -> bytes:
    obj: dict[str, Any] = dict(headers)
    if body:
        obj["Content-Length"] = str(len(body))
        obj["_body"] = body.decode("utf-8", "replace")
    data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return f"Content-Length: {len(data)}\nContent-Type: text/event-json\n\n".encode() + data


def event_xml_frame(headers: Sequence[tuple[str, str]], body: bytes = b"") -> bytes:
    parts = ["<event>\n  <headers>\n"]
    parts += [f"    <{k}>{xml_escape(fs_url_encode(v))}</{k}>\n" for k, v in headers]
    if body:
        parts.append(f"    <Content-Length>{len(body)}</Content-Length>\n")
    parts.append("  </headers>\n")
    if body:
        parts.append(f"  <body>{xml_escape(body.decode('utf-8', 'replace'))}</body>\n")
    parts.append("</event>")
    data = "".join(parts).encode("utf-8")
    return f"Content-Length: {len(data)}\nContent-Type: text/event-xml\n\n".encode() + data


class _Filter:
    __slots__ = ("compare", "header", "pattern", "positive", "value")

    def __init__(self, header: str, value: str) -> None:
        self.header = header
        self.value = value
        stripped = value.lstrip("+- ")
        self.positive = not value.lstrip(" ").startswith("-")
        self.compare = stripped.lower()
        self.pattern = None
        if len(stripped) > 1 and stripped.startswith("/") and stripped.endswith("/"):
            try:
                self.pattern = re.compile(stripped[1:-1])
            except re.error:
                self.pattern = None

    def matches(self, value: str) -> bool:
        if self.pattern is not None:
            return self.pattern.search(value) is not None
        return value.lower() == self.compare


class Session:
    """State of one client connection."""

    def __init__(self, server: FakeSwitchServer, sock: Any, number: int) -> None:
        self.server = server
        self.sock = sock
        self.number = number
        self.authenticated = False
        self.closed = False
        self.fmt = "plain"
        self.listening = False
        self.all_events = False
        self.names: set[str] = set()
        self.subclasses: set[str] = set()
        self.filters: list[_Filter] = []
        self._wlock = gevent.lock.Semaphore()
        self._buf = bytearray()

    def __repr__(self) -> str:
        return f"<fake ESL session #{self.number} auth={self.authenticated}>"

    # -- I/O -------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self.closed:
            return
        with self._wlock:
            try:
                self.sock.sendall(data)
            except OSError as exc:
                log.debug("fake switch session #%s: send failed: %s", self.number, exc)
                self.kill()

    def kill(self) -> None:
        """Drop the socket now (no notice), as a crashed switch would."""
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def _read_command(self) -> tuple[str, dict[str, str], bytes] | None:
        buf = self._buf
        while True:
            end = buf.find(b"\n\n")
            if end >= 0:
                break
            if len(buf) > MAX_COMMAND_BYTES:
                raise ValueError("command block too large")
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            buf += chunk
        block = bytes(buf[:end])
        text = block.decode("utf-8", "replace").replace("\r", "")
        del buf[: end + 2]
        lines = text.split("\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(": ")
            if sep:
                headers[name] = value
        body = b""
        length = next((v for k, v in headers.items() if k.lower() == "content-length"), None)
        if length is not None and length.strip().isdigit():
            n = int(length)
            if n > MAX_BODY_BYTES:
                raise ValueError("command body too large")
            while len(buf) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return None
                buf += chunk
            body = bytes(buf[:n])
            del buf[:n]
        self.server._record_raw(self.number, block, body)
        return lines[0].strip(), headers, body

    def run(self) -> None:
        try:
            self.send(b"Content-Type: auth/request\n\n")
            while not self.closed:
                cmd = self._read_command()
                if cmd is None:
                    break
                line, headers, body = cmd
                self.server._record(self.number, line)
                if not self.handle(line, headers, body):
                    break
        except (OSError, ValueError) as exc:
            log.debug("fake switch session #%s ended: %s", self.number, exc)
        finally:
            self.kill()

    def _goodbye(self, reply: str) -> bool:
        self.send(reply_frame(reply))
        self.send(disconnect_frame())
        return False

    # -- commands ----------------------------------------------------------------
    def handle(self, line: str, headers: dict[str, str], body: bytes) -> bool:
        """Answer one command; False when the connection must close."""
        verb, _, rest = line.partition(" ")
        rest = rest.strip()
        if not self.authenticated:
            if verb == "auth":
                if self.server._check_password(rest):
                    self.authenticated = True
                    self.send(reply_frame("+OK accepted"))
                    return True
                return self._goodbye("-ERR invalid")
            if verb == "exit":
                return self._goodbye("+OK bye")
            self.send(reply_frame("-ERR command not found"))
            return True
        handler = getattr(self, "_cmd_" + verb, None) if verb.isidentifier() else None
        if handler is None:
            self.send(reply_frame("-ERR command not found"))
            return True
        return bool(handler(rest, headers, body))

    def _cmd_exit(self, rest: str, headers: dict[str, str], body: bytes) -> bool:
        return self._goodbye("+OK bye")

    def _cmd_auth(self, rest: str, headers: dict[str, str], body: bytes) -> bool:
        self.send(reply_frame("-ERR command not found"))
        return True

    def _cmd_linger(self, rest: str, headers: dict[str, str], body: bytes) -> bool:
        self.send(reply_frame("-ERR not controlling a session"))
        return True

    def _cmd_api(self, rest: str, headers: dict[str, str], body: bytes) -> bool:
        command, _, arg = rest.partition(" ")
        if not command:
            self.send(reply_frame("-ERR invalid"))  # not traced; mod_event_socket's wording
            return True
        try:
            out = self.server.run_api(command, arg.strip())
        except Exception:
            log.exception("fake switch: api %s failed in the backend", command)
            out = f"-ERR {command} Command failed!\n"
        self.send(api_response_frame(out))
        return True

    def _cmd_bgapi(self, rest: str, headers: dict[str, str], body: bytes) -> bool:
        command, _, arg = rest.partition(" ")
        job = headers.get("Job-UUID") or str(uuidlib.uuid4())
        self.send(reply_frame(f"+OK Job-UUID: {job}", ("Job-UUID", job)))
        gevent.spawn(self.server.run_bgapi, job, command, arg.strip())
        return True

    def _cmd_sendmsg(self, rest: str, headers: dict[str, str], body: bytes) -> bool:
        uuid = rest.split(" ", 1)[0] if rest else headers.get("Unique-ID", "")
        try:
            text = self.server.backend.sendmsg(uuid, dict(headers), body)
        except Exception:
            log.exception("fake switch: sendmsg %s failed in the backend", uuid)
            text = "-ERR command failed"
        self.send(reply_frame(text))
        return True

    def _cmd_event(self, rest: str, headers: dict[str, str], body: bytes) -> bool:
        words = rest.split()
        fmt = "plain"
        if words and words[0].lower() in ("plain", "json", "xml"):
            fmt = words.pop(0).lower()
        keys = 0
        custom = False
        for word in words:
            if custom:
                self.subclasses.add(word)
            elif word.isupper() or word == "ALL":
                keys += 1
                if word == "ALL":
                    self.all_events = True
                self.names.add(word)
                if word == "CUSTOM":
                    custom = True
        if not keys:
            self.send(reply_frame("-ERR no keywords supplied"))
            return True
        self.fmt = fmt
        self.listening = True
        self.send(reply_frame(f"+OK event listener enabled {fmt}"))
        return True

    def _cmd_nixevent(self, rest: str, headers: dict[str, str], body: bytes) -> bool:
        words = rest.split()
        if not words:
            self.send(reply_frame("-ERR no keywords supplied"))
            return True
        custom = False
        for word in words:
            if custom:
                self.subclasses.discard(word)
            elif word == "ALL":
                self.all_events = False
                self.names.clear()
                self.subclasses.clear()
            else:
                self.names.discard(word)
                custom = word == "CUSTOM"
        self.send(reply_frame("+OK events nixed"))
        return True

    def _cmd_noevents(self, rest: str, headers: dict[str, str], body: bytes) -> bool:
        if not self.listening:
            self.send(reply_frame("-ERR not listening for events"))
            return True
        self.listening = False
        self.all_events = False
        self.names.clear()
        self.subclasses.clear()
        self.send(reply_frame("+OK no longer listening for events"))
        return True

    def _cmd_filter(self, rest: str, headers: dict[str, str], body: bytes) -> bool:
        words = rest.split(" ", 1)
        if words[0] == "delete":
            args = words[1].split(" ", 1) if len(words) > 1 else []
            if not args:
                self.send(reply_frame("-ERR invalid syntax"))
                return True
            if args[0] == "all":
                self.filters.clear()
                self.send(reply_frame("+OK filter deleted."))
                return True
            value = args[1] if len(args) > 1 else None
            self.filters = [
                f for f in self.filters if not (f.header == args[0] and (value is None or f.value == value))
            ]
            shown = f"[{args[0]}]=[{value}]" if value is not None else f"[{args[0]}]"
            self.send(reply_frame(f"+OK filter deleted. {shown}"))
            return True
        if len(words) < 2 or not words[1]:
            self.send(reply_frame("-ERR invalid syntax"))
            return True
        self.filters.append(_Filter(words[0], words[1]))
        self.send(reply_frame(f"+OK filter added. [{words[0]}]=[{words[1]}]"))
        return True

    # -- events ----------------------------------------------------------------------
    def wants(self, headers: Sequence[tuple[str, str]]) -> bool:
        if not self.authenticated or not self.listening or self.closed:
            return False
        name = event_name(headers)
        if not self.all_events:
            if name not in self.names:
                return False
            if name == "CUSTOM":
                sub = next((v for k, v in headers if k == "Event-Subclass"), None)
                if sub is not None and sub not in self.subclasses:
                    return False
        if not self.filters:
            return True
        values = dict(headers)
        send = False
        for f in self.filters:
            value = values.get(f.header)
            if value is None:
                continue
            if send and f.positive:
                continue
            if f.matches(value):
                if not f.positive:
                    return False
                send = True
        return send

    def deliver(self, headers: Sequence[tuple[str, str]], body: bytes) -> None:
        if not self.wants(headers):
            return
        if self.fmt == "json":
            frame = event_json_frame(headers, body)
        elif self.fmt == "xml":
            frame = event_xml_frame(headers, body)
        else:
            frame = event_plain_frame(headers, body)
        self.send(frame)
