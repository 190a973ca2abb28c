"""``fsworker employees|groups|campaigns|scenarios|numbers|sites|schedules``: add / edit /
list / show / delete.

Rules: one table (``KINDS``) describes each entity kind: its store kind, its options and
how options become a model object; the handlers are shared. Values go through the model
constructors (field, value and limit in every error). Deleting an entity a rule, group or
campaign uses is refused by the store naming them (R13): exit 1. Names are identifiers
that rules refer to, so there is no rename; ``edit`` replaces the given fields.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from fsworker.cli.common import (
    add_json,
    free_text,
    number_plan,
    open_store,
    parse_int,
    print_fields,
    print_json,
    print_table,
)
from fsworker.cli.main import EXIT_OK
from fsworker.config.toml_io import entity_to_dict
from fsworker.core.errors import ValidationError
from fsworker.core.model import (
    Campaign,
    Employee,
    Group,
    Scenario,
    Schedule,
    Site,
    TargetKind,
    VirtualNumber,
)
from fsworker.core.schedule.text import (
    EXCEPTION_FORM,
    WEEKLY_FORM,
    parse_exception,
    parse_weekly,
)
from fsworker.core.validation import MAX_GROUP_LINES, check_catalog


@dataclass(frozen=True, kw_only=True)
class Kind:
    command: str  #: CLI word (plural)
    store_kind: str  #: EntityKind value
    label: str  #: singular, for messages
    key: str  #: the option/argument that names it
    help: str
    options: Callable[[argparse.ArgumentParser, bool], None]  #: (parser, adding)
    build: Callable[[str, argparse.Namespace, Any], Any]  #: (name, args, old or None) -> entity
    columns: tuple[str, ...]


def _given(value: Any, old: Any, attr: str, default: Any = None) -> Any:
    if value is not None:
        return value
    return getattr(old, attr) if old is not None else default


# --- employees ---------------------------------------------------------------------------


def _employee_opts(p: argparse.ArgumentParser, adding: bool) -> None:
    p.add_argument("--endpoint", action="append", metavar="ENDPOINT", required=adding,
                   help="a FreeSWITCH endpoint: user/101, sofia/internal/101@pbx, sofia/gateway/gw/79160000000; "
                        "repeat for several (edit: replaces the list)")


def _employee(name: str, a: argparse.Namespace, old: Any) -> Employee:
    return Employee(name=name, endpoints=tuple(_given(a.endpoint, old, "endpoints", ())))


# --- groups ----------------------------------------------------------------------------------


def _group_opts(p: argparse.ArgumentParser, adding: bool) -> None:
    p.add_argument("--member", action="append", metavar="EMPLOYEE", required=adding,
                   help="an employee, in ring order; repeat for each (edit: replaces the list)")
    p.add_argument("--max-lines", metavar="N", help="max simultaneous lines when the group is dialled (default 1)")


def _group(name: str, a: argparse.Namespace, old: Any) -> Group:
    max_lines = parse_int(a.max_lines, "group.max_lines") if a.max_lines is not None else _given(None, old, "max_lines", 1)
    if max_lines > MAX_GROUP_LINES:  # below 1 the model says so
        raise ValidationError("group.max_lines", max_lines, f"1..{MAX_GROUP_LINES} simultaneous lines")
    return Group(name=name, members=tuple(_given(a.member, old, "members", ())), max_lines=max_lines)


# --- campaigns -------------------------------------------------------------------------------


def _campaign_opts(p: argparse.ArgumentParser, adding: bool) -> None:
    kinds = ", ".join(k.value for k in TargetKind)
    p.add_argument("--target-kind", metavar="KIND", required=adding, help=f"what calls of the campaign go to: {kinds}")
    p.add_argument("--target", metavar="T", required=adding, help="the group / employee / scenario name or number")


def _campaign(name: str, a: argparse.Namespace, old: Any) -> Campaign:
    kind = _given(a.target_kind, old, "target_kind")
    target = _given(a.target, old, "target")
    if a.target is not None and str(kind) == TargetKind.NUMBER.value:
        target = a.numbers.normalize(target, "campaign.target")  # any spelling; stored as its identity
    return Campaign(name=name, target_kind=kind, target=target)


# --- scenarios -------------------------------------------------------------------------------


def _scenario_opts(p: argparse.ArgumentParser, adding: bool) -> None:
    p.add_argument("--extension", metavar="EXT", required=adding, help="dialplan extension of the IVR scenario")
    p.add_argument("--context", metavar="CONTEXT", help="dialplan context (default: default)")


def _scenario(name: str, a: argparse.Namespace, old: Any) -> Scenario:
    return Scenario(name=name, extension=_given(a.extension, old, "extension"),
                    context=_given(a.context, old, "context", "default"))


# --- virtual numbers ---------------------------------------------------------------------------


def _number_opts(p: argparse.ArgumentParser, adding: bool) -> None:
    p.add_argument("--description", metavar="TEXT", help="what the number is for")


def _number(name: str, a: argparse.Namespace, old: Any) -> VirtualNumber:
    description = _given(a.description, old, "description", "")
    return VirtualNumber(number=name, description=free_text(description, "virtual_number.description"))


# --- sites -----------------------------------------------------------------------------------


def _site_opts(p: argparse.ArgumentParser, adding: bool) -> None:
    return None


def _site(name: str, a: argparse.Namespace, old: Any) -> Site:
    return Site(name=name)


# --- schedules -------------------------------------------------------------------------------


def _schedule_opts(p: argparse.ArgumentParser, adding: bool) -> None:
    p.add_argument("--tz", metavar="ZONE", required=adding, help="IANA time zone, e.g. Europe/Moscow")
    p.add_argument("--weekly", metavar="TEXT", help=f"weekly open windows: {WEEKLY_FORM}")
    p.add_argument("--exception", action="append", metavar="TEXT",
                   help=f"a holiday or special date: {EXCEPTION_FORM}; repeatable (edit: replaces the list)")
    if not adding:
        p.add_argument("--no-exceptions", action="store_true", help="remove every exception date")


def _schedule(name: str, a: argparse.Namespace, old: Any) -> Schedule:
    windows = parse_weekly(a.weekly, "schedule.weekly") if a.weekly is not None else _given(None, old, "windows", ())
    if a.exception is not None:
        exceptions = [parse_exception(text, f"schedule.exception[{i}]") for i, text in enumerate(a.exception)]
        days = [e.day for e in exceptions]
        for i, d in enumerate(days):
            if d in days[:i]:
                raise ValidationError(f"schedule.exception[{i}]", d.isoformat(), "each date at most once")
        exceptions_t = tuple(sorted(exceptions, key=lambda e: e.day))
    elif getattr(a, "no_exceptions", False):
        exceptions_t = ()
    else:
        exceptions_t = _given(None, old, "exceptions", ())
    return Schedule(name=name, timezone=_given(a.tz, old, "timezone"), windows=windows, exceptions=exceptions_t)


KINDS: tuple[Kind, ...] = (
    Kind(command="employees", store_kind="employee", label="employee", key="NAME", help="employees and their endpoints",
         options=_employee_opts, build=_employee, columns=("name", "endpoints")),
    Kind(command="groups", store_kind="group", label="group", key="NAME", help="employee groups (ordered members)",
         options=_group_opts, build=_group, columns=("name", "members", "max_lines")),
    Kind(command="campaigns", store_kind="campaign", label="campaign", key="NAME",
         help="ad campaigns and where their calls go", options=_campaign_opts, build=_campaign,
         columns=("name", "target_kind", "target")),
    Kind(command="scenarios", store_kind="scenario", label="scenario", key="NAME",
         help="IVR scenarios (dialplan extensions)", options=_scenario_opts, build=_scenario,
         columns=("name", "extension", "context")),
    Kind(command="numbers", store_kind="virtual_number", label="virtual number", key="NUMBER",
         help="virtual numbers (DIDs) customers dial", options=_number_opts, build=_number,
         columns=("number", "description")),
    Kind(command="sites", store_kind="site", label="site", key="NAME", help="sites calls come from (call tracking)",
         options=_site_opts, build=_site, columns=("name",)),
    Kind(command="schedules", store_kind="schedule", label="schedule", key="NAME",
         help="weekly schedules with holiday exceptions", options=_schedule_opts, build=_schedule,
         columns=("name", "timezone", "weekly", "exceptions")),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    for kind in KINDS:
        p = subparsers.add_parser(kind.command, help=kind.help, description=f"Manage {kind.help}.")
        sub = p.add_subparsers(dest=f"{kind.command}_command", metavar="ACTION", required=True)
        add = sub.add_parser("add", help=f"add {'an' if kind.label[0] in 'aeiou' else 'a'} {kind.label}")
        add.add_argument("name", metavar=kind.key)
        kind.options(add, True)
        add.set_defaults(handler=_handler(_add, kind))
        if kind.command != "sites":  # a site is only its name: nothing to edit
            edit = sub.add_parser("edit", help=f"change a {kind.label} (only the options given)")
            edit.add_argument("name", metavar=kind.key)
            kind.options(edit, False)
            edit.set_defaults(handler=_handler(_edit, kind))
        lst = sub.add_parser("list", help=f"list {kind.command}")
        add_json(lst)
        lst.set_defaults(handler=_handler(_list, kind))
        show = sub.add_parser("show", help=f"show one {kind.label}")
        show.add_argument("name", metavar=kind.key)
        add_json(show)
        show.set_defaults(handler=_handler(_show, kind))
        delete = sub.add_parser("delete", help=f"delete a {kind.label} (refused while a rule uses it)")
        delete.add_argument("name", metavar=kind.key)
        delete.set_defaults(handler=_handler(_delete, kind))


def _handler(fn: Callable[[Kind, argparse.Namespace], int], kind: Kind) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        args.numbers = number_plan(args)
        if kind.store_kind == "virtual_number" and getattr(args, "name", None) is not None:
            # A DID in any spelling names the stored one (its identity), as calls do.
            args.name = args.numbers.normalize(args.name, "virtual_number.number")
        return fn(kind, args)

    return handler


#: store kind -> Catalog attribute
_COLLECTION = {"employee": "employees", "group": "groups", "campaign": "campaigns", "scenario": "scenarios",
               "virtual_number": "virtual_numbers", "site": "sites", "schedule": "schedules"}


def _check_with(kind: Kind, store: Any, entity: Any, old: Any) -> None:
    """Refuse an entity that would make the stored configuration inconsistent in a way
    the store does not check itself (e.g. an endpoint already another employee's), so
    the CLI never stores what ``fsworker check`` / ``import`` would later refuse. Only
    problems the change introduces count; the first is raised naming the field."""
    catalog = store.repo.load_catalog()
    attr = _COLLECTION[kind.store_kind]
    items = getattr(catalog, attr)
    changed = tuple(entity if x == old else x for x in items) if old is not None else (*items, entity)
    before = {(p.path, repr(p.value), p.limit) for p in check_catalog(catalog)}
    for p in check_catalog(replace(catalog, **{attr: changed})):
        # a taken name is the store's to refuse ("already exists")
        if (p.path, repr(p.value), p.limit) not in before and p.path.startswith(f"{attr}[") \
                and not p.limit.startswith("must be unique"):
            _, _, rest = p.path.partition("].")
            raise ValidationError(f"{kind.store_kind}.{rest}" if rest else kind.store_kind, p.value, p.limit)


def _add(kind: Kind, args: argparse.Namespace) -> int:
    entity = kind.build(args.name, args, None)
    with open_store(args) as store:
        _check_with(kind, store, entity, None)
        store.repo.add(entity)
    print(f"{kind.label} {args.name!r} added")
    return EXIT_OK


def _edit(kind: Kind, args: argparse.Namespace) -> int:
    with open_store(args) as store:
        old = store.repo.get(kind.store_kind, args.name)
        new = kind.build(args.name, args, old)
        if new == old:
            raise ValidationError(f"{kind.command} edit", args.name, "give at least one option that changes it (see --help)")
        _check_with(kind, store, new, old)
        store.repo.update(new)
        print(f"{kind.label} {args.name!r} updated")
        if kind.store_kind == "schedule":
            from fsworker.cli.cmd_rules import _replan

            _replan(store)  # R12: a changed callback schedule moves the waiting attempts
    return EXIT_OK


def _list(kind: Kind, args: argparse.Namespace) -> int:
    with open_store(args) as store:
        items = [entity_to_dict(e) for e in store.repo.list(kind.store_kind)]
    if args.json:
        print_json(items)
    else:
        if kind.store_kind == "virtual_number":
            items = [{**d, "number": args.numbers.readable(d["number"])} for d in items]
        print_table(kind.columns, [[d.get(c) for c in kind.columns] for d in items], empty=f"no {kind.command}")
    return EXIT_OK


def _show(kind: Kind, args: argparse.Namespace) -> int:
    with open_store(args) as store:
        d = entity_to_dict(store.repo.get(kind.store_kind, args.name))
    if args.json:
        print_json(d)
    else:
        print_fields([(k.replace("_", " "), v) for k, v in d.items()])
    return EXIT_OK


def _delete(kind: Kind, args: argparse.Namespace) -> int:
    with open_store(args) as store:
        store.repo.delete(kind.store_kind, args.name)
    print(f"{kind.label} {args.name!r} deleted")
    return EXIT_OK
