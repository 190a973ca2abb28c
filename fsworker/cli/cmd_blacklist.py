"""``fsworker blacklist``: numbers auto-callback ignores (R18).

Rules: numbers are validated like every number (D5) before they reach the store;
blacklisting cancels the number's open tasks (the store does it) and says how many.
"""

from __future__ import annotations

import argparse

from fsworker.cli.common import CliError, add_json, free_text, number_plan, open_store, print_json, print_table
from fsworker.cli.main import EXIT_NOT_FOUND, EXIT_OK
from fsworker.core.model import BlacklistEntry


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("blacklist", help="numbers never called back",
                              description="Calls from blacklisted numbers are ignored by auto-callback.")
    sub = p.add_subparsers(dest="blacklist_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="blacklist a number (cancels its open tasks)")
    add.add_argument("number", metavar="NUMBER", help="digits with an optional leading +")
    add.add_argument("--reason", default="", help="why (shown in lists)")
    add.set_defaults(handler=cmd_add)
    rm = sub.add_parser("remove", help="take a number off the blacklist")
    rm.add_argument("number", metavar="NUMBER")
    rm.set_defaults(handler=cmd_remove)
    lst = sub.add_parser("list", help="list blacklisted numbers")
    add_json(lst)
    lst.set_defaults(handler=cmd_list)


def cmd_add(args: argparse.Namespace) -> int:
    plan = number_plan(args)
    entry = BlacklistEntry(number=plan.normalize(args.number, "blacklist.number"),
                           reason=free_text(args.reason, "blacklist.reason"))
    with open_store(args) as store:
        cancelled = store.repo.add_blacklist(entry)
    print(f"{plan.readable(entry.number)} blacklisted; {len(cancelled)} open task(s) cancelled")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    plan = number_plan(args)
    number = plan.normalize(args.number, "blacklist.number")
    with open_store(args) as store:
        if not store.repo.remove_blacklist(number):
            raise CliError(f"blacklist: {plan.readable(number)} is not blacklisted", EXIT_NOT_FOUND)
    print(f"{plan.readable(number)} removed from the blacklist")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        entries = store.repo.list_blacklist()
    if args.json:
        print_json([{"number": e.number, "reason": e.reason} for e in entries])
    else:
        plan = number_plan(args)
        print_table(("number", "reason"), [(plan.readable(e.number), e.reason) for e in entries],
                    empty="the blacklist is empty")
    return EXIT_OK
