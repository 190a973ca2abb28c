"""The one-shot login of ``fsworker check`` (fsworker.esl.probe) against a real
FreeSWITCH's bytes: a scripted TCP server answers each command with the frames the
recorded switch sent (tests/data/esl-traces/01 and 02), split where it split them."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fsworker.esl.probe import LoginProbe, login
from fsworker.esl.proto.errors import AuthenticationError, ConnectionLostError, RemoteProtocolError
from fsworker.esl.proto.parser import parse_all

TRACES = Path(__file__).resolve().parents[1] / "data" / "esl-traces"


def recorded_frames(name: str) -> list[bytes]:
    """The switch's side of a trace, one bytes object per frame, exactly as sent."""
    data = (TRACES / f"{name}.fs.bin").read_bytes()
    offsets = [frame.offset for frame in parse_all(data)] + [len(data)]
    return [data[a:b] for a, b in zip(offsets, offsets[1:], strict=False)]


class Scripted:
    """Sends ``greeting``, then for each command received (up to a blank line) the
    next bytes of ``replies``; closes after the last one."""

    def __init__(self, greeting: bytes, replies: list[bytes]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.commands: list[bytes] = []
        self._greeting, self._replies = greeting, replies
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.sendall(self._greeting)
            buf = b""
            for reply in self._replies:
                while b"\n\n" not in buf:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                command, buf = buf.split(b"\n\n", 1)
                self.commands.append(command)
                conn.sendall(reply)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture()
def servers() -> Iterator[list[Scripted]]:
    made: list[Scripted] = []
    yield made
    for s in made:
        s.close()


def test_recorded_switch_accepts_and_answers_status(servers: list[Scripted]) -> None:
    frames = recorded_frames("02-commands")
    # auth/request; +OK accepted; the api status reply
    server = Scripted(frames[0], [frames[1], frames[2]])
    servers.append(server)
    got = login("127.0.0.1", server.port, "ClueCon", timeout=5)
    assert isinstance(got, LoginProbe)
    assert got.status.startswith("UP ") and "\n" not in got.status
    assert server.commands == [b"auth ClueCon", b"api status"]


def test_recorded_wrong_password_is_an_authentication_error(servers: list[Scripted]) -> None:
    frames = recorded_frames("01-handshake-wrong-password")
    server = Scripted(frames[0], [b"".join(frames[1:])])  # -ERR invalid, disconnect notice, close
    servers.append(server)
    with pytest.raises(AuthenticationError, match="refused the password: -ERR invalid") as err:
        login("127.0.0.1", server.port, "wrong-secret", timeout=5)
    assert "wrong-secret" not in str(err.value)


def test_not_an_event_socket_is_a_protocol_error(servers: list[Scripted]) -> None:
    for greeting in (b"SSH-2.0-OpenSSH_9.6\r\n\n", b"Content-Type: text/html\n\n"):
        server = Scripted(greeting, [])
        servers.append(server)
        with pytest.raises(RemoteProtocolError, match=f"127.0.0.1:{server.port}: is this FreeSWITCH's Event Socket"):
            login("127.0.0.1", server.port, "ClueCon", timeout=5)


def test_switch_closing_after_auth_is_connection_lost(servers: list[Scripted]) -> None:
    frames = recorded_frames("02-commands")
    server = Scripted(frames[0], [])  # reads nothing more: closes once the greeting is sent
    servers.append(server)
    with pytest.raises(ConnectionLostError):
        login("127.0.0.1", server.port, "ClueCon", timeout=5)


def test_what_the_switch_says_is_printable_when_shown(servers: list[Scripted]) -> None:
    # a hostile or broken peer must not drive the operator's terminal with escapes
    body = b"UP \x1b[2J\x1b]0;owned\x07 0 years\n"
    reply = b"Content-Type: api/response\nContent-Length: %d\n\n%s" % (len(body), body)
    server = Scripted(b"Content-Type: auth/request\n\n",
                      [b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n", reply])
    servers.append(server)
    got = login("127.0.0.1", server.port, "ClueCon", timeout=5)
    assert got.status.isprintable() and "\x1b" not in got.status and got.status.startswith("UP ?[2J")
