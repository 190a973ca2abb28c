"""PostgreSQL tells idle workers when a task may have become claimable (NOTIFY
fsworker_tasks), so they sleep until the next due time instead of polling: a task
inserted pending, made pending again or given a new due time, or leaving ``active``
(its rule slot frees). A claim (pending -> active) and a heartbeat notify nobody, so
workers do not wake each other in a loop. SQLite: nothing (one process; wake-ups are
in-process there).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_FUNCTION = """
CREATE OR REPLACE FUNCTION fsworker_task_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Same channel and payload: PostgreSQL sends one per transaction however many rows.
    PERFORM pg_notify('fsworker_tasks', '');
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    op.execute(
        "CREATE TRIGGER tasks_notify_insert AFTER INSERT ON tasks FOR EACH ROW "
        "WHEN (NEW.status = 'pending') EXECUTE FUNCTION fsworker_task_changed()"
    )
    op.execute(
        "CREATE TRIGGER tasks_notify_update AFTER UPDATE ON tasks FOR EACH ROW "
        "WHEN ((NEW.status = 'pending' AND (OLD.status <> 'pending' OR OLD.due_at IS DISTINCT FROM NEW.due_at))"
        " OR (OLD.status = 'active' AND NEW.status <> 'active')) "
        "EXECUTE FUNCTION fsworker_task_changed()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS tasks_notify_update ON tasks")
    op.execute("DROP TRIGGER IF EXISTS tasks_notify_insert ON tasks")
    op.execute("DROP FUNCTION IF EXISTS fsworker_task_changed()")
