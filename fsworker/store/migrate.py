"""Schema migrations (Alembic), run from Python or ``fsworker db``.

Rules: the schema is only ever created or changed by a migration revision in
``fsworker/store/migrations/versions``; revisions are additive and keep rows, so an
operator upgrades a live database without losing tasks. The URL given here wins over
anything in alembic.ini.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from fsworker.core.numbering import NumberPlan
from fsworker.store.engine import make_engine, redact_url
from fsworker.store.errors import translate_errors
from fsworker.store.renumber import RenumberReport, renumber

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str, stdout: io.TextIOBase | None = None, *, number_region: str | None = None) -> Config:
    cfg = Config(stdout=stdout) if stdout is not None else Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # '%' is interpolation syntax in ConfigParser.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["fsworker_url"] = url
    # [numbers] region, for revisions that rewrite stored numbers (0005)
    cfg.attributes["number_region"] = number_region
    return cfg


def upgrade(url: str, revision: str = "head", *, number_region: str | None = None) -> None:
    """``number_region``: the configuration's [numbers] region, so migration 0005 can
    normalise the numbers already stored (None: they are kept as written)."""
    log.info("migrating %s up to %s", redact_url(url), revision)
    with translate_errors(redact_url(url)):
        command.upgrade(alembic_config(url, number_region=number_region), revision)


def normalize_numbers(url: str, region: str) -> RenumberReport:
    """Rewrite stored numbers to E.164 under ``region`` and merge one customer's open
    tasks (fsworker.store.renumber), in one transaction."""
    engine = make_engine(url)
    try:
        with translate_errors(redact_url(url)), engine.begin() as conn:
            return renumber(conn, NumberPlan(region=region))
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    log.info("migrating %s down to %s", redact_url(url), revision)
    with translate_errors(redact_url(url)):
        command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database is at (None = empty / never migrated)."""
    engine = make_engine(url)
    try:
        with translate_errors(redact_url(url)), engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head() -> str:
    head_rev = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head_rev is not None
    return head_rev
