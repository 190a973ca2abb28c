"""Task-change notifications carry the task's due time (Unix seconds) as their payload,
or nothing when a task left ``active`` (its rule slot freed: claimable now). A worker
already sleeping until no later than that due time sleeps on: at 100 lost calls a
second, each due in minutes, every worker otherwise made 100 empty claims a second.
PostgreSQL folds identical payloads within a transaction, so a batch of tasks made due
at one moment still sends one. SQLite: nothing (wake-ups are in-process there).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_WITH_DUE = """
CREATE OR REPLACE FUNCTION fsworker_task_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'active' THEN
        PERFORM pg_notify('fsworker_tasks', '');
    ELSE
        PERFORM pg_notify('fsworker_tasks', extract(epoch FROM NEW.due_at)::text);
    END IF;
    RETURN NULL;
END $$
"""

_WITHOUT_DUE = """
CREATE OR REPLACE FUNCTION fsworker_task_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Same channel and payload: PostgreSQL sends one per transaction however many rows.
    PERFORM pg_notify('fsworker_tasks', '');
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_WITH_DUE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_WITHOUT_DUE)
