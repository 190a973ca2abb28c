"""``fsworker`` entry point: finds the subcommand modules and dispatches.

Rules: each command group lives in its own module ``fsworker.cli.cmd_<name>`` exposing
``register(subparsers)``; handlers return an exit code. Exit codes scripts can rely on:
0 ok, 1 a failure fsworker reported (bad input, refused operation), 2 usage error,
3 not found, 4 cannot reach the database or the switch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from fsworker.core.errors import FsworkerError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_UNAVAILABLE = 4

# Order = order in --help.
COMMAND_MODULES = (
    "run",
    "fake_switch",
    "db",
    "check",
    "rules",
    "entities",
    "blacklist",
    "switch",
    "tasks",
    "stats",
    "simulate",
    "config_io",
    "demo",
    "completion",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fsworker",
        description="Missed-call auto-callback for FreeSWITCH.",
    )
    parser.add_argument("-c", "--config", default=None, help="path to fsworker.toml "
                        "(default: $FSWORKER_CONFIG or ./fsworker.toml; absent = built-in defaults)")
    parser.add_argument("--db", default=None, help="database URL (overrides the config file)")
    parser.add_argument("--utc", action="store_true",
                        help="show times in UTC (default: [display] timezone, else this machine's zone)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"fsworker.cli.cmd_{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"fsworker.cli.cmd_{name}":
                continue  # command group not built yet
            raise
        module.register(sub)
    return parser


def setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    setup_logging(args.verbose)
    from fsworker.cli import common

    common.remember_options(args)
    try:
        return int(args.handler(args) or 0)
    except FsworkerError as exc:
        print(f"fsworker: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_FAILED)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`fsworker simulate ... | head -2`): as for any Unix
        # filter, that is not an error. Point stdout at /dev/null so the interpreter's
        # final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
