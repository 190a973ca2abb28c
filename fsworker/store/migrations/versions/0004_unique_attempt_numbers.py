"""Attempt numbers are unique per task: history and webhooks name attempts by them.

Before this revision a lost lease retried under the number of the attempt it lost, so
a task could hold two attempts numbered alike. Such tasks have their attempts
renumbered in the order they were made (ids grow with time), and their next attempt
number moved past the last one, before the unique index is created.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Tasks holding two attempts with one number (plain SQL: the same on both dialects).
_DUPLICATED = "SELECT task_id FROM attempts GROUP BY task_id, attempt_no HAVING COUNT(*) > 1"


def upgrade() -> None:
    op.execute(
        f"""UPDATE tasks SET attempt_no = (
                SELECT COUNT(*) FROM attempts a WHERE a.task_id = tasks.id
            ) + CASE WHEN status = 'done' OR EXISTS (
                SELECT 1 FROM attempts a WHERE a.task_id = tasks.id AND a.ended_at IS NULL
            ) THEN 0 ELSE 1 END
            WHERE id IN ({_DUPLICATED})"""
    )
    op.execute(
        f"""UPDATE attempts SET attempt_no = (
                SELECT COUNT(*) FROM attempts a WHERE a.task_id = attempts.task_id AND a.id <= attempts.id
            )
            WHERE task_id IN ({_DUPLICATED})"""
    )
    op.create_index("uq_attempts_task_no", "attempts", ["task_id", "attempt_no"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_attempts_task_no", table_name="attempts")
