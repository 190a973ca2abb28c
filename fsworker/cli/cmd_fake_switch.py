"""``fsworker fake-switch``: run the fake FreeSWITCH Event Socket server standalone,
and drive it from another terminal.

Rules: loopback by default; uses the full fake PBX (``fsworker.testing.fakeswitch.pbx.FakePBX``)
when it is installed, else the channel-less ``MinimalBackend``. Never prints the
password. Without a subcommand (or with ``serve``) it is the server, as it always
was; ``call`` / ``endpoint`` / ``transfer`` / ``status`` connect to a running one over
ESL and send one fake-only api command (fsworker.testing.fakeswitch.control), which validates
every argument; a refusal (``-ERR``) exits 1, an unreachable switch 4.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time

import gevent

from fsworker.cli.main import EXIT_FAILED, EXIT_OK, EXIT_UNAVAILABLE
from fsworker.core.clock import ManualClock
from fsworker.core.errors import ValidationError
from fsworker.testing.fakeswitch.bus import Backend, MinimalBackend
from fsworker.testing.fakeswitch.server import FakeSwitchServer

log = logging.getLogger(__name__)

PASSWORD_ENV = "FSWORKER_ESL_PASSWORD"
_ACTIONS = ("answer", "ring", "busy", "reject", "unallocated", "out_of_order")


def _link_options(p: argparse.ArgumentParser, *, defaults: bool) -> None:
    # On the subcommands the defaults are SUPPRESSed so that
    # `fake-switch --port 9 call ...` and `fake-switch call ... --port 9` both work.
    d = (lambda v: v) if defaults else (lambda v: argparse.SUPPRESS)
    p.add_argument("--host", default=d("127.0.0.1"), help="switch address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=d(8021), help="ESL TCP port (default 8021; server: 0 = any free port)")
    p.add_argument("--password", default=d(None),
                   help=f"ESL password (default ClueCon; the client commands also read ${PASSWORD_ENV})")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("fake-switch", help="run a fake FreeSWITCH (inbound ESL) for tests and demos, "
                              "or make a running one produce calls")
    _link_options(p, defaults=True)
    p.add_argument("--heartbeat", type=float, default=20.0,
                   help="seconds between HEARTBEAT events (0 = none; FreeSWITCH uses 20)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="the switch's clock runs this many times faster than the wall clock (default 1; "
                        "keep 1 with `fsworker run`, which plans on its own wall clock)")
    p.set_defaults(handler=run)
    sub = p.add_subparsers(dest="fake_action", metavar="[ACTION]")

    s = sub.add_parser("serve", help="run the server (the default without an ACTION)")
    _link_options(s, defaults=False)

    c = sub.add_parser("call", help="a customer calls a company number (DID) and waits")
    _link_options(c, defaults=False)
    c.add_argument("customer", help="the customer's number, e.g. 79161234567")
    c.add_argument("did", help="the company number dialled, e.g. 74950000001")
    c.add_argument("--ring", help="who the dialplan rings: groups in turn separated by '|', "
                   "endpoints of a group together by ',' (e.g. \"user/101,user/102|user/103\")")
    c.add_argument("--leg-timeout", type=float, help="seconds each ring group rings (default 10)")
    c.add_argument("--hangup-after", type=float,
                   help="the customer hangs up this many seconds after calling (default: never)")
    c.add_argument("--scenario", help="fsw_scenario: the IVR scenario the call is in")
    c.add_argument("--site", help="fsw_site: the web site the customer came from")
    c.add_argument("--campaign", help="fsw_campaign: the ad campaign id")
    c.add_argument("--queue", help="answer and put the call in this mod_callcenter queue (instead of --ring)")
    c.add_argument("--ignore", action="store_true", help="fsw_ignore=true: never a lost call")
    c.add_argument("--request", action="store_true",
                   help="fsw_callback_request=true: the customer asked to be called back in the IVR")

    e = sub.add_parser("endpoint", help="script how an endpoint (user/101) or a number reacts when rung")
    _link_options(e, defaults=False)
    e.add_argument("endpoint", help="an endpoint (user/101, sofia/gateway/pstn/7916...) or a bare number")
    e.add_argument("action", choices=_ACTIONS)
    e.add_argument("--after", type=float, help="seconds until it answers / refuses (answer: default 1)")
    e.add_argument("--hangup-after", type=float, help="answer: hang up this many seconds after answering")

    t = sub.add_parser("transfer", help="blind-transfer a live call to an extension")
    _link_options(t, defaults=False)
    t.add_argument("uuid", help="the channel UUID (as printed by `call`)")
    t.add_argument("extension")
    t.add_argument("--ring", help="what the extension rings (same form as call --ring)")
    t.add_argument("--leg-timeout", type=float, help="seconds the extension's ring groups ring")

    st = sub.add_parser("status", help="channels up and every leg so far")
    _link_options(st, defaults=False)


def run(args: argparse.Namespace) -> int:
    if args.fake_action in (None, "serve"):
        return serve(args)
    return send(args.host, args.port, _client_password(args.password), *_api_command(args))


# -- client ----------------------------------------------------------------------
def _client_password(given: str | None) -> str:
    return given if given is not None else os.environ.get(PASSWORD_ENV) or "ClueCon"


def _word(field: str, value: object) -> str:
    """One word of the api line: the switch splits its arguments on spaces."""
    text = value if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)
    if not text or any(c.isspace() for c in text):
        raise ValidationError(field, text, "one word, no spaces")
    return text


def _api_command(args: argparse.Namespace) -> tuple[str, str]:
    action = args.fake_action
    words: list[str] = []
    if action == "call":
        words = [_word("customer", args.customer), _word("did", args.did)]
        for opt in ("ring", "leg_timeout", "hangup_after", "scenario", "site", "campaign", "queue"):
            value = getattr(args, opt)
            if value is not None:
                words.append(f"{opt}={_word(opt, value)}")
        if args.ignore:
            words.append("ignore=true")
        if args.request:
            words.append("request=true")
        return "fake_call", " ".join(words)
    if action == "endpoint":
        words = [_word("endpoint", args.endpoint), args.action]
        for opt in ("after", "hangup_after"):
            value = getattr(args, opt)
            if value is not None:
                words.append(f"{opt}={_word(opt, value)}")
        return "fake_endpoint", " ".join(words)
    if action == "transfer":
        words = [_word("uuid", args.uuid), _word("extension", args.extension)]
        for opt in ("ring", "leg_timeout"):
            value = getattr(args, opt)
            if value is not None:
                words.append(f"{opt}={_word(opt, value)}")
        return "fake_transfer", " ".join(words)
    return "fake_status", ""


def send(host: str, port: int, password: str, command: str, arg: str) -> int:
    """Connect, send one api command, print its answer (``call``: the new UUID)."""
    from fsworker.esl.connection import ESLConnection, Subscription
    from fsworker.esl.proto.errors import ESLConnectionError, ESLError

    conn = ESLConnection(host, port, password, connect_timeout=5.0, command_timeout=10.0,
                         subscription=Subscription(events=("BACKGROUND_JOB",)))
    try:
        conn.connect()
    except ESLConnectionError as exc:
        print(f"fsworker: cannot reach the switch at {host}:{port}: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    try:
        reply = conn.api(command, arg)
    except ESLError as exc:
        print(f"fsworker: {command} failed: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    finally:
        conn.close()
    text = reply.strip()
    if text.startswith(("-ERR", "-USAGE")):
        print(f"fsworker: {text}", file=sys.stderr)
        return EXIT_FAILED
    print(text.removeprefix("+OK").strip() if command == "fake_call" else text, flush=True)
    return EXIT_OK


# -- server ----------------------------------------------------------------------
def _backend(server: FakeSwitchServer, clock: ManualClock, speed: float) -> Backend | None:
    try:
        from fsworker.testing.fakeswitch.pbx import FakePBX
    except ImportError:
        log.info("fake PBX not available; answering with the minimal backend")
        return None
    # The PBX publishes its channel events on the server's bus; both share one
    # ManualClock that its scheduler moves along with wall time (× speed).
    pbx = FakePBX(bus=server.bus, clock=clock)
    pbx.run_realtime(speed)
    return pbx


def serve(args: argparse.Namespace) -> int:
    if not args.speed > 0 or args.speed > 1000:
        raise ValidationError("--speed", args.speed, "a number above 0, at most 1000")
    password = args.password if args.password is not None else "ClueCon"
    clock = ManualClock(time.time())
    server = FakeSwitchServer(args.host, args.port, password, clock=clock,
                              heartbeat_interval=args.heartbeat or None)
    backend = _backend(server, clock, args.speed)
    server.backend = backend if backend is not None else MinimalBackend(server.clock)
    try:
        server.start()
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return EXIT_UNAVAILABLE
    speed = f", time runs {args.speed:g}x" if args.speed != 1 else ""
    print(f"fake switch listening on {args.host}:{server.port}{speed}", flush=True)
    # SIGTERM is how ``freeswitch -stop`` stops a real switch: calls hung up, then the
    # disconnect notice, then exit 0 (not killed by the signal, which a service manager
    # would report as a failure). SIGINT stays the quick way out.
    gevent.signal_handler(signal.SIGTERM, lambda: gevent.spawn(server.shutdown))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return EXIT_OK
