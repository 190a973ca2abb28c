"""``fsworker fake-switch``: run the fake FreeSWITCH Event Socket server standalone.

Rules: loopback by default; uses the full fake PBX (``fsworker.esl.fake.pbx.FakePBX``)
when it is installed, else the channel-less ``MinimalBackend``. Never prints the
password.
"""

from __future__ import annotations

import argparse
import logging
import time

from fsworker.cli.main import EXIT_OK, EXIT_UNAVAILABLE
from fsworker.clock import ManualClock
from fsworker.esl.fake.bus import Backend, MinimalBackend
from fsworker.esl.fake.server import FakeSwitchServer

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("fake-switch", help="run a fake FreeSWITCH (inbound ESL) for tests and demos")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8021, help="TCP port (default 8021; 0 = any free port)")
    p.add_argument("--password", default="ClueCon", help="ESL password (default ClueCon)")
    p.add_argument("--heartbeat", type=float, default=20.0,
                   help="seconds between HEARTBEAT events (0 = none; FreeSWITCH uses 20)")
    p.set_defaults(handler=run)


def _backend(server: FakeSwitchServer, clock: ManualClock) -> Backend | None:
    try:
        from fsworker.esl.fake.pbx import FakePBX
    except ImportError:
        log.info("fake PBX not available; answering with the minimal backend")
        return None
    # The PBX publishes its channel events on the server's bus; both share one
    # ManualClock that its scheduler moves along with wall time.
    pbx = FakePBX(bus=server.bus, clock=clock)
    pbx.run_realtime()
    return pbx


def run(args: argparse.Namespace) -> int:
    clock = ManualClock(time.time())
    server = FakeSwitchServer(args.host, args.port, args.password, clock=clock,
                              heartbeat_interval=args.heartbeat or None)
    backend = _backend(server, clock)
    server.backend = backend if backend is not None else MinimalBackend(server.clock)
    try:
        server.start()
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return EXIT_UNAVAILABLE
    print(f"fake switch listening on {args.host}:{server.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return EXIT_OK
