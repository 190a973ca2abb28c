"""``fsworker fake-switch`` stops on SIGTERM as ``freeswitch -stop`` stops a real switch
(esl-traces/NOTES.md): a connected client gets the shutdown notice, and the process
exits 0 instead of dying of the signal."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

from tests.e2e.test_run_cli import PASSWORD, Procs, clean_env, procs, start_fake_switch  # noqa: F401 - fixture


def _read_until(sock: socket.socket, marker: bytes, limit_s: float = 10.0) -> bytes:
    sock.settimeout(limit_s)
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_sigterm_sends_the_shutdown_notice_and_exits_0(tmp_path: Path, procs: Procs) -> None:  # noqa: F811
    switch, port = start_fake_switch(procs, tmp_path, clean_env())
    with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as sock:
        assert b"auth/request" in _read_until(sock, b"\n\n")
        sock.sendall(f"auth {PASSWORD}\n\n".encode())
        assert b"+OK accepted" in _read_until(sock, b"accepted")
        switch.send_signal(signal.SIGTERM)
        got = _read_until(sock, b"shut down")
    assert b"Content-Type: text/disconnect-notice" in got and b"The system is being shut down." in got
    assert switch.wait(timeout=15) == 0
