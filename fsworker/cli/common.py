"""What every CLI command shares: opening the store, output (tables, --json), errors.

Rules: a handler opens the database only through ``open_store`` (URL from --db, else
$FSWORKER_DB_URL / the config file / the built-in SQLite default). Only ``fsworker db
upgrade`` creates a database: any other command refuses a SQLite file that does not
exist, naming it, so a command run from another directory never quietly works on a new,
empty database. An existing embedded SQLite database is migrated on use; a PostgreSQL
database is never migrated behind the operator's back (``fsworker db upgrade`` does it). Bad input raises ValidationError (exit 1, message names the field,
value and limit); fsworker.cli.main prints FsworkerErrors and maps them to exit codes.
Nothing here prints a database password: URLs are shown redacted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from fsworker.cli.main import EXIT_FAILED, EXIT_NOT_FOUND
from fsworker.core.errors import FsworkerError, ValidationError
from fsworker.store.engine import make_engine, redact_url

log = logging.getLogger(__name__)


class CliError(FsworkerError):
    """A failure the CLI reports as is, with the exit code it should give."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# --- the global options and the configuration file ---------------------------------------

_options = argparse.Namespace(config=None, db=None, utc=False)
_config: Any = None


def remember_options(args: argparse.Namespace) -> None:
    """Called by fsworker.cli.main with the parsed command line: the global options
    (--config, --utc) reach helpers that have no ``args`` of their own."""
    global _options, _config
    _options, _config = args, None


def cli_config() -> Any:
    """The configuration this command runs with (--config, $FSWORKER_CONFIG, ./fsworker.toml
    or the defaults), read once."""
    global _config
    if _config is None:
        from fsworker.config.settings import load_config

        _config = load_config(getattr(_options, "config", None))
    return _config


def display_zone() -> tzinfo | None:
    """Where times are shown: UTC with --utc, else ``[display] timezone``, else None =
    the machine's local zone (``datetime.astimezone(None)``)."""
    if getattr(_options, "utc", False):
        return UTC
    try:
        name = cli_config().display.timezone
    except FsworkerError:  # the command itself reports a broken configuration
        name = None
    return ZoneInfo(name) if name else None


def show_time(at: datetime) -> str:
    """A stored (UTC) instant in the display zone, to the second, with its offset."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)  # the store keeps UTC
    return at.astimezone(display_zone()).isoformat(timespec="seconds")


def show_seconds(seconds: float | None) -> str | None:
    """A duration as an operator reads it: 9.99506 -> '10.0'."""
    return None if seconds is None else f"{seconds:.1f}"


# --- the database -----------------------------------------------------------------------


def database_url(args: argparse.Namespace) -> str:
    """--db, else the configuration's database.url ($FSWORKER_DB_URL, the file, the default)."""
    from fsworker.config.settings import DatabaseConfig, load_config

    if getattr(args, "db", None):
        try:
            return DatabaseConfig(url=str(args.db)).url  # checked and normalised like the file's
        except ValidationError as exc:
            raise ValidationError("--db", exc.value, exc.limit) from None
    if getattr(args, "config", None) == getattr(_options, "config", None):
        return str(cli_config().database.url)
    return load_config(getattr(args, "config", None)).database.url


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other URLs and in-memory databases)."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - make_engine reports an unparsable URL properly
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def require_database(url: str) -> None:
    """Refuse a SQLite database file that does not exist (connecting would create it)."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise CliError(f"database {path.absolute()} does not exist: create it with `fsworker db upgrade`, "
                       "or choose another with --config or --db", EXIT_NOT_FOUND)


def ensure_schema(url: str, *, number_region: str | None = None) -> None:
    """SQLite: refuse a file that does not exist; migrate an existing one to the current
    schema (the embedded database is ours to manage). PostgreSQL: refuse an outdated
    schema."""
    from alembic.util.exc import CommandError

    from fsworker.store import migrate

    require_database(url)
    current, head = migrate.current(url), migrate.head()
    if current == head:
        return
    if sqlite_file(url) is None:
        raise CliError(f"database {redact_url(url)} has schema revision {current or '(none)'}, this fsworker needs "
                       f"{head}: run `fsworker db upgrade` first", EXIT_FAILED)
    log.info("migrating the embedded database %s from %s to %s", redact_url(url), current, head)
    try:
        migrate.upgrade(url, number_region=number_region)
    except CommandError as exc:  # e.g. a revision from a newer fsworker
        raise CliError(f"database {redact_url(url)}: cannot migrate schema {current} to {head}: {exc}") from exc


@dataclass
class Store:
    engine: Engine
    url: str  #: redacted

    @property
    def repo(self) -> Any:
        from fsworker.store.repo import Repository

        return Repository(self.engine)

    @property
    def queue(self) -> Any:
        from fsworker.store.queue import TaskQueue

        return TaskQueue(self.engine)


@contextlib.contextmanager
def open_store(args: argparse.Namespace) -> Iterator[Store]:
    url = database_url(args)
    engine = make_engine(url)
    try:
        ensure_schema(url, number_region=_region_or_none(args))
        yield Store(engine=engine, url=redact_url(url))
    finally:
        engine.dispose()


def number_plan(args: argparse.Namespace) -> Any:
    """The configuration's NumberPlan: how numbers typed here are read and shown
    ([numbers] region; without it, numbers as written)."""
    from fsworker.config.settings import load_config

    return load_config(getattr(args, "config", None)).numbers.plan


def _region_or_none(args: argparse.Namespace) -> str | None:
    try:
        return number_plan(args).region  # type: ignore[no-any-return]
    except FsworkerError:  # a broken file is reported by the command that reads it (check)
        return None


# --- parsing option values (so bad input names its field and exits 1, not 2) -------------


def parse_int(text: str | int, field: str, lo: int | None = None, hi: int | None = None) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ValidationError(field, text, "a whole number") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValidationError(field, value, f"{lo}..{hi}" if hi is not None else f">= {lo}")
    return value


def parse_int_list(text: str, field: str) -> tuple[int, ...]:
    """``"0,300,3600"`` -> (0, 300, 3600); the model checks the count and range."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise ValidationError(field, text, "comma-separated whole seconds, e.g. 0,300,3600")
    return tuple(parse_int(p, f"{field}[{i}]") for i, p in enumerate(parts))


def free_text(text: str, field: str) -> str:
    """A description / reason: shown in lists on a terminal, so no control characters
    (an escape sequence would rewrite the operator's screen); tab is allowed."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text if ch != "\t"):
        raise ValidationError(field, text, "no control characters (tab is allowed)")
    return text


# --- output ---------------------------------------------------------------------------


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable JSON output")


def _default(o: Any) -> Any:
    if isinstance(o, (datetime, date, time)):
        return o.isoformat()
    if isinstance(o, Enum):
        return o.value
    if isinstance(o, (tuple, set, frozenset)):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def print_json(data: Any) -> None:
    print(json.dumps(data, default=_default, ensure_ascii=False, indent=2))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str = "(none)") -> None:
    if not rows:
        print(empty)
        return
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip())
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, Enum):
        return str(v.value)
    if isinstance(v, datetime):
        return show_time(v)
    if isinstance(v, (list, tuple)):
        return ",".join(_cell(x) for x in v)
    return str(v).replace("\n", "\\n")


def print_fields(pairs: Sequence[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in pairs)
    for k, v in pairs:
        print(f"{k + ':':<{width + 1}} {_cell(v)}")


def err(message: str) -> None:
    print(f"fsworker: {message}", file=sys.stderr)


def handles_os_errors(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Report a file that cannot be read or written as an error, not a traceback."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except BrokenPipeError:
            raise  # the reader of our output went away: fsworker.cli.main ends quietly
        except OSError as exc:
            name = getattr(exc, "filename", None) or ""
            code = EXIT_NOT_FOUND if isinstance(exc, FileNotFoundError) else EXIT_FAILED
            raise CliError(f"{name}: {exc.strerror or exc}" if name else str(exc), code) from exc

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper
