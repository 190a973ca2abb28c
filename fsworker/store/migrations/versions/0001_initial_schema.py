"""Initial schema: configuration entities, lost calls, tasks, attempts, rule slots, contacts.

Hand-checked after autogenerate: app types replaced by plain SQLAlchemy types so this
revision never changes when fsworker.store.tables does.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def _create_blacklist() -> None:
    op.create_table('blacklist',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blacklist')),
    sa.UniqueConstraint('number', name=op.f('uq_blacklist_number'))
    )


def _create_campaigns() -> None:
    op.create_table('campaigns',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('target_kind', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('name', name=op.f('uq_campaigns_name'))
    )


def _create_contacts() -> None:
    op.create_table('contacts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('call_uuid', sa.String(length=64), nullable=False),
    sa.Column('customer_number', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('employee', sa.String(length=100), nullable=True),
    sa.Column('node', sa.String(length=100), nullable=False),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.Column('cancelled_tasks', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts')),
    sa.UniqueConstraint('call_uuid', name=op.f('uq_contacts_call_uuid'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contacts_customer_number'), ['customer_number'], unique=False)


def _create_employee_groups() -> None:
    op.create_table('employee_groups',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('max_lines', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employee_groups')),
    sa.UniqueConstraint('name', name=op.f('uq_employee_groups_name'))
    )


def _create_employees() -> None:
    op.create_table('employees',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employees')),
    sa.UniqueConstraint('name', name=op.f('uq_employees_name'))
    )


def _create_rules() -> None:
    op.create_table('rules',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('place', sa.String(length=16), nullable=False),
    sa.Column('place_value', sa.String(length=100), nullable=True),
    sa.Column('strategy', sa.String(length=32), nullable=False),
    sa.Column('target', sa.String(length=100), nullable=True),
    sa.Column('hint_kind', sa.String(length=16), nullable=False),
    sa.Column('hint_text', sa.Text(), server_default='', nullable=False),
    sa.Column('hint_language', sa.String(length=16), server_default='ru', nullable=False),
    sa.Column('callback_schedule', sa.String(length=100), nullable=True),
    sa.Column('applies_schedule', sa.String(length=100), nullable=True),
    sa.Column('intervals', sa.JSON(), nullable=False),
    sa.Column('min_wait_s', sa.Integer(), nullable=False),
    sa.Column('max_concurrent', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('max_concurrent BETWEEN 1 AND 5', name=op.f('ck_rules_max_concurrent')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rules')),
    sa.UniqueConstraint('name', name=op.f('uq_rules_name'))
    )
    with op.batch_alter_table('rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rules_position'), ['position'], unique=False)


def _create_scenarios() -> None:
    op.create_table('scenarios',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('extension', sa.String(length=100), nullable=False),
    sa.Column('context', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scenarios')),
    sa.UniqueConstraint('name', name=op.f('uq_scenarios_name'))
    )


def _create_schedules() -> None:
    op.create_table('schedules',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedules')),
    sa.UniqueConstraint('name', name=op.f('uq_schedules_name'))
    )


def _create_settings() -> None:
    op.create_table('settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('id = 1', name=op.f('ck_settings_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_settings'))
    )


def _create_sites() -> None:
    op.create_table('sites',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sites')),
    sa.UniqueConstraint('name', name=op.f('uq_sites_name'))
    )


def _create_virtual_numbers() -> None:
    op.create_table('virtual_numbers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_virtual_numbers')),
    sa.UniqueConstraint('number', name=op.f('uq_virtual_numbers_number'))
    )


def _create_employee_endpoints() -> None:
    op.create_table('employee_endpoints',
    sa.Column('employee_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('endpoint', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_employee_endpoints_employee_id_employees'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('employee_id', 'position', name=op.f('pk_employee_endpoints')),
    sa.UniqueConstraint('employee_id', 'endpoint', name=op.f('uq_employee_endpoints_employee_id_endpoint'))
    )


def _create_group_members() -> None:
    op.create_table('group_members',
    sa.Column('group_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('employee_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['employee_id'], ['employees.id'], name=op.f('fk_group_members_employee_id_employees'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['group_id'], ['employee_groups.id'], name=op.f('fk_group_members_group_id_employee_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'position', name=op.f('pk_group_members')),
    sa.UniqueConstraint('group_id', 'employee_id', name=op.f('uq_group_members_group_id_employee_id'))
    )


def _create_schedule_exceptions() -> None:
    op.create_table('schedule_exceptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('schedule_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('windows', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_schedule_exceptions_schedule_id_schedules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_exceptions')),
    sa.UniqueConstraint('schedule_id', 'day', name=op.f('uq_schedule_exceptions_schedule_id_day'))
    )


def _create_schedule_windows() -> None:
    op.create_table('schedule_windows',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('schedule_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.SmallInteger(), nullable=False),
    sa.Column('start_time', sa.Time(), nullable=False),
    sa.Column('end_time', sa.Time(), nullable=False),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_schedule_windows_schedule_id_schedules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_windows'))
    )
    with op.batch_alter_table('schedule_windows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_schedule_windows_schedule_id'), ['schedule_id'], unique=False)


def _create_tasks() -> None:
    op.create_table('tasks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_number', sa.String(length=32), nullable=False),
    sa.Column('rule_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('rule_name', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempt_no', sa.Integer(), server_default='1', nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(status = 'done') = (end_reason IS NOT NULL)", name=op.f('ck_tasks_end_reason')),
    sa.CheckConstraint("status IN ('pending', 'active', 'done')", name=op.f('ck_tasks_status')),
    sa.ForeignKeyConstraint(['rule_id'], ['rules.id'], name=op.f('fk_tasks_rule_id_rules'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_due', ['due_at', 'id'], unique=False, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.create_index('ix_tasks_lease', ['lease_expires_at'], unique=False, postgresql_where=sa.text('lease_owner IS NOT NULL'), sqlite_where=sa.text('lease_owner IS NOT NULL'))
        batch_op.create_index('ix_tasks_rule_status', ['rule_id', 'status'], unique=False)
        batch_op.create_index('uq_tasks_open_customer', ['customer_number'], unique=True, postgresql_where=sa.text("status <> 'done'"), sqlite_where=sa.text("status <> 'done'"))


def _create_attempts() -> None:
    op.create_table('attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('attempt_no', sa.Integer(), nullable=False),
    sa.Column('customer_number', sa.String(length=32), nullable=False),
    sa.Column('worker', sa.String(length=100), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=True),
    sa.Column('detail', sa.Text(), server_default='', nullable=False),
    sa.Column('employee', sa.String(length=100), nullable=True),
    sa.Column('call_uuids', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_attempts_task_id_tasks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attempts'))
    )
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attempts_task_id'), ['task_id'], unique=False)
        batch_op.create_index('uq_attempts_in_flight', ['customer_number'], unique=True, postgresql_where=sa.text('ended_at IS NULL'), sqlite_where=sa.text('ended_at IS NULL'))


def _create_lost_calls() -> None:
    op.create_table('lost_calls',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('call_uuid', sa.String(length=64), nullable=False),
    sa.Column('customer_number', sa.String(length=200), nullable=False),
    sa.Column('lost_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('waited_s', sa.Float(), nullable=False),
    sa.Column('place', sa.String(length=16), nullable=False),
    sa.Column('node', sa.String(length=100), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('skip_reason', sa.String(length=40), nullable=True),
    sa.Column('rule_name', sa.String(length=100), nullable=True),
    sa.Column('task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_lost_calls_task_id_tasks'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lost_calls')),
    sa.UniqueConstraint('call_uuid', name=op.f('uq_lost_calls_call_uuid'))
    )
    with op.batch_alter_table('lost_calls', schema=None) as batch_op:
        batch_op.create_index('ix_lost_calls_customer_number_lost_at', ['customer_number', 'lost_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lost_calls_task_id'), ['task_id'], unique=False)


def _create_rule_slots() -> None:
    op.create_table('rule_slots',
    sa.Column('rule_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('slot', sa.SmallInteger(), nullable=False),
    sa.Column('task_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('attempt_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['attempt_id'], ['attempts.id'], name=op.f('fk_rule_slots_attempt_id_attempts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['rule_id'], ['rules.id'], name=op.f('fk_rule_slots_rule_id_rules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('rule_id', 'slot', name=op.f('pk_rule_slots')),
    sa.UniqueConstraint('attempt_id', name=op.f('uq_rule_slots_attempt_id'))
    )


def upgrade() -> None:
    # Referenced tables first: the order the foreign keys need.
    _create_blacklist()
    _create_campaigns()
    _create_contacts()
    _create_employee_groups()
    _create_employees()
    _create_rules()
    _create_scenarios()
    _create_schedules()
    _create_settings()
    _create_sites()
    _create_virtual_numbers()
    _create_employee_endpoints()
    _create_group_members()
    _create_schedule_exceptions()
    _create_schedule_windows()
    _create_tasks()
    _create_attempts()
    _create_lost_calls()
    _create_rule_slots()
    # The master switch row (R16): on by default.
    op.execute(sa.text("INSERT INTO settings (id, enabled) VALUES (1, true)"))


def downgrade() -> None:
    op.drop_table('rule_slots')
    with op.batch_alter_table('lost_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lost_calls_task_id'))
        batch_op.drop_index('ix_lost_calls_customer_number_lost_at')

    op.drop_table('lost_calls')
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_index('uq_attempts_in_flight', postgresql_where=sa.text('ended_at IS NULL'), sqlite_where=sa.text('ended_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_attempts_task_id'))

    op.drop_table('attempts')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('uq_tasks_open_customer', postgresql_where=sa.text("status <> 'done'"), sqlite_where=sa.text("status <> 'done'"))
        batch_op.drop_index('ix_tasks_rule_status')
        batch_op.drop_index('ix_tasks_lease', postgresql_where=sa.text('lease_owner IS NOT NULL'), sqlite_where=sa.text('lease_owner IS NOT NULL'))
        batch_op.drop_index('ix_tasks_due', postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))

    op.drop_table('tasks')
    with op.batch_alter_table('schedule_windows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_schedule_windows_schedule_id'))

    op.drop_table('schedule_windows')
    op.drop_table('schedule_exceptions')
    op.drop_table('group_members')
    op.drop_table('employee_endpoints')
    op.drop_table('virtual_numbers')
    op.drop_table('sites')
    op.drop_table('settings')
    op.drop_table('schedules')
    op.drop_table('scenarios')
    with op.batch_alter_table('rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rules_position'))

    op.drop_table('rules')
    op.drop_table('employees')
    op.drop_table('employee_groups')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contacts_customer_number'))

    op.drop_table('contacts')
    op.drop_table('campaigns')
    op.drop_table('blacklist')
