"""Numbers already stored become their E.164 identity under ``[numbers] region``, and
open tasks that turn out to be one customer are merged (D1); no schema change.

The region comes from the configuration: ``fsworker db upgrade`` (and the CLI's
automatic upgrade of the embedded SQLite database) put ``[numbers] region`` into
Alembic's config attributes as ``number_region``. Without a region (or when Alembic is
run by hand) nothing is rewritten: numbers stay their own identity, as before, and
``fsworker db normalize-numbers`` does the same work whenever a region is set later.

Downgrade: irreversible for the numbers (the spellings are not kept, and E.164 is a
valid number for revision 0004 too); it only maps values that older fsworker versions
do not know: end reason ``merged`` -> ``cancelled_by_operator``, the non-number skip
reasons -> ``invalid_number``.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import logging

from alembic import context, op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

log = logging.getLogger("fsworker.store.migrations")

_NEW_SKIPS = ("withheld_number", "not_a_number", "number_too_short", "number_too_long", "unknown_country_code")


def upgrade() -> None:
    region = context.config.attributes.get("number_region")
    if not region:
        log.info("0005: no [numbers] region configured; stored numbers are kept as written")
        return
    from fsworker.core.numbering import NumberPlan
    from fsworker.store.renumber import renumber

    report = renumber(op.get_bind(), NumberPlan(region=region))
    log.info("0005: %s", report)


def downgrade() -> None:
    op.execute("UPDATE tasks SET end_reason = 'cancelled_by_operator' WHERE end_reason = 'merged'")
    skips = ", ".join(f"'{s}'" for s in _NEW_SKIPS)
    op.execute(f"UPDATE lost_calls SET skip_reason = 'invalid_number' WHERE skip_reason IN ({skips})")  # noqa: S608
