"""``fsworker check``: validate the configuration file, the rules in the database and
(optionally) an export file, reporting every problem with its place.

Rules: read-only — it never creates or migrates a database (a missing embedded
database is reported, not made). Each problem is printed as ``SOURCE: PLACE: what``;
warnings are shown but do not fail. Exit 0 when there are no errors, 1 when there are,
4 when the database cannot be reached.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from fsworker.cli.common import (
    CliError,
    add_json,
    handles_os_errors,
    open_store,
    print_json,
    remember_options,
)
from fsworker.cli.main import EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK, EXIT_UNAVAILABLE
from fsworker.core.errors import FsworkerError, ValidationError, problem_text
from fsworker.core.validation import CatalogError, check_catalog
from fsworker.store.errors import StoreUnavailableError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("check", help="validate the configuration file and the rules",
                              description="Check the configuration file, the rules in the database and, with "
                                          "--catalog, an export file; every problem is reported with its place.")
    p.add_argument("config_file", nargs="?", metavar="CONFIG",
                   help="configuration file (default: -c, $FSWORKER_CONFIG or ./fsworker.toml)")
    p.add_argument("--catalog", metavar="FILE", help="also check this export/import file")
    p.add_argument("--no-db", action="store_true", help="do not check the rules in the database")
    add_json(p)
    p.set_defaults(handler=handles_os_errors(cmd_check))


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    source: str
    place: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        warn = "warning: " if self.severity != "error" else ""
        return f"{self.source}: {warn}{self.place}: {self.message}"


def _config_findings(path: Any, notes: list[str]) -> tuple[list[Finding], bool]:
    from fsworker.config.settings import check_config, resolve_path

    file = resolve_path(path)
    if file is None:
        notes.append("configuration: no file (./fsworker.toml or $FSWORKER_CONFIG); built-in defaults")
        return [], True
    if not file.exists():
        return [Finding(source=str(file), place="(file)", message="does not exist")], False
    problems = check_config(file)
    found = [Finding(source=str(file), place=p.place, message=p.message, severity=p.severity.value) for p in problems]
    notes.append(f"configuration: {file}")
    return found, not any(f.severity == "error" for f in found)


def _catalog_problems(source: str, problems: list[Any]) -> list[Finding]:
    return [Finding(source=source, place=p.path, message=problem_text(p.value, p.limit)) for p in problems]


def _db_findings(args: argparse.Namespace, config_ok: bool, config_path: Any, notes: list[str]) -> tuple[list[Finding], bool]:
    """Findings in the stored rules, and whether the database could be reached."""
    from fsworker.cli.cmd_rules import check_hint

    if not args.db and not config_ok:
        notes.append("database: not checked (the configuration file has errors; or give --db)")
        return [], True
    db_args = argparse.Namespace(db=args.db, config=config_path)
    try:
        with open_store(db_args) as store:
            source = f"database {store.url}"
            catalog = store.repo.load_catalog()
    except StoreUnavailableError as exc:
        return [Finding(source="database", place=exc.url, message=f"unreachable: {exc.detail}")], False
    except CliError as exc:
        if exc.exit_code == EXIT_NOT_FOUND:
            notes.append(f"{exc}: no rules to check")
            return [], True
        return [Finding(source="database", place="(schema)", message=str(exc))], True
    except ValidationError as exc:  # a stored row that today's validation refuses
        return [Finding(source="database", place=exc.field, message=exc.problem)], True
    found = _catalog_problems(source, check_catalog(catalog))
    for i, rule in enumerate(catalog.ordered_rules()):
        try:
            check_hint(rule.hint, f"rules[{i}].hint")
        except ValidationError as exc:
            found.append(Finding(source=source, place=f"{exc.field} (rule {rule.name!r})",
                                 message=exc.problem))
    notes.append(f"{source}: {len(catalog.rules)} rule(s) checked")
    return found, True


def cmd_check(args: argparse.Namespace) -> int:
    from fsworker.cli.cmd_config_io import read_catalog_file

    notes: list[str] = []
    config_path = args.config_file or args.config
    remember_options(argparse.Namespace(**{**vars(args), "config": config_path}))  # hints: its sound_dirs
    findings, config_ok = _config_findings(config_path, notes)
    reachable = True
    if not args.no_db:
        db_findings, reachable = _db_findings(args, config_ok, config_path, notes)
        findings += db_findings
    if args.catalog:
        try:
            read_catalog_file(args.catalog)
            notes.append(f"{args.catalog}: valid")
        except CatalogError as exc:
            findings += _catalog_problems(args.catalog, exc.problems)
        except UnicodeDecodeError as exc:
            findings.append(Finding(source=args.catalog, place="(file)", message=f"not UTF-8 text: {exc.reason}"))
        except FsworkerError as exc:
            findings.append(Finding(source=args.catalog, place="(file)", message=str(exc)))
    errors = [f for f in findings if f.severity == "error"]
    if args.json:
        print_json({"ok": not errors and reachable, "notes": notes, "problems": [
            {"source": f.source, "place": f.place, "message": f.message, "severity": f.severity} for f in findings]})
    else:
        for f in findings:
            print(f)
        for n in notes:
            print(f"# {n}")
        warnings = len(findings) - len(errors)
        print(f"{len(errors)} error(s), {warnings} warning(s)" if findings else "ok: no problems found")
    if not reachable:
        return EXIT_UNAVAILABLE
    return EXIT_FAILED if errors else EXIT_OK
