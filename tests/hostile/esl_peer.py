"""A hostile Event Socket peer on loopback: a real TCP server that speaks the inbound
handshake (auth/request, +OK to every command) and then misbehaves as scripted.

Plain threads and sockets, so it serves a gevent connection in the test process and
an ``fsworker run`` subprocess alike. Each accepted connection gets its own threads:
a reader answering commands (unless ``deaf``) and the ``after_handshake`` script,
which runs once the client has subscribed (its ``event`` command) and writes through
``send``, whole frames under one lock so replies never land inside an event.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

AUTH_REQUEST = b"Content-Type: auth/request\n\n"


def reply(text: str) -> bytes:
    return b"Content-Type: command/reply\nReply-Text: " + text.encode() + b"\n\n"


def event_frame(body: bytes) -> bytes:
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body


def heartbeat(seq: int = 1) -> bytes:
    return event_frame(b"Event-Name: HEARTBEAT\nCore-UUID: hostile\nEvent-Sequence: %d\n\n" % seq)


class PeerLink:
    """One accepted connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.deaf = False  #: stop answering commands (the link is left to its watchdog)
        self.commands: list[str] = []
        self.closed = threading.Event()

    def send(self, data: bytes) -> bool:
        try:
            with self.lock:
                self.sock.sendall(data)
            return True
        except OSError:
            self.closed.set()
            return False

    def read_commands(self) -> None:
        buf = b""
        try:
            while not self.closed.is_set():
                data = self.sock.recv(65536)
                if not data:
                    break
                buf += data
                while b"\n\n" in buf:
                    block, buf = buf.split(b"\n\n", 1)
                    line = block.split(b"\n", 1)[0].decode(errors="replace")
                    self.commands.append(line)
                    if self.deaf:
                        continue
                    if line.startswith("auth "):
                        self.send(reply("+OK accepted"))
                    elif line.startswith("api "):
                        body = b"UP 0 years, 0 days\n"
                        self.send(b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body)
                    else:
                        self.send(reply("+OK"))
                    if line.startswith("event "):
                        self.subscribed.set()
        except OSError:
            pass
        finally:
            self.closed.set()


class HostilePeer:
    """``HostilePeer(script).start()``; ``script(link)`` runs after each subscription.
    ``max_connections``: later connections are refused (the listener closes), so a
    client that drops the link stays down and says so."""

    def __init__(self, script: Callable[[PeerLink], None], *, max_connections: int = 1_000_000) -> None:
        self.script = script
        self.max_connections = max_connections
        self.links: list[PeerLink] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()

    def start(self) -> HostilePeer:
        threading.Thread(target=self._accept, daemon=True, name="hostile-accept").start()
        return self

    def _accept(self) -> None:
        while not self._stop.is_set() and len(self.links) < self.max_connections:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            link = PeerLink(sock)
            self.links.append(link)
            threading.Thread(target=link.read_commands, daemon=True).start()
            threading.Thread(target=self._run, args=(link,), daemon=True).start()
        self.listener.close()

    def _run(self, link: PeerLink) -> None:
        if not link.send(AUTH_REQUEST):
            return
        if link.subscribed.wait(30):
            self.script(link)

    def stop(self) -> None:
        self._stop.set()
        try:
            self.listener.close()
        except OSError:
            pass
        for link in self.links:
            link.closed.set()
            try:
                link.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            link.sock.close()


def drip(link: PeerLink, *, every: float = 1.0) -> None:
    """Deaf from now on; one byte of a frame that never ends, every ``every`` seconds."""
    link.deaf = True
    data = b"Content-Type: text/event-plain\nContent-Length: 99999999\n" * 1000
    for i in range(len(data)):
        if link.closed.is_set() or not link.send(data[i : i + 1]):
            return
        time.sleep(every)
