"""``fsworker rules``: add / edit / show / list / move / enable / disable / delete (R4, R11, R14, R15).

Rules: every value typed on the command line goes through the model (``Rule``) and the
hint through ``prompts.validate_hint`` before anything is stored, so a rule that would
fail while an employee is on the line is refused when it is saved. Positions are
0-based (0 = first, the highest priority), as ``simulate`` prints them.
"""

from __future__ import annotations

import argparse
from datetime import UTC
from typing import Any

from fsworker.cli.common import (
    add_json,
    number_plan,
    open_store,
    parse_int,
    parse_int_list,
    print_fields,
    print_json,
    print_table,
    show_time,
)
from fsworker.cli.main import EXIT_OK
from fsworker.config.toml_io import rule_to_dict
from fsworker.core.calls import LossPlace
from fsworker.core.errors import ValidationError
from fsworker.core.model import (
    MAX_CONCURRENCY,
    MAX_MIN_WAIT_S,
    STRATEGY_TARGET,
    Hint,
    HintKind,
    Rule,
    StrategyKind,
)

PLACES = ", ".join(p.value for p in LossPlace)
STRATEGIES = ", ".join(s.value for s in StrategyKind)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("rules", help="auto-callback rules: add, edit, order, enable, delete",
                              description="Manage auto-callback rules. The first enabled rule (lowest "
                                          "position) that matches a lost call takes it.")
    sub = p.add_subparsers(dest="rules_command", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="add a rule", description="Add a rule (last, unless --position).")
    add.add_argument("name", metavar="NAME")
    _rule_options(add, adding=True)
    add.add_argument("--position", metavar="N", help="insert at position N (0 = first); default: last")
    add.set_defaults(handler=cmd_add)

    edit = sub.add_parser("edit", help="change a rule", description="Change the given settings of a rule; "
                          "the others keep their values. Its tasks follow the change from their next attempt.")
    edit.add_argument("name", metavar="NAME")
    _rule_options(edit, adding=False)
    edit.add_argument("--rename", metavar="NEW", help="give the rule a new name")
    edit.set_defaults(handler=cmd_edit)

    show = sub.add_parser("show", help="show one rule")
    show.add_argument("name", metavar="NAME")
    add_json(show)
    show.set_defaults(handler=cmd_show)

    lst = sub.add_parser("list", help="list rules in priority order")
    add_json(lst)
    lst.set_defaults(handler=cmd_list)

    move = sub.add_parser("move", help="change a rule's priority",
                          description="Move a rule: up / down one place, to the top / bottom, or --to N "
                                      "(0 = first).")
    move.add_argument("name", metavar="NAME")
    move.add_argument("direction", nargs="?", choices=("up", "down", "top", "bottom"))
    move.add_argument("--to", metavar="N", help="move to position N (0 = first)")
    move.set_defaults(handler=cmd_move)

    for action, text in (("enable", "let a rule take new lost calls"),
                         ("disable", "stop a rule taking new lost calls (its tasks go on, R14)")):
        q = sub.add_parser(action, help=text)
        q.add_argument("name", metavar="NAME")
        q.set_defaults(handler=cmd_enable if action == "enable" else cmd_disable)

    delete = sub.add_parser("delete", help="delete a rule and cancel its tasks")
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(handler=cmd_delete)


def _rule_options(p: argparse.ArgumentParser, *, adding: bool) -> None:
    p.add_argument("--place", metavar="PLACE", help=f"loss place: {PLACES}" + ("" if not adding else " (default any)"))
    p.add_argument("--place-value", metavar="V", help="the virtual number / scenario / site for that place")
    p.add_argument("--strategy", metavar="STRATEGY", required=adding, help=f"dial strategy: {STRATEGIES}")
    p.add_argument("--target", metavar="T",
                   help="group / employee / scenario name or number, for strategies group, employee, scenario, number")
    hint = p.add_mutually_exclusive_group()
    hint.add_argument("--hint-text", metavar="TEMPLATE", help="hint spoken to the employee (Jinja2 template, TTS)")
    hint.add_argument("--hint-file", metavar="PATH", help="recorded hint played to the employee (a sound file path)")
    if not adding:
        hint.add_argument("--hint-default", action="store_true", help="back to the default hint")
    p.add_argument("--hint-language", metavar="LANG", help="hint language: ru or en" + (" (default ru)" if adding else ""))
    p.add_argument("--callback-schedule", metavar="S", help="schedule to call back in ('' = any time)")
    p.add_argument("--applies-schedule", metavar="S", help="schedule of loss times the rule applies to ('' = always)")
    p.add_argument("--intervals", metavar="SECONDS", help="retry intervals, up to 5, e.g. 0,300,3600 (default 0)")
    p.add_argument("--min-wait", metavar="N", help=f"skip calls that waited less than N s (0..{MAX_MIN_WAIT_S})")
    p.add_argument("--max-concurrent", metavar="N", help=f"simultaneous callbacks for this rule (1..{MAX_CONCURRENCY})")
    if adding:
        p.add_argument("--disabled", action="store_true", help="add it disabled")
    else:
        state = p.add_mutually_exclusive_group()
        state.add_argument("--enabled", dest="set_enabled", action="store_const", const=True, help="enable it")
        state.add_argument("--disabled", dest="set_enabled", action="store_const", const=False, help="disable it")


def check_hint(hint: Hint, field: str = "rule.hint") -> None:
    """Refuse a hint that would fail on the line (template error, bad file, language);
    a file must be under the configuration's ``[prompts] sound_dirs``."""
    from fsworker.cli.common import cli_config
    from fsworker.core.prompts import PromptSettings, validate_hint

    validate_hint(hint, PromptSettings(playback_prefixes=cli_config().prompts.sound_dirs), field)


def _changes(args: argparse.Namespace, old: Rule | None) -> dict[str, Any]:
    """Rule fields from the options given (only those given, for edit)."""
    ch: dict[str, Any] = {}
    if args.place is not None:
        ch["place"] = args.place
        if old is not None and args.place != old.place.value and args.place_value is None:
            ch["place_value"] = None  # the old value belonged to the old place
        if args.place == LossPlace.TRANSFER.value and args.min_wait is None:
            ch["min_wait_s"] = 0  # R9: not settable for transfers
    if args.place_value is not None:
        ch["place_value"] = args.place_value or None
    if args.strategy is not None:
        ch["strategy"] = args.strategy
        if old is not None and args.strategy != str(old.strategy) and args.target is None:
            ch["target"] = None
    if args.target is not None:
        ch["target"] = args.target or None
    _identify_numbers(ch, old, number_plan(args))
    old_hint = old.hint if old is not None else Hint()
    language = args.hint_language if args.hint_language is not None else old_hint.language
    try:
        if args.hint_text is not None:
            ch["hint"] = Hint(kind=HintKind.TEXT, text=args.hint_text, language=language)
        elif args.hint_file is not None:
            ch["hint"] = Hint(kind=HintKind.FILE, text=args.hint_file, language=language)
        elif getattr(args, "hint_default", False):
            ch["hint"] = Hint(kind=HintKind.DEFAULT, language=language)
        elif args.hint_language is not None:
            ch["hint"] = Hint(kind=old_hint.kind, text=old_hint.text, language=language)
    except ValidationError as exc:  # Hint names its fields hint.*; here they are the rule's
        raise ValidationError(f"rule.{exc.field}", exc.value, exc.limit) from None
    for opt, field in (("callback_schedule", "callback_schedule"), ("applies_schedule", "applies_schedule")):
        value = getattr(args, opt)
        if value is not None:
            ch[field] = value or None
    if args.intervals is not None:
        ch["intervals"] = parse_int_list(args.intervals, "rule.intervals")
    if args.min_wait is not None:
        ch["min_wait_s"] = parse_int(args.min_wait, "rule.min_wait_s")
    if args.max_concurrent is not None:
        ch["max_concurrent"] = parse_int(args.max_concurrent, "rule.max_concurrent")
    return ch


def _identify_numbers(ch: dict[str, Any], old: Rule | None, plan: Any) -> None:
    """A number typed as the place value (place number) or the target (strategy number)
    becomes its identity, so any spelling is accepted and matches the switch's calls."""
    place = ch.get("place", old.place.value if old is not None else LossPlace.ANY.value)
    strategy = str(ch.get("strategy", old.strategy if old is not None else ""))
    if ch.get("place_value") and place == LossPlace.NUMBER.value:
        ch["place_value"] = plan.normalize(ch["place_value"], "rule.place_value")
    if ch.get("target") and STRATEGY_TARGET.get(strategy) == "number":
        ch["target"] = plan.normalize(ch["target"], "rule.target")


def _replan(store: Any) -> None:
    """R12: waiting tasks follow the changed rules (takeover, callback schedule)."""
    from datetime import datetime

    from fsworker.service.replan import replan_pending

    for r in replan_pending(store.queue, store.repo.load_catalog(), datetime.now(UTC)):
        moved = f"rule {r.old_rule!r} -> {r.new_rule!r}, " if r.new_rule != r.old_rule else ""
        print(f"task {r.task_id} re-planned: {moved}due {show_time(r.old_due)} -> {show_time(r.new_due)}")


def cmd_add(args: argparse.Namespace) -> int:
    fields = _changes(args, None)
    rule = Rule(name=args.name, enabled=not args.disabled, **fields)
    check_hint(rule.hint)
    at = None if args.position is None else parse_int(args.position, "rule.position", lo=0)
    with open_store(args) as store:
        stored = store.repo.add_rule(rule, at=at)
        position = store.repo.get_rule(stored.name).position
        print(f"rule {rule.name!r} added at position {position}" + ("" if rule.enabled else " (disabled)"))
        _replan(store)
    return EXIT_OK


def cmd_edit(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        repo = store.repo
        old = repo.get_rule(args.name)
        changes = _changes(args, old)
        if args.set_enabled is not None:
            changes["enabled"] = args.set_enabled
        if not changes and args.rename is None:
            raise ValidationError("rules edit", args.name, "give at least one option to change (see --help)")
        new = old.evolve(**changes)  # validates again (Rule.__post_init__)
        if "hint" in changes:
            check_hint(new.hint)
        renamed = new.evolve(name=args.rename) if args.rename is not None else new  # validates the name
        if changes:
            repo.update_rule(new)
        if renamed.name != old.name:
            repo.rename_rule(old.name, renamed.name)
        new = renamed
        print(f"rule {new.name!r} updated" + (f" (was {old.name!r})" if new.name != old.name else ""))
        _replan(store)
    return EXIT_OK


def _show_pairs(rule: Rule) -> list[tuple[str, Any]]:
    hint = rule.hint.kind.value if rule.hint.kind is HintKind.DEFAULT else f"{rule.hint.kind.value}: {rule.hint.text}"
    return [
        ("name", rule.name), ("position", rule.position), ("enabled", rule.enabled),
        ("place", f"{rule.place.value} {rule.place_value}" if rule.place_value else rule.place.value),
        ("strategy", str(rule.strategy)), ("target", rule.target),
        ("hint", hint), ("hint language", rule.hint.language),
        ("callback schedule", rule.callback_schedule or "any time"),
        ("applies schedule", rule.applies_schedule or "always"),
        ("intervals (s)", ", ".join(str(i) for i in rule.intervals)),
        ("min wait (s)", rule.min_wait_s), ("max concurrent", rule.max_concurrent),
    ]


def rule_json(rule: Rule) -> dict[str, Any]:
    return {"position": rule.position, **rule_to_dict(rule)}


def cmd_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        rule = store.repo.get_rule(args.name)
    if args.json:
        print_json(rule_json(rule))
    else:
        print_fields(_show_pairs(rule))
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        rules = store.repo.list_rules()
    if args.json:
        print_json([rule_json(r) for r in rules])
        return EXIT_OK
    print_table(
        ("pos", "name", "enabled", "place", "strategy", "target", "intervals", "callback", "applies"),
        [(r.position, r.name, r.enabled, f"{r.place.value} {r.place_value}" if r.place_value else r.place.value,
          str(r.strategy), r.target, r.intervals, r.callback_schedule, r.applies_schedule) for r in rules],
        empty="no rules yet: add one with `fsworker rules add NAME --strategy ...`",
    )
    return EXIT_OK


def cmd_move(args: argparse.Namespace) -> int:
    if (args.direction is None) == (args.to is None):
        raise ValidationError("rules move", args.direction or args.to, "give exactly one of up, down, top, bottom or --to N")
    with open_store(args) as store:
        repo = store.repo
        if args.to is not None:
            order = repo.move_rule_to(args.name, parse_int(args.to, "position", lo=0))
        elif args.direction == "up":
            order = repo.move_rule_up(args.name)
        elif args.direction == "down":
            order = repo.move_rule_down(args.name)
        elif args.direction == "top":
            order = repo.move_rule_to(args.name, 0)
        else:
            order = repo.move_rule_to(args.name, 1 << 30)  # clamped to the last position
        print(f"rule {args.name!r} is now at position {order.index(args.name)}")
        for i, name in enumerate(order):
            print(f"  {i}  {name}")
        _replan(store)
    return EXIT_OK


def cmd_enable(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        store.repo.set_rule_enabled(args.name, True)
        print(f"rule {args.name!r} enabled")
        _replan(store)
    return EXIT_OK


def cmd_disable(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        store.repo.set_rule_enabled(args.name, False)
    print(f"rule {args.name!r} disabled: it takes no new lost calls; its open tasks continue")
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        cancelled = store.repo.delete_rule(args.name)
    print(f"rule {args.name!r} deleted; {len(cancelled)} open task(s) cancelled"
          + (f": {', '.join(str(i) for i in cancelled)}" if cancelled else ""))
    return EXIT_OK
