"""ESL socket to handler: fsworker's ``ESLConnection`` vs greenswitch's ``InboundESL``.

A replay server on loopback (its own process, so it never competes for the client's
interpreter) answers the auth handshake like FreeSWITCH, replies ``+OK`` to every
command, and after the client's ``event``/``events`` subscription sends the event frames
of the real trace 14-events-during-load repeated ``--repeat`` times (default 10: 9,940
events, 44.6 MB) as fast as the socket takes them. Each client registers one ``'*'``
handler that reads Event-Name, Unique-ID, Caller-Caller-ID-Number and
variable_fsw_task_id. The clock runs from the server's first event byte (it reports its
``time.monotonic()``, a system-wide clock on Linux) to the client's last event
handled. Clients take turns, ``--rounds`` times each; the median per client counts.
FreeSWITCH's libesl SWIG binding runs too when ``import ESL`` works.

The last line is ``socket_speedup_vs_greenswitch: X`` (median greenswitch time /
median fsworker time). Run: ``make bench`` or ``python bench/esl_socket.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ also holds queue.py: drop this directory from the path so gevent gets the
# standard library's ``queue``.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(ROOT))

TRACE = ROOT / "tests" / "data" / "esl-traces" / "14-events-during-load.fs.bin"
PASSWORD = "ClueCon"
TOUCHED = ("Event-Name", "Unique-ID", "Caller-Caller-ID-Number", "variable_fsw_task_id")


def event_stream(repeat: int) -> tuple[bytes, int]:
    """The trace's event frames, exact bytes, ``repeat`` times; and their count."""
    from fsworker.esl.proto.parser import parse_all

    data = TRACE.read_bytes()
    frames = parse_all(data)
    events = [f for f in frames if f.is_event]
    end = events[-1].offset + data.index(b"\n\n", events[-1].offset) + 2 - events[-1].offset
    end += len(events[-1].body)
    return data[events[0].offset : end] * repeat, len(events) * repeat


# -- the replay server (child process) ---------------------------------------------
def _read_command(f) -> bytes | None:
    lines = []
    while True:
        line = f.readline()
        if not line:
            return None
        if line in (b"\n", b"\r\n"):
            if lines:
                return b"".join(lines)
            continue
        lines.append(line)


def _reply(sock: socket.socket, text: str) -> None:
    sock.sendall(f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode())


def serve(repeat: int) -> None:
    stream, _ = event_stream(repeat)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    print(f"port {lsock.getsockname()[1]}", flush=True)
    while True:
        sock, _ = lsock.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = sock.makefile("rb")
        sock.sendall(b"Content-Type: auth/request\n\n")
        try:
            while True:
                cmd = _read_command(f)
                if cmd is None:
                    break
                verb = cmd.split(None, 1)[0].lower() if cmd.strip() else b""
                if verb == b"auth":
                    _reply(sock, "+OK accepted")
                elif verb in (b"event", b"events"):
                    _reply(sock, "+OK event listener enabled plain")
                    t0 = time.monotonic()
                    sock.sendall(stream)
                    print(f"t0 {t0!r}", flush=True)
                elif verb == b"exit":
                    _reply(sock, "+OK bye")
                    break
                else:
                    _reply(sock, "+OK")
        except OSError:
            pass
        finally:
            f.close()
            sock.close()


# -- the clients -----------------------------------------------------------------
def run_fsworker(port: int, expected: int) -> float:
    import gevent.event

    from fsworker.esl.connection import ESLConnection

    done = gevent.event.Event()
    seen = [0, 0.0]

    def handler(ev) -> None:
        for name in TOUCHED:
            ev.get(name)
        seen[0] += 1
        if seen[0] == expected:
            seen[1] = time.monotonic()
            done.set()

    conn = ESLConnection("127.0.0.1", port, PASSWORD, idle_timeout=None)
    conn.register_handle("*", handler)
    conn.connect()
    if not done.wait(120):
        raise SystemExit(f"fsworker: {seen[0]} of {expected} events handled within 120 s")
    conn.close()
    return seen[1]


def run_greenswitch(port: int, expected: int) -> float:
    import gevent.event
    from greenswitch.esl import InboundESL

    done = gevent.event.Event()
    seen = [0, 0.0]

    def handler(ev) -> None:
        for name in TOUCHED:
            ev.headers.get(name)
        seen[0] += 1
        if seen[0] == expected:
            seen[1] = time.monotonic()
            done.set()

    conn = InboundESL("127.0.0.1", port, PASSWORD)
    conn.connect()
    conn.register_handle("*", handler)
    conn.send("events plain ALL")
    if not done.wait(120):
        raise SystemExit(f"greenswitch: {seen[0]} of {expected} events handled within 120 s")
    conn.stop()
    return seen[1]


def run_libesl(port: int, expected: int) -> float:
    import ESL  # type: ignore[import-not-found]

    conn = ESL.ESLconnection("127.0.0.1", str(port), PASSWORD)
    if not conn.connected():
        raise SystemExit("libesl: not connected")
    conn.events("plain", "ALL")
    n = 0
    while n < expected:
        ev = conn.recvEvent()
        if ev is None:
            raise SystemExit(f"libesl: link closed after {n} of {expected} events")
        for name in TOUCHED:
            ev.getHeader(name)
        n += 1
    t = time.monotonic()
    conn.disconnect()
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10, help="repetitions of trace 14's events")
    ap.add_argument("--rounds", type=int, default=3, help="runs per client (the median counts)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.repeat)
        return
    logging.getLogger().setLevel(logging.CRITICAL)  # greenswitch logs to the root logger
    from gevent import monkey

    monkey.patch_all()  # greenswitch's InboundESL uses the socket module as imported

    stream, expected = event_stream(args.repeat)
    print(f"stream: {expected} events, {len(stream) / 1e6:.1f} MB (trace 14 x{args.repeat})")
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--repeat", str(args.repeat)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        port = int(server.stdout.readline().split()[1])
        clients = {"fsworker": run_fsworker, "greenswitch": run_greenswitch}
        try:
            import ESL  # type: ignore[import-not-found]  # noqa: F401

            clients["libesl"] = run_libesl
        except ImportError:
            print("libesl: `import ESL` failed, not measured")
        times: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(args.rounds):
            for name, client in clients.items():
                t_last = client(port, expected)
                t0 = float(server.stdout.readline().split()[1])
                times[name].append(t_last - t0)
    finally:
        server.kill()
        server.wait()
    for name, ts in times.items():
        med = statistics.median(ts)
        runs = " ".join(f"{t:.3f}" for t in ts)
        print(f"{name:12s} median={med:.3f}s {expected / med:10,.0f} events/s {len(stream) / 1e6 / med:7.1f} MB/s"
              f"  (runs: {runs} s)")
    ratio = statistics.median(times["greenswitch"]) / statistics.median(times["fsworker"])
    print(f"socket_speedup_vs_greenswitch: {ratio:.1f}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
