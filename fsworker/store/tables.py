"""The schema: one SQLAlchemy Core table per domain entity, plus the queue tables.

Rules: this module only declares; migrations (fsworker/store/migrations) create and
change the real schema, and a test checks they agree. Names are the identifiers rules
use to refer to entities, so they are unique. Times are stored in UTC (``UTCDateTime``).
Invariants the queue depends on are constraints here, not Python checks:
- D1: one open (status <> 'done') task per customer number (``uq_tasks_open_customer``);
- at most one attempt in flight per customer number (``uq_attempts_in_flight``);
- R10: a rule has MAX_CONCURRENCY slot rows; an attempt in flight holds one slot, so
  the number of its calls can never exceed its usable slots (slot < max_concurrent).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
    text,
)

from fsworker.core.outcomes import TaskStatus

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# SQLite only auto-increments an INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored in UTC; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"UTCDateTime: {value!r} must be a timezone-aware datetime")
        value = value.astimezone(UTC)
        # SQLite stores text without an offset; keep it naive UTC so text order = time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAME = 100
NUMBER = 32

settings = Table(
    "settings",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1: a single row
    Column("enabled", Boolean, nullable=False, server_default=text("true")),  # R16
    Column("updated_at", UTCDateTime, nullable=True),
    # bumped by triggers on every configuration table (migration 0008): "changed since?"
    Column("config_version", BigInteger, nullable=False, server_default=text("0")),
    CheckConstraint("id = 1", name="single_row"),
)

employees = Table(
    "employees",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(NAME), nullable=False, unique=True),
)

employee_endpoints = Table(
    "employee_endpoints",
    metadata,
    Column("employee_id", Id, ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("endpoint", String(200), nullable=False),
    UniqueConstraint("employee_id", "endpoint"),
)

employee_groups = Table(
    "employee_groups",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("max_lines", Integer, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", Id, ForeignKey("employee_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("employee_id", Id, ForeignKey("employees.id", ondelete="RESTRICT"), nullable=False),
    UniqueConstraint("group_id", "employee_id"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("target_kind", String(16), nullable=False),
    Column("target", String(NAME), nullable=False),
)

scenarios = Table(
    "scenarios",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("extension", String(NAME), nullable=False),
    Column("context", String(NAME), nullable=False),
)

virtual_numbers = Table(
    "virtual_numbers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("number", String(NUMBER), nullable=False, unique=True),
    Column("description", Text, nullable=False, server_default=""),
)

sites = Table(
    "sites",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(NAME), nullable=False, unique=True),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("timezone", String(64), nullable=False),
)

schedule_windows = Table(
    "schedule_windows",
    metadata,
    Column("id", Id, primary_key=True),
    Column("schedule_id", Id, ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("day", SmallInteger, nullable=False),  # 0 = Monday
    Column("start_time", Time, nullable=False),
    Column("end_time", Time, nullable=False),
)

schedule_exceptions = Table(
    "schedule_exceptions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("schedule_id", Id, ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False),
    Column("day", Date, nullable=False),
    Column("windows", JSON, nullable=False),  # [["HH:MM:SS", "HH:MM:SS"], ...]; [] = closed
    UniqueConstraint("schedule_id", "day"),
)

blacklist = Table(
    "blacklist",
    metadata,
    Column("id", Id, primary_key=True),
    Column("number", String(NUMBER), nullable=False, unique=True),
    Column("reason", Text, nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=True),
)

rules = Table(
    "rules",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("position", Integer, nullable=False, index=True),  # R11: 0 = first
    Column("place", String(16), nullable=False),
    Column("place_value", String(NAME), nullable=True),
    Column("strategy", String(32), nullable=False),
    Column("target", String(NAME), nullable=True),
    Column("hint_kind", String(16), nullable=False),
    Column("hint_text", Text, nullable=False, server_default=""),
    Column("hint_language", String(16), nullable=False, server_default="ru"),
    Column("callback_schedule", String(NAME), nullable=True),
    Column("applies_schedule", String(NAME), nullable=True),
    Column("intervals", JSON, nullable=False),
    Column("min_wait_s", Integer, nullable=False),
    Column("max_concurrent", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("updated_at", UTCDateTime, nullable=True),
    CheckConstraint("max_concurrent BETWEEN 1 AND 5", name="max_concurrent"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("customer_number", String(NUMBER), nullable=False),
    Column("rule_id", Id, ForeignKey("rules.id", ondelete="SET NULL"), nullable=True),
    Column("rule_name", String(NAME), nullable=False),  # kept after the rule is deleted
    Column("status", String(16), nullable=False),
    Column("attempt_no", Integer, nullable=False, server_default="1"),  # the next / current attempt
    Column("due_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(NAME), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    Column("end_reason", String(40), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    # Set when a worker lost its lease or released the task with legs maybe still up
    # on a switch: the next claimer looks for them (fsw_task_id) before dialling (rev 0003).
    Column("recover_legs", Boolean, nullable=False, server_default=text("false")),
    CheckConstraint("status IN ('pending', 'active', 'done')", name="status"),
    CheckConstraint("(status = 'done') = (end_reason IS NOT NULL)", name="end_reason"),
    # D1: one open task per customer number.
    Index(
        "uq_tasks_open_customer",
        "customer_number",
        unique=True,
        postgresql_where=text("status <> 'done'"),
        sqlite_where=text("status <> 'done'"),
    ),
    # The claim walks this index in due order; done and active tasks are not in it.
    Index(
        "ix_tasks_due",
        "due_at",
        "id",
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
    # The reaper finds expired leases without scanning.
    Index(
        "ix_tasks_lease",
        "lease_expires_at",
        postgresql_where=text("lease_owner IS NOT NULL"),
        sqlite_where=text("lease_owner IS NOT NULL"),
    ),
    Index("ix_tasks_rule_status", "rule_id", "status"),
)
assert {s.value for s in TaskStatus} == {"pending", "active", "done"}

attempts = Table(
    "attempts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("task_id", Id, ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("attempt_no", Integer, nullable=False),
    Column("customer_number", String(NUMBER), nullable=False),
    Column("worker", String(NAME), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("outcome", String(40), nullable=True),
    Column("detail", Text, nullable=False, server_default=""),
    Column("employee", String(NAME), nullable=True),
    Column("call_uuids", JSON, nullable=True),
    Column("talk_s", Float, nullable=True),  # seconds the customer was bridged (rev 0002)
    # When the customer was bridged with the employee (rev 0003): written as it happens,
    # so a worker that dies during the talk leaves the fact that the customer was reached.
    Column("bridged_at", UTCDateTime, nullable=True),
    Index("ix_attempts_started_at", "started_at"),
    # Attempt numbers name attempts in history and webhooks: never two alike (rev 0004).
    Index("uq_attempts_task_no", "task_id", "attempt_no", unique=True),
    # At most one attempt in flight per customer number, whatever the tasks say.
    Index(
        "uq_attempts_in_flight",
        "customer_number",
        unique=True,
        postgresql_where=text("ended_at IS NULL"),
        sqlite_where=text("ended_at IS NULL"),
    ),
)

rule_slots = Table(
    "rule_slots",
    metadata,
    Column("rule_id", Id, ForeignKey("rules.id", ondelete="CASCADE"), primary_key=True),
    Column("slot", SmallInteger, primary_key=True),  # 0..MAX_CONCURRENCY-1
    Column("task_id", Id, nullable=True),
    Column("attempt_id", Id, ForeignKey("attempts.id", ondelete="SET NULL"), nullable=True, unique=True),
)

lost_calls = Table(
    "lost_calls",
    metadata,
    Column("id", Id, primary_key=True),
    Column("call_uuid", String(64), nullable=False, unique=True),  # idempotent intake
    Column("customer_number", String(200), nullable=False),  # as reported: untrusted
    Column("lost_at", UTCDateTime, nullable=False),
    Column("waited_s", Float, nullable=False),
    Column("place", String(16), nullable=False),
    Column("node", String(NAME), nullable=False),
    Column("facts", JSON, nullable=False),
    Column("skip_reason", String(40), nullable=True),
    Column("rule_name", String(NAME), nullable=True),
    Column("task_id", Id, ForeignKey("tasks.id", ondelete="SET NULL"), nullable=True, index=True),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index("ix_lost_calls_customer_number_lost_at", "customer_number", "lost_at"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("call_uuid", String(64), nullable=False, unique=True),
    Column("customer_number", String(200), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("employee", String(NAME), nullable=True),
    Column("node", String(NAME), nullable=False),
    Column("extra", JSON, nullable=False),
    Column("cancelled_tasks", JSON, nullable=False),  # task ids this contact ended (R17)
)
