"""``fsworker export`` / ``fsworker import``: the whole configuration as TOML (for git).

Rules: export writes ``config_io.catalog_to_toml`` of one consistent snapshot. Import
parses and validates everything first (model values, hint templates, references,
``validate_catalog`` on the result of the merge) and reports every problem with its
place; only a fully valid configuration is written, in one transaction, so an error
changes nothing. ``--replace`` makes the database equal to the file (rules missing
from it are deleted and their tasks cancelled, R15); without it the file's entities
and rules are added or replace those of the same name and everything else is kept.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from fsworker.cli.common import CliError, err, handles_os_errors, number_plan, open_store
from fsworker.cli.main import EXIT_FAILED, EXIT_OK
from fsworker.config.toml_io import (
    COLLECTIONS,
    ParsedCatalog,
    catalog_to_toml,
    merge_catalogs,
    parse_catalog,
)
from fsworker.core.catalog import Catalog
from fsworker.core.catalog_diff import CatalogDiff, diff_catalogs
from fsworker.core.numbering import NO_REGION, NumberPlan
from fsworker.core.outcomes import TaskStatus
from fsworker.core.validation import CatalogError, validate_catalog
from fsworker.store.queue import TaskQueue, TaskView


def register(subparsers: argparse._SubParsersAction) -> None:
    exp = subparsers.add_parser("export", help="write the whole configuration as TOML",
                                description="Entities, rules in priority order, blacklist and master switch.")
    exp.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    exp.set_defaults(handler=handles_os_errors(cmd_export))
    imp = subparsers.add_parser("import", help="load a configuration written by export",
                                description="Validate FILE completely, then load it in one transaction; "
                                            "on any problem nothing is changed.")
    imp.add_argument("file", metavar="FILE", help="TOML file ('-' = standard input)")
    imp.add_argument("--replace", action="store_true",
                     help="make the configuration equal to FILE (rules not in it are deleted, their tasks "
                          "cancelled); default: add and update only")
    imp.add_argument("--dry-run", action="store_true",
                     help="validate and show what would be added, changed and removed, and which tasks would be "
                          "cancelled; change nothing")
    imp.set_defaults(handler=handles_os_errors(cmd_import))


def _hint_check(hint, field: str) -> None:  # type: ignore[no-untyped-def]
    from fsworker.cli.cmd_rules import check_hint

    check_hint(hint, field)


def read_catalog_file(path: str, *, cross_check: bool = True, numbers: NumberPlan = NO_REGION) -> ParsedCatalog:
    """Parse and validate an export file; CatalogError lists every problem. Numbers in
    it are read with ``numbers`` (the configuration's [numbers] region)."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return parse_catalog(text, hint_check=_hint_check, cross_check=cross_check, numbers=numbers)


_INDEX_RE = re.compile(r"([a-z_]+)\[(\d+)\]")


def _which(catalog: Catalog | None, path: str) -> str:
    """`` [rules[3] is 'x']`` for a path into a merged catalog, so the entry can be found."""
    m = _INDEX_RE.match(path)
    if catalog is None or m is None or m.group(1) not in COLLECTIONS:
        return ""
    items = catalog.ordered_rules() if m.group(1) == "rules" else getattr(catalog, m.group(1))
    i = int(m.group(2))
    if i >= len(items):
        return ""
    item = items[i]
    return f"  [{m.group(0)} is {getattr(item, 'name', getattr(item, 'number', ''))!r}]"


def report_problems(source: str, exc: CatalogError, merged: Catalog | None = None) -> None:
    err(f"{source}: {len(exc.problems)} problem(s); nothing was changed")
    for p in exc.problems:
        print(f"  {source}: {p}{_which(merged, p.path)}", file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        catalog = store.repo.load_catalog()
    text = catalog_to_toml(catalog)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"exported {len(catalog.rules)} rule(s) to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _tasks_to_cancel(queue: TaskQueue, catalog: Catalog) -> list[TaskView]:
    """The open tasks an import of ``catalog`` ends: those of rules it no longer has
    (cancelled_rule_deleted) and those of numbers it blacklists (cancelled_blacklisted)."""
    rules = {r.name for r in catalog.rules}
    blacklisted = {b.number for b in catalog.blacklist}
    open_tasks = [task for status in (TaskStatus.PENDING, TaskStatus.ACTIVE)
                  for task in queue.list_tasks(status=status, limit=1_000_000)]
    return sorted((task for task in open_tasks if task.rule_name not in rules or task.customer_number in blacklisted),
                  key=lambda task: task.task_id)


def print_plan(source: str, diff: CatalogDiff, cancelled: list[TaskView]) -> None:
    """The --dry-run report: per collection what would be added (+), changed (~) and
    removed (-), then the tasks that would be cancelled and why."""
    print(f"dry run of importing {source}: nothing was changed")
    if diff.empty:
        print("  the configuration would stay as it is")
    for part in diff.collections:
        for mark, names in (("+", part.added), ("~", part.changed), ("-", part.removed)):
            for name in names:
                print(f"  {mark} {part.name[:-1] if part.name.endswith('s') else part.name} {name!r}")
    if diff.rules_reordered:
        print("  ~ the order of the rules")
    if diff.master_switch is not None:
        print(f"  ~ auto-callback {'on' if diff.master_switch[0] else 'off'} -> "
              f"{'on' if diff.master_switch[1] else 'off'}")
    print(f"{len(cancelled)} open task(s) would be cancelled" + (":" if cancelled else ""))
    for task in cancelled:
        print(f"  task {task.task_id} for {task.customer_number} (rule {task.rule_name!r}, {task.status.value})")


def cmd_import(args: argparse.Namespace) -> int:
    source = "<stdin>" if args.file == "-" else args.file
    try:
        parsed = read_catalog_file(args.file, cross_check=args.replace, numbers=number_plan(args))
    except UnicodeDecodeError as exc:
        raise CliError(f"{source}: not UTF-8 text: {exc.reason}") from exc
    except CatalogError as exc:
        report_problems(source, exc)
        return EXIT_FAILED
    with open_store(args) as store:
        repo = store.repo
        catalog = parsed.catalog if args.replace else merge_catalogs(repo.load_catalog(), parsed)
        try:
            validate_catalog(catalog)  # the merge may combine into something invalid
        except CatalogError as exc:
            # without --replace the places index the merged configuration (database
            # entries first, then the file's new ones), which is what was validated
            report_problems(f"{source} merged with the database", exc, catalog)
            return EXIT_FAILED
        if args.dry_run:
            print_plan(source, diff_catalogs(repo.load_catalog(), catalog), _tasks_to_cancel(store.queue, catalog))
            return EXIT_OK
        cancelled = repo.replace_catalog(catalog)
    c = catalog
    print(f"imported {source}: {len(c.rules)} rule(s), {len(c.employees)} employee(s), {len(c.groups)} group(s), "
          f"{len(c.campaigns)} campaign(s), {len(c.scenarios)} scenario(s), {len(c.virtual_numbers)} number(s), "
          f"{len(c.sites)} site(s), {len(c.schedules)} schedule(s), {len(c.blacklist)} blacklisted; "
          f"auto-callback {'on' if c.settings.enabled else 'off'}; {len(cancelled)} task(s) cancelled")
    return EXIT_OK
