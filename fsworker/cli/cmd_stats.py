"""``fsworker stats [--since 24h] [--until WHEN] [--json]``: the callback funnel of a period.

Rules: read-only, from the database (so it covers every worker, and survives restarts,
unlike the per-process metrics); the same table ``fsworker demo`` ends with.
"""

from __future__ import annotations

import argparse

from fsworker.cli.common import add_json, open_store, print_json, show_time
from fsworker.cli.main import EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("stats", help="the callback funnel: lost calls, skips, tasks, attempts, results",
                              description="Lost calls by place, skipped by reason, tasks created and joined, "
                                          "attempts by outcome, tasks ended by reason, and the time from the "
                                          "loss to the successful callback (p50, p90), from the database.")
    p.add_argument("--since", metavar="WHEN", default="24h",
                   help="start of the period: 24h (default), 7d, 2026-12-01, 2026-12-01T09:00, or 'all'")
    p.add_argument("--until", metavar="WHEN", help="end of the period (default: now); same forms")
    add_json(p)
    p.set_defaults(handler=cmd_stats)


def cmd_stats(args: argparse.Namespace) -> int:
    from fsworker.cli.funnel_view import funnel_lines
    from fsworker.cli.timeopts import parse_moment
    from fsworker.store.stats import FunnelReader

    since = None if args.since == "all" else parse_moment(args.since, "since")
    until = parse_moment(args.until, "until") if args.until else None
    with open_store(args) as store:
        funnel = FunnelReader(store.engine).funnel(since=since, until=until)
    if args.json:
        print_json(funnel.as_json())
        return EXIT_OK
    period = (f"since {show_time(since)}" if since else "since the beginning") + \
        (f" until {show_time(until)}" if until else "")
    print(f"Funnel {period}")
    for line in funnel_lines(funnel):
        print(line)
    return EXIT_OK
