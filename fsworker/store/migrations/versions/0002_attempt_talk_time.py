"""Attempts record the customer's talk time (seconds bridged), for R8 success checks
and metrics; listing attempts by start time uses an index.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("talk_s", sa.Float(), nullable=True))
        batch_op.create_index("ix_attempts_started_at", ["started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_started_at")
        batch_op.drop_column("talk_s")
