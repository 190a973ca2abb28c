"""The configuration carries a version, bumped by the database itself whenever a rule,
employee, group, campaign, scenario, virtual number, site, schedule or blacklist entry is
written (by fsworker, the CLI, the API or plain SQL), so a worker can ask "changed?"
with one small query instead of re-reading the whole configuration every second (~20 ms
of CPU with 1,000 employees; on SQLite it blocks the process that reads the switch's
events). Rule slots are left out on purpose: every claim writes them. The master switch
lives on the same row and is compared beside the version.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: the tables a Catalog is read from (fsworker/store/repo.py load_catalog)
CONFIG_TABLES = (
    "employees", "employee_endpoints", "employee_groups", "group_members", "campaigns", "scenarios",
    "virtual_numbers", "sites", "schedules", "schedule_windows", "schedule_exceptions", "blacklist", "rules",
)

_BUMP = "UPDATE settings SET config_version = config_version + 1 WHERE id = 1"

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION fsworker_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_BUMP};
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.add_column("settings", sa.Column("config_version", sa.BigInteger(), nullable=False,
                                        server_default=sa.text("0")))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for table in CONFIG_TABLES:
            op.execute(f"CREATE TRIGGER {table}_config_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION fsworker_config_changed()")
        return
    for table in CONFIG_TABLES:  # SQLite: row triggers only
        for op_name in ("insert", "update", "delete"):
            op.execute(f"CREATE TRIGGER {table}_config_version_{op_name} AFTER {op_name.upper()} ON {table} "
                       f"BEGIN {_BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in CONFIG_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_config_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS fsworker_config_changed()")
    else:
        for table in CONFIG_TABLES:
            for op_name in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_config_version_{op_name}")
    op.execute("ALTER TABLE settings DROP COLUMN config_version")
