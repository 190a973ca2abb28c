"""``fsworker db``: schema migrations — ``upgrade`` (default: to the newest revision),
``downgrade REVISION``, ``current``, ``normalize-numbers``.

Rules: the database URL comes from ``--db``, else the configuration (``database.url``,
``$FSWORKER_DB_URL``). Upgrades keep every row (revisions are additive), so operators
run ``fsworker db upgrade`` after installing a new version, with workers running or not.
The URL is printed only with its password removed. Upgrades pass the configuration's
``[numbers] region`` to the revisions that rewrite stored numbers (0005);
``normalize-numbers`` does that rewrite again whenever the region is set or changed.
"""

from __future__ import annotations

import argparse
import logging

from fsworker.cli.common import CliError, database_url, require_database, sqlite_file
from fsworker.cli.main import EXIT_OK, EXIT_UNAVAILABLE
from fsworker.core.errors import ValidationError
from fsworker.store import migrate
from fsworker.store.engine import redact_url

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("db", help="database schema: upgrade, downgrade, current revision")
    sub = p.add_subparsers(dest="db_command", metavar="ACTION")
    up = sub.add_parser("upgrade", help="migrate the schema up (keeps all data)")
    up.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    up.set_defaults(handler=_upgrade)
    down = sub.add_parser("downgrade", help="migrate the schema down to REVISION")
    down.add_argument("revision", help="target revision, e.g. 0001 or -1")
    down.set_defaults(handler=_downgrade)
    norm = sub.add_parser(
        "normalize-numbers", help="rewrite stored numbers to E.164 under [numbers] region; merge one customer's "
        "open tasks (after setting or changing the region; stop the workers first)")
    norm.set_defaults(handler=_normalize_numbers)
    cur = sub.add_parser("current", help="print the database's revision and the newest one")
    cur.set_defaults(handler=_current)
    p.set_defaults(handler=_current)


def _ensure_sqlite_dir(url: str) -> None:
    """``db upgrade`` is the one command that creates the embedded database."""
    path = sqlite_file(url)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"database unavailable at {redact_url(url)}: cannot create {path.parent}: "
                       f"{exc.strerror or exc}", EXIT_UNAVAILABLE) from exc


def _region(args: argparse.Namespace) -> str | None:
    from fsworker.config.settings import load_config

    return load_config(getattr(args, "config", None)).numbers.region


def _upgrade(args: argparse.Namespace) -> int:
    url = database_url(args)
    _ensure_sqlite_dir(url)
    before = migrate.current(url)
    migrate.upgrade(url, args.revision, number_region=_region(args))
    print(f"{redact_url(url)}: {before or '(empty)'} -> {migrate.current(url)}")
    return EXIT_OK


def _downgrade(args: argparse.Namespace) -> int:
    url = database_url(args)
    require_database(url)
    before = migrate.current(url)
    migrate.downgrade(url, args.revision)
    print(f"{redact_url(url)}: {before or '(empty)'} -> {migrate.current(url) or '(empty)'}")
    return EXIT_OK


def _normalize_numbers(args: argparse.Namespace) -> int:
    region = _region(args)
    if region is None:
        raise ValidationError("numbers.region", None, "set [numbers] region in the configuration first, e.g. \"RU\"")
    url = database_url(args)
    current, head = migrate.current(url), migrate.head()
    if current != head:
        raise CliError(f"database {redact_url(url)} has schema revision {current or '(none)'}, this fsworker needs "
                       f"{head}: run `fsworker db upgrade` first")
    print(f"{redact_url(url)}: {migrate.normalize_numbers(url, region)}")
    return EXIT_OK


def _current(args: argparse.Namespace) -> int:
    url = database_url(args)
    require_database(url)
    print(f"{redact_url(url)}: current {migrate.current(url) or '(empty)'}, newest {migrate.head()}")
    return EXIT_OK
