"""Tasks remember that a worker lost them mid-attempt (or released them at shutdown),
so the next claimer looks for that attempt's legs on the switches before dialling;
attempts record when the customer was bridged, as it happens.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both dialects (SQLite >= 3.35 drops columns itself): a batch
# "copy and rename" of tasks would cascade-delete its task_lost_calls rows on SQLite.
def upgrade() -> None:
    op.add_column("tasks", sa.Column("recover_legs", sa.Boolean(), nullable=False, server_default=sa.text("false")))
    op.add_column("attempts", sa.Column("bridged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE attempts DROP COLUMN bridged_at")
    op.execute("ALTER TABLE tasks DROP COLUMN recover_legs")
