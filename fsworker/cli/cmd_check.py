"""``fsworker check``: validate the configuration file, the rules in the database and
(optionally) an export file, reporting every problem with its place; then log in to
every configured FreeSWITCH node (``auth`` + ``api status`` under the node's connect
timeout) and read the database's schema revision, so a wrong password or address
shows here and not only under ``run``.

Rules: read-only — it never creates or migrates a database (a missing embedded
database is reported, not made). Each problem is printed as ``SOURCE: PLACE: what``;
warnings are shown but do not fail; each probe is one line, ``probe WHAT: ok|FAILED:
...``. ``--offline`` skips the network probes (the switches). Exit 0 when there are no
errors, 1 when there are, 4 when the database or a switch cannot be reached or refuses
the password.
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
from fsworker.core.numbering import NO_REGION, NumberPlan
from fsworker.core.outcomes import TaskStatus
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
    p.add_argument("--offline", action="store_true",
                   help="do not log in to the FreeSWITCH nodes (only files and the database)")
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


@dataclass(frozen=True, kw_only=True, slots=True)
class ProbeLine:
    what: str  #: ``node 'pbx1' (10.0.0.5:8021)``, ``database sqlite:///...``
    ok: bool
    message: str

    def __str__(self) -> str:
        return f"probe {self.what}: {'ok' if self.ok else 'FAILED'}: {self.message}"


def _node_probes(config_path: Any) -> list[ProbeLine]:
    """Log in to every configured node; one line each, naming what to fix."""
    from fsworker.config.settings import load_config
    from fsworker.esl.probe import login
    from fsworker.esl.proto.errors import AuthenticationError, ESLError

    lines = []
    for node in load_config(config_path).nodes:
        what = f"node {node.name!r} ({node.host}:{node.port})"
        try:
            password = node.password()
        except FsworkerError as exc:  # the variable is not set
            lines.append(ProbeLine(what=what, ok=False, message=f"cannot log in: {exc}"))
            continue
        try:
            seen = login(node.host, node.port, password, timeout=node.connect_timeout_s)
        except AuthenticationError as exc:
            lines.append(ProbeLine(what=what, ok=False, message=(
                f"{exc}; check the environment variable {node.password_env} (node {node.name!r} "
                f"password_env) against event_socket.conf.xml, and the switch's ACL")))
            continue
        except ESLError as exc:
            lines.append(ProbeLine(what=what, ok=False, message=(
                f"{exc} (connect_timeout_s = {node.connect_timeout_s:g})")))
            continue
        lines.append(ProbeLine(what=what, ok=True, message=(
            f"logged in, api status answered in {seen.seconds * 1000:.0f} ms: {seen.status}")))
    return lines


def _schema_probe(url: str, shown_url: str) -> ProbeLine:
    from fsworker.store import migrate

    current, newest = migrate.current(url), migrate.head()
    if current == newest:
        return ProbeLine(what=f"database {shown_url}", ok=True, message=f"schema revision {current} (the newest)")
    return ProbeLine(what=f"database {shown_url}", ok=False,
                     message=f"schema revision {current or '(none)'}, this fsworker needs {newest}: "
                             "run `fsworker db upgrade`")


def _catalog_problems(source: str, problems: list[Any]) -> list[Finding]:
    return [Finding(source=source, place=p.path, message=problem_text(p.value, p.limit)) for p in problems]


def _db_findings(args: argparse.Namespace, config_ok: bool, config_path: Any, notes: list[str],
                 probes: list[ProbeLine]) -> tuple[list[Finding], bool]:
    """Findings in the stored rules, and whether the database could be reached."""
    from fsworker.cli.cmd_rules import check_hint
    from fsworker.cli.common import database_url

    if not args.db and not config_ok:
        notes.append("database: not checked (the configuration file has errors; or give --db)")
        return [], True
    db_args = argparse.Namespace(db=args.db, config=config_path)
    try:
        with open_store(db_args) as store:
            source = f"database {store.url}"
            catalog = store.repo.load_catalog()
            probes.append(_schema_probe(database_url(db_args), store.url))
            plan = _numbers(config_path) if config_ok else NO_REGION
            open_numbers = [] if plan.region is None else [
                (f"task {t.task_id}", t.customer_number) for status in (TaskStatus.PENDING, TaskStatus.ACTIVE)
                for t in store.queue.list_tasks(status=status, limit=100_000)]
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
    found += _unnormalised(source, plan, catalog, open_numbers)
    notes.append(f"{source}: {len(catalog.rules)} rule(s) checked")
    return found, True


def _unnormalised(source: str, plan: NumberPlan, catalog: Any, open_numbers: list[tuple[str, str]]) -> list[Finding]:
    """Stored numbers that are not their identity under the configured region: written
    before the region was set (or changed); they would not match the switch's calls."""
    if plan.region is None:
        return []
    stored = [*((f"blacklist {b.number}", b.number) for b in catalog.blacklist),
              *((f"virtual number {v.number}", v.number) for v in catalog.virtual_numbers),
              *((f"rule {r.name!r} place_value", r.place_value) for r in catalog.rules
                if r.place.value == "number" and r.place_value),
              *((f"rule {r.name!r} target", r.target) for r in catalog.rules
                if str(r.strategy) == "number" and r.target),
              *((f"campaign {c.name!r} target", c.target) for c in catalog.campaigns
                if c.target_kind.value == "number"),
              *open_numbers]
    return [Finding(source=source, place=place, severity="warning",
                    message=f"{value!r} is {identity} under region {plan.region}: "
                            "run `fsworker db normalize-numbers`")
            for place, value in stored if (identity := plan.normalize_or_keep(value)) != value]


def _numbers(config_path: str | None) -> NumberPlan:
    from fsworker.config.settings import load_config

    return load_config(config_path).numbers.plan


def cmd_check(args: argparse.Namespace) -> int:
    from fsworker.cli.cmd_config_io import read_catalog_file

    notes: list[str] = []
    config_path = args.config_file or args.config
    remember_options(argparse.Namespace(**{**vars(args), "config": config_path}))  # hints: its sound_dirs
    findings, config_ok = _config_findings(config_path, notes)
    reachable = True
    probes: list[ProbeLine] = []
    if not args.no_db:
        db_findings, reachable = _db_findings(args, config_ok, config_path, notes, probes)
        findings += db_findings
    if args.offline:
        notes.append("switches: not logged in to (--offline)")
    elif not config_ok:
        notes.append("switches: not logged in to (the configuration file has errors)")
    else:
        probes += _node_probes(config_path)
    if any(not p.ok and p.what.startswith("node ") for p in probes):
        reachable = False
    if args.catalog:
        try:
            read_catalog_file(args.catalog, numbers=_numbers(config_path) if config_ok else NO_REGION)
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
            {"source": f.source, "place": f.place, "message": f.message, "severity": f.severity} for f in findings],
            "probes": [{"what": p.what, "ok": p.ok, "message": p.message} for p in probes]})
    else:
        for f in findings:
            print(f)
        for p in probes:
            print(p)
        for n in notes:
            print(f"# {n}")
        warnings = len(findings) - len(errors)
        failed = sum(not p.ok for p in probes)
        print(f"{len(errors) + failed} error(s), {warnings} warning(s)" if findings or failed
              else "ok: no problems found")
    if not reachable:
        return EXIT_UNAVAILABLE
    return EXIT_FAILED if errors else EXIT_OK
