"""``fsworker demo``: the product end to end on the embedded default, no FreeSWITCH needed."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run fsworker end to end against the built-in fake FreeSWITCH (SQLite, ~1 minute)",
    )
    p.add_argument("--quick", action="store_true", help="compress time harder (~15 s; used by CI)")
    p.add_argument("--keep", metavar="DIR", default=None, help="directory for the demo database (default: a temp dir)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gevent import monkey

    monkey.patch_all()
    from fsworker.cli.demo import run_demo

    return run_demo(quick=args.quick, keep=args.keep)
