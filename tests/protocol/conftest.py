"""Fixtures for protocol tests: the fake switch on loopback with a tiny scripted backend.

The real telephony backend (fsworker.testing.fakeswitch.pbx) is tested elsewhere; here the backend
only answers what the protocol tests need, and can be made to hang ("slow") so a test
can kill the switch mid-command.
"""

from __future__ import annotations

import gevent
import gevent.event
import gevent.socket
import pytest

from fsworker.esl.proto.parser import NEED_DATA, Parser
from fsworker.testing.fakeswitch.bus import MinimalBackend
from fsworker.testing.fakeswitch.server import FakeSwitchServer


class TinyBackend(MinimalBackend):
    """status, uuid_exists -> false, echo, unknown commands; ``slow`` waits for ``gate``;
    sendmsg is recorded and accepted for uuids in ``channels``."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = gevent.event.Event()
        self.channels: set[str] = set()
        self.sendmsgs: list[tuple[str, dict[str, str], bytes]] = []
        self.hang: set[str] = set()  #: api commands that wait for ``gate`` like ``slow``

    def api(self, command: str, arg: str) -> str:
        if command == "slow" or command in self.hang:
            self.gate.wait()
            return "+OK slow\n"
        return super().api(command, arg)

    def sendmsg(self, uuid: str, headers: dict[str, str], body: bytes) -> str:
        self.sendmsgs.append((uuid, headers, body))
        if uuid in self.channels:
            return "+OK"
        return super().sendmsg(uuid, headers, body)


@pytest.fixture()
def backend() -> TinyBackend:
    return TinyBackend()


@pytest.fixture()
def fake(backend):
    server = FakeSwitchServer(backend=backend).start()
    yield server
    backend.gate.set()
    server.stop()


class RawClient:
    """A bare TCP client speaking bytes, for byte-exact checks of the fake."""

    def __init__(self, port: int) -> None:
        self.sock = gevent.socket.create_connection(("127.0.0.1", port), timeout=2)
        self.parser = Parser()
        self.raw = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def frame(self, timeout: float = 2.0):
        with gevent.Timeout(timeout):
            while True:
                f = self.parser.next_frame()
                if f is not NEED_DATA:
                    return f
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("closed")
                self.raw += chunk
                self.parser.feed(chunk)

    def closed(self, timeout: float = 2.0) -> bool:
        with gevent.Timeout(timeout):
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.raw += chunk
                self.parser.feed(chunk)

    def command(self, data: bytes):
        self.send(data)
        return self.frame()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def raw_client(fake):
    clients = []

    def make(auth: bool = True) -> RawClient:
        c = RawClient(fake.port)
        clients.append(c)
        assert c.frame().content_type == "auth/request"
        if auth:
            assert c.command(b"auth ClueCon\n\n").reply_text == "+OK accepted"
        return c

    yield make
    for c in clients:
        c.close()
