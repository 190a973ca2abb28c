"""``fsworker simulate``: what would happen to a hypothetical lost call.

Rules: read-only and pure apart from loading the configuration (the database, or an
export file with --catalog, so a change can be tried before it is imported). It runs
the real rule engine (``rules.decide``) and planner (``planner.plan``), never a copy
of their logic, and prints their explanation rule by rule, then the attempt times in
the callback schedule's time zone. Exit 0 whether the call is taken or skipped.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from fsworker.cli.common import (
    add_json,
    display_zone,
    handles_os_errors,
    number_plan,
    open_store,
    print_json,
    show_time,
)
from fsworker.cli.main import EXIT_OK
from fsworker.core.calls import LossPlace, LostCall, TransferKind, TransferPhase
from fsworker.core.catalog import Catalog
from fsworker.core.errors import ValidationError
from fsworker.core.planner import ScheduleNeverOpensError, plan
from fsworker.core.rules import Accept, IntakeFacts, decide
from fsworker.core.schedule import zone


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("simulate", help="which rule would take a lost call, and when it would be called back",
                              description="Run the rule engine and the planner on a hypothetical lost call.")
    p.add_argument("--number", required=True, metavar="CUSTOMER", help="the customer's number")
    p.add_argument("--did", metavar="VIRTUAL_NUMBER", help="the virtual number the customer dialled")
    p.add_argument("--scenario", metavar="S", help="the IVR scenario the call was lost in")
    p.add_argument("--site", metavar="S", help="the site the customer came from")
    p.add_argument("--campaign", metavar="C", help="the ad campaign of the call")
    p.add_argument("--transfer", action="store_true", help="the call was lost in a transfer")
    p.add_argument("--at", required=True, metavar="ISO_TIME",
                   help="when the call was lost, e.g. 2026-12-01T20:15:00+03:00 (no offset: --tz)")
    p.add_argument("--tz", metavar="ZONE", default=None,
                   help="time zone of --at when it has no offset (default: the display zone, see --utc)")
    p.add_argument("--wait", required=True, metavar="SECONDS", help="how long the customer waited")
    p.add_argument("--attempt-duration", metavar="SECONDS", default="0",
                   help="assumed length of each failed attempt when planning retries (default 0)")
    p.add_argument("--catalog", metavar="FILE", help="use this export file instead of the database")
    add_json(p)
    p.set_defaults(handler=handles_os_errors(cmd_simulate))


def _seconds(text: str, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValidationError(field, text, "seconds, a number >= 0") from None
    if not value >= 0 or value == float("inf"):
        raise ValidationError(field, text, "seconds, a number >= 0")
    return value


def _lost_at(text: str, tz: str | None) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError("at", text, "an ISO 8601 time such as 2026-12-01T20:15:00+03:00") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone(tz)) if tz else at.replace(tzinfo=display_zone()) if display_zone() \
            else at.astimezone()  # naive = the machine's local time
    return at


def _load_catalog(args: argparse.Namespace) -> Catalog:
    if args.catalog:
        from fsworker.cli.cmd_config_io import read_catalog_file

        return read_catalog_file(args.catalog, numbers=number_plan(args)).catalog
    with open_store(args) as store:
        return store.repo.load_catalog()


def cmd_simulate(args: argparse.Namespace) -> int:
    numbers = number_plan(args)
    # Read as intake reads the switch's caller ID: a number that is no phone number is
    # a valid question, and decide() says which skip it gets.
    number, number_problem = numbers.check(args.number)
    did = None if args.did is None else numbers.normalize(args.did, "did")
    waited = _seconds(args.wait, "wait")
    duration = timedelta(seconds=_seconds(args.attempt_duration, "attempt_duration"))
    lost_at = _lost_at(args.at, args.tz).astimezone(UTC)
    place = (LossPlace.TRANSFER if args.transfer else LossPlace.SCENARIO if args.scenario
             else LossPlace.SITE if args.site else LossPlace.NUMBER)
    call = LostCall(
        call_uuid="simulated", customer_number=number, virtual_number=did, scenario=args.scenario,
        site=args.site, campaign=args.campaign, place=place, lost_at=lost_at, waited_s=waited,
        transfer=TransferPhase(kind=TransferKind.BLIND) if args.transfer else None,
    )
    catalog = _load_catalog(args)
    decision = decide(catalog, call, IntakeFacts(number_problem=number_problem))
    out: dict[str, Any] = {"call": {"number": number, "did": did, "scenario": args.scenario, "site": args.site,
                                    "campaign": args.campaign, "place": place.value, "lost_at": lost_at,
                                    "waited_s": waited},
                           "explain": decision.explain()}
    attempts: list[datetime] = []
    tz_name = "UTC"
    problem = None
    if isinstance(decision, Accept) and decision.rule is not None:
        rule = decision.rule
        out.update(decision="accept", rule=rule.name)
        if rule.callback_schedule and rule.callback_schedule in catalog.schedule_by_name:
            tz_name = catalog.schedule_by_name[rule.callback_schedule].timezone
        try:
            attempts = [a.astimezone(zone(tz_name)) for a in plan(rule, catalog, lost_at, duration)]
        except (ScheduleNeverOpensError, ValidationError) as exc:
            problem = str(exc)
        out.update(timezone=tz_name, attempts=attempts, planning_problem=problem)
    else:
        out.update(decision="skip", reason=getattr(decision, "reason", None), rule=None)
    if args.json:
        print_json(out)
        return EXIT_OK
    where = ", ".join(f"{k} {v}" for k, v in (("did", did and numbers.readable(did)), ("scenario", args.scenario), ("site", args.site),
                                              ("campaign", args.campaign)) if v) or "no place details"
    print(f"lost call from {numbers.readable(number)} ({place.value}; {where}), lost at {show_time(lost_at)}, waited {waited:g} s")
    for line in decision.explain():
        print(line)
    if attempts:
        print(f"planned attempts ({tz_name}), if every attempt fails"
              + (f" after {duration.total_seconds():g} s" if duration else "") + ":")
        for i, a in enumerate(attempts, 1):
            print(f"  {i}. {a.isoformat()}  (+{_delta(a - lost_at)} after the loss)")
    if problem:
        print(f"cannot plan attempts: {problem}")
    return EXIT_OK


def _delta(d: timedelta) -> str:
    s = int(d.total_seconds())
    days, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{days}d " if days else "") + f"{h:02d}:{m:02d}:{s:02d}"


