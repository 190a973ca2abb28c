"""``fsworker switch on|off|status``: the master switch (R16).

Rules: off stops intake of new lost calls and the claiming of queued tasks; the tasks
are kept, without a time limit, and go on when it is switched on again. ``status``
also shows how many tasks are waiting, so an operator sees what "on" would release.
"""

from __future__ import annotations

import argparse

from fsworker.cli.common import add_json, open_store, print_json
from fsworker.cli.main import EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("switch", help="master switch: turn auto-callback on or off",
                              description="off: new lost calls are not processed and queued tasks wait "
                                          "(kept without time limit); on: processing resumes.")
    sub = p.add_subparsers(dest="switch_command", metavar="ACTION", required=True)
    sub.add_parser("on", help="process lost calls and queued tasks").set_defaults(handler=cmd_on)
    sub.add_parser("off", help="stop processing; queued tasks are kept").set_defaults(handler=cmd_off)
    status = sub.add_parser("status", help="is auto-callback on?")
    add_json(status)
    status.set_defaults(handler=cmd_status)


def _set(args: argparse.Namespace, enabled: bool) -> int:
    with open_store(args) as store:
        store.repo.set_master_switch(enabled)
        pending = store.queue.counts().pending
    state = "on" if enabled else "off"
    tail = "queued tasks are processed again" if enabled else "new lost calls are ignored, queued tasks wait"
    print(f"auto-callback is {state}: {tail} ({pending} pending)")
    return EXIT_OK


def cmd_on(args: argparse.Namespace) -> int:
    return _set(args, True)


def cmd_off(args: argparse.Namespace) -> int:
    return _set(args, False)


def cmd_status(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        enabled = store.repo.master_switch()
        counts = store.queue.counts()
    if args.json:
        print_json({"enabled": enabled, "pending": counts.pending, "due": counts.due, "active": counts.active})
    else:
        print(f"auto-callback is {'on' if enabled else 'off'}; tasks: {counts.pending} pending "
              f"({counts.due} due), {counts.active} in progress")
    return EXIT_OK
