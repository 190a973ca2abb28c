"""The configuration repository: CRUD for every entity, blacklist, master switch and
whole-catalog load / import. Rule ordering and deletion live in ``repo_rules``.

Rules: entities are addressed by name (rules refer to them by name). A reference to an
entity that does not exist is refused with a ValidationError naming the field; deleting
an entity that a rule (or a group / campaign) uses is refused with EntityInUseError
naming them (R13). Blacklisting a number cancels its open tasks (R18); the master
switch is one row the claim statement reads (R16).
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from fsworker.core.catalog import Catalog
from fsworker.core.model import (
    BlacklistEntry,
    Campaign,
    Employee,
    Group,
    Scenario,
    Schedule,
    Settings,
    Site,
    TargetKind,
    TimeWindow,
    VirtualNumber,
    WeeklyWindow,
)
from fsworker.core.outcomes import TaskEndReason
from fsworker.store import tables as t
from fsworker.store.base import aware
from fsworker.store.codec import exception_from_row, windows_to_json
from fsworker.store.errors import AlreadyExistsError, EntityInUseError, NotFoundError
from fsworker.store.repo_rules import (
    ENTITY_TABLES,
    RuleOps,
    cancel_open_tasks,
    check_reference,
)

log = logging.getLogger(__name__)

#: (config_version, master switch on): what CatalogCache compares before re-reading
ConfigVersion = tuple[int, bool]

Entity = Employee | Group | Campaign | Scenario | VirtualNumber | Site | Schedule


class EntityKind(enum.StrEnum):
    """Entity kinds, as ``Rule.uses()`` names them."""

    EMPLOYEE = "employee"
    GROUP = "group"
    CAMPAIGN = "campaign"
    SCENARIO = "scenario"
    VIRTUAL_NUMBER = "virtual_number"
    SITE = "site"
    SCHEDULE = "schedule"


_TABLE: dict[str, tuple[Table, str]] = ENTITY_TABLES
_KIND_OF: dict[type, EntityKind] = {
    Employee: EntityKind.EMPLOYEE,
    Group: EntityKind.GROUP,
    Campaign: EntityKind.CAMPAIGN,
    Scenario: EntityKind.SCENARIO,
    VirtualNumber: EntityKind.VIRTUAL_NUMBER,
    Site: EntityKind.SITE,
    Schedule: EntityKind.SCHEDULE,
}


def kind_of(entity: Entity) -> EntityKind:
    return _KIND_OF[type(entity)]


def key_of(entity: Entity) -> str:
    return entity.number if isinstance(entity, VirtualNumber) else entity.name


class Repository(RuleOps):
    """CRUD over the configuration. Construct with an Engine or a database URL."""

    # ---- entities ---------------------------------------------------------------
    def add(self, entity: Entity) -> None:
        """Insert a new entity; AlreadyExistsError if its name is taken."""
        with self._tx() as conn:
            self._insert_entity(conn, entity)
        log.info("added %s %r", kind_of(entity).value, key_of(entity))

    def update(self, entity: Entity) -> None:
        """Replace the entity with this name (NotFoundError if there is none)."""
        kind = kind_of(entity)
        with self._tx() as conn:
            row_id = self._id_of(conn, kind, key_of(entity))
            self._check_entity_refs(conn, entity)
            self._write_entity(conn, row_id, entity)
        log.info("updated %s %r", kind.value, key_of(entity))

    def delete(self, kind: EntityKind | str, name: str) -> None:
        """Delete an entity; EntityInUseError (R13) if a rule, group or campaign uses it."""
        kind = EntityKind(kind)
        with self._tx() as conn:
            row_id = self._id_of(conn, kind, name)
            rules, others = self._users_of(conn, kind, name)
            if rules or others:
                raise EntityInUseError(kind.value, name, rules, others)
            table, _ = _TABLE[kind]
            conn.execute(delete(table).where(table.c.id == row_id))
        log.info("deleted %s %r", kind.value, name)

    def get(self, kind: EntityKind | str, name: str) -> Entity:
        kind = EntityKind(kind)
        with self._tx() as conn:
            row_id = self._id_of(conn, kind, name)
            return self._read_entities(conn, kind, row_id)[0]

    def list(self, kind: EntityKind | str) -> list[Entity]:
        with self._tx() as conn:
            return self._read_entities(conn, EntityKind(kind))

    def exists(self, kind: EntityKind | str, name: str) -> bool:
        table, col = _TABLE[EntityKind(kind)]
        with self._tx() as conn:
            return conn.execute(select(table.c.id).where(table.c[col] == name)).first() is not None

    # ---- blacklist (R18) ------------------------------------------------------------
    def add_blacklist(self, entry: BlacklistEntry, *, now: datetime | None = None) -> list[int]:
        """Blacklist a number and cancel its open tasks; returns the cancelled task ids."""
        now = aware(now)
        with self._tx() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(insert(t.blacklist).values(number=entry.number, reason=entry.reason, created_at=now))
            except IntegrityError:
                raise AlreadyExistsError("blacklist", entry.number) from None
            cancelled = cancel_open_tasks(
                conn, t.tasks.c.customer_number == entry.number, TaskEndReason.CANCELLED_BLACKLISTED, now
            )
        log.info("blacklisted %s, cancelled tasks %s", entry.number, cancelled)
        return cancelled

    def remove_blacklist(self, number: str) -> bool:
        with self._tx() as conn:
            return conn.execute(delete(t.blacklist).where(t.blacklist.c.number == number)).rowcount > 0

    def is_blacklisted(self, number: str) -> bool:
        with self._tx() as conn:
            return conn.execute(select(t.blacklist.c.id).where(t.blacklist.c.number == number)).first() is not None

    def list_blacklist(self) -> list[BlacklistEntry]:
        with self._tx() as conn:
            rows = conn.execute(select(t.blacklist).order_by(t.blacklist.c.number)).mappings()
            return [BlacklistEntry(number=r["number"], reason=r["reason"]) for r in rows]

    # ---- master switch (R16) --------------------------------------------------------
    def master_switch(self) -> bool:
        with self._tx() as conn:
            return _master_switch(conn)

    def set_master_switch(self, enabled: bool, *, now: datetime | None = None) -> None:
        with self._tx() as conn:
            _set_master_switch(conn, enabled, aware(now))
        log.warning("master switch turned %s", "on" if enabled else "off")

    # ---- whole catalog --------------------------------------------------------------
    def config_version(self) -> ConfigVersion:
        """Changes whenever anything ``load_catalog`` reads is written (migration 0008's
        triggers) or the master switch is flipped: one small query, for "changed since?"."""
        with self._tx() as conn:
            return _config_version(conn)

    def load_catalog_versioned(self) -> tuple[ConfigVersion, Catalog]:
        """``load_catalog`` and the version it is at least as new as (read first: a
        change committed meanwhile shows as a newer version next time, never the reverse)."""
        with self._tx() as conn:
            version = _config_version(conn)
            return version, self._catalog(conn)

    def load_catalog(self) -> Catalog:
        """One consistent snapshot of the whole configuration."""
        with self._tx() as conn:
            return self._catalog(conn)

    def _catalog(self, conn: Connection) -> Catalog:
        return Catalog(
            employees=tuple(self._read_entities(conn, EntityKind.EMPLOYEE)),
            groups=tuple(self._read_entities(conn, EntityKind.GROUP)),
            campaigns=tuple(self._read_entities(conn, EntityKind.CAMPAIGN)),
            scenarios=tuple(self._read_entities(conn, EntityKind.SCENARIO)),
            virtual_numbers=tuple(self._read_entities(conn, EntityKind.VIRTUAL_NUMBER)),
            sites=tuple(self._read_entities(conn, EntityKind.SITE)),
            schedules=tuple(self._read_entities(conn, EntityKind.SCHEDULE)),
            blacklist=tuple(
                BlacklistEntry(number=r["number"], reason=r["reason"])
                for r in conn.execute(select(t.blacklist).order_by(t.blacklist.c.number)).mappings()
            ),
            rules=tuple(self._read_rules(conn)),
            settings=Settings(enabled=_master_switch(conn)),
        )

    def replace_catalog(self, catalog: Catalog, *, now: datetime | None = None) -> list[int]:
        """Import: make the stored configuration equal ``catalog``, in one transaction.

        Rules are matched by name, so tasks of a kept rule stay attached to it; rules
        that disappear are deleted and their tasks cancelled (R15). Returns those ids."""
        now = aware(now)
        with self._tx() as conn:
            keep = {r.name for r in catalog.rules}
            gone = [
                (row.id, row.name)
                for row in conn.execute(select(t.rules.c.id, t.rules.c.name))
                if row.name not in keep
            ]
            cancelled: list[int] = []
            for rule_id, name in gone:
                cancelled += self._delete_rule_row(conn, rule_id, name, now)
            # Rules refer to entities by name only, so the entities can be rebuilt
            # under them; reference checks run again as the rules are written back.
            for tbl in (t.group_members, t.employee_groups, t.campaigns, t.employee_endpoints, t.employees,
                        t.scenarios, t.virtual_numbers, t.sites, t.schedules, t.blacklist):
                conn.execute(delete(tbl))
            for entity in (*catalog.employees, *catalog.groups, *catalog.scenarios, *catalog.campaigns,
                           *catalog.virtual_numbers, *catalog.sites, *catalog.schedules):
                self._insert_entity(conn, entity)
            for entry in catalog.blacklist:
                conn.execute(insert(t.blacklist).values(number=entry.number, reason=entry.reason, created_at=now))
            self._write_rules(conn, catalog.ordered_rules(), now)
            _set_master_switch(conn, catalog.settings.enabled, now)
            if catalog.blacklist:
                cancelled += cancel_open_tasks(
                    conn,
                    t.tasks.c.customer_number.in_([b.number for b in catalog.blacklist]),
                    TaskEndReason.CANCELLED_BLACKLISTED,
                    now,
                )
        log.info("catalog imported: %d rules, cancelled tasks %s", len(catalog.rules), cancelled)
        return cancelled

    # ---- internals --------------------------------------------------------------------
    def _id_of(self, conn: Connection, kind: EntityKind, name: str) -> int:
        table, col = _TABLE[kind]
        row = conn.execute(select(table.c.id).where(table.c[col] == name)).first()
        if row is None:
            raise NotFoundError(kind.value, name)
        return int(row.id)

    def _insert_entity(self, conn: Connection, entity: Entity) -> None:
        kind = kind_of(entity)
        table, _ = _TABLE[kind]
        self._check_entity_refs(conn, entity)
        try:
            with conn.begin_nested():
                row_id = conn.execute(insert(table).values(self._columns(entity)).returning(table.c.id)).scalar_one()
        except IntegrityError:
            raise AlreadyExistsError(kind.value, key_of(entity)) from None
        self._write_children(conn, row_id, entity)

    def _write_entity(self, conn: Connection, row_id: int, entity: Entity) -> None:
        table, _ = _TABLE[kind_of(entity)]
        cols = self._columns(entity)
        if cols:
            conn.execute(update(table).where(table.c.id == row_id).values(cols))
        self._write_children(conn, row_id, entity)

    @staticmethod
    def _columns(entity: Entity) -> dict[str, Any]:
        if isinstance(entity, Employee):
            return {"name": entity.name}
        if isinstance(entity, Group):
            return {"name": entity.name, "max_lines": entity.max_lines}
        if isinstance(entity, Campaign):
            return {"name": entity.name, "target_kind": entity.target_kind.value, "target": entity.target}
        if isinstance(entity, Scenario):
            return {"name": entity.name, "extension": entity.extension, "context": entity.context}
        if isinstance(entity, VirtualNumber):
            return {"number": entity.number, "description": entity.description}
        if isinstance(entity, Schedule):
            return {"name": entity.name, "timezone": entity.timezone}
        return {"name": entity.name}

    def _write_children(self, conn: Connection, row_id: int, entity: Entity) -> None:
        if isinstance(entity, Employee):
            conn.execute(delete(t.employee_endpoints).where(t.employee_endpoints.c.employee_id == row_id))
            conn.execute(insert(t.employee_endpoints), [
                {"employee_id": row_id, "position": i, "endpoint": ep} for i, ep in enumerate(entity.endpoints)
            ])
        elif isinstance(entity, Group):
            conn.execute(delete(t.group_members).where(t.group_members.c.group_id == row_id))
            ids = {r.name: r.id for r in conn.execute(
                select(t.employees.c.id, t.employees.c.name).where(t.employees.c.name.in_(entity.members)))}
            conn.execute(insert(t.group_members), [
                {"group_id": row_id, "position": i, "employee_id": ids[m]} for i, m in enumerate(entity.members)
            ])
        elif isinstance(entity, Schedule):
            conn.execute(delete(t.schedule_windows).where(t.schedule_windows.c.schedule_id == row_id))
            conn.execute(delete(t.schedule_exceptions).where(t.schedule_exceptions.c.schedule_id == row_id))
            if entity.windows:
                conn.execute(insert(t.schedule_windows), [
                    {"schedule_id": row_id, "day": w.day, "start_time": w.window.start, "end_time": w.window.end}
                    for w in entity.windows
                ])
            if entity.exceptions:
                conn.execute(insert(t.schedule_exceptions), [
                    {"schedule_id": row_id, "day": e.day, "windows": windows_to_json(e.windows)}
                    for e in entity.exceptions
                ])

    def _check_entity_refs(self, conn: Connection, entity: Entity) -> None:
        if isinstance(entity, Group):
            for m in entity.members:
                check_reference(conn, "employee", m, "group.members")
        elif isinstance(entity, Campaign) and entity.target_kind is not TargetKind.NUMBER:
            check_reference(conn, entity.target_kind.value, entity.target, "campaign.target")

    def _users_of(self, conn: Connection, kind: EntityKind, name: str) -> tuple[list[str], list[str]]:
        rules = [r.name for r in self._read_rules(conn) if (kind.value, name) in r.uses()]
        others: list[str] = []
        if kind is EntityKind.EMPLOYEE:
            others += [f"group {g!r}" for g in conn.execute(
                select(t.employee_groups.c.name)
                .join(t.group_members, t.group_members.c.group_id == t.employee_groups.c.id)
                .join(t.employees, t.employees.c.id == t.group_members.c.employee_id)
                .where(t.employees.c.name == name).order_by(t.employee_groups.c.name)).scalars()]
        if kind in (EntityKind.EMPLOYEE, EntityKind.GROUP, EntityKind.SCENARIO):
            others += [f"campaign {c!r}" for c in conn.execute(
                select(t.campaigns.c.name).where(t.campaigns.c.target_kind == kind.value, t.campaigns.c.target == name)
                .order_by(t.campaigns.c.name)).scalars()]
        return rules, others

    def _read_entities(self, conn: Connection, kind: EntityKind, row_id: int | None = None) -> list[Any]:
        table, col = _TABLE[kind]
        q = select(table).order_by(table.c[col])
        if row_id is not None:
            q = q.where(table.c.id == row_id)
        rows = list(conn.execute(q).mappings())
        ids = [r["id"] for r in rows]
        if kind is EntityKind.EMPLOYEE:
            eps: dict[int, list[str]] = {}
            for r in conn.execute(select(t.employee_endpoints).where(t.employee_endpoints.c.employee_id.in_(ids))
                                  .order_by(t.employee_endpoints.c.position)):
                eps.setdefault(r.employee_id, []).append(r.endpoint)
            return [Employee(name=r["name"], endpoints=tuple(eps.get(r["id"], ()))) for r in rows]
        if kind is EntityKind.GROUP:
            members: dict[int, list[str]] = {}
            for r in conn.execute(select(t.group_members.c.group_id, t.employees.c.name).join(t.employees)
                                  .where(t.group_members.c.group_id.in_(ids)).order_by(t.group_members.c.position)):
                members.setdefault(r.group_id, []).append(r.name)
            return [Group(name=r["name"], members=tuple(members.get(r["id"], ())), max_lines=r["max_lines"])
                    for r in rows]
        if kind is EntityKind.CAMPAIGN:
            return [Campaign(name=r["name"], target_kind=TargetKind(r["target_kind"]), target=r["target"]) for r in rows]
        if kind is EntityKind.SCENARIO:
            return [Scenario(name=r["name"], extension=r["extension"], context=r["context"]) for r in rows]
        if kind is EntityKind.VIRTUAL_NUMBER:
            return [VirtualNumber(number=r["number"], description=r["description"]) for r in rows]
        if kind is EntityKind.SITE:
            return [Site(name=r["name"]) for r in rows]
        windows: dict[int, list[WeeklyWindow]] = {}
        for r in conn.execute(select(t.schedule_windows).where(t.schedule_windows.c.schedule_id.in_(ids))
                              .order_by(t.schedule_windows.c.day, t.schedule_windows.c.start_time)):
            windows.setdefault(r.schedule_id, []).append(
                WeeklyWindow(day=r.day, window=TimeWindow(start=r.start_time, end=r.end_time)))
        exceptions: dict[int, list[Any]] = {}
        for r in conn.execute(select(t.schedule_exceptions).where(t.schedule_exceptions.c.schedule_id.in_(ids))
                              .order_by(t.schedule_exceptions.c.day)):
            exceptions.setdefault(r.schedule_id, []).append(exception_from_row(r.day, r.windows))
        return [Schedule(name=r["name"], timezone=r["timezone"], windows=tuple(windows.get(r["id"], ())),
                         exceptions=tuple(exceptions.get(r["id"], ()))) for r in rows]


def _config_version(conn: Connection) -> ConfigVersion:
    row = conn.execute(select(t.settings.c.config_version, t.settings.c.enabled).where(t.settings.c.id == 1)).first()
    return (0, True) if row is None else (int(row.config_version), bool(row.enabled))


def _master_switch(conn: Connection) -> bool:
    row = conn.execute(select(t.settings.c.enabled).where(t.settings.c.id == 1)).first()
    return True if row is None else bool(row.enabled)  # no row = the default: on


def _set_master_switch(conn: Connection, enabled: bool, now: datetime) -> None:
    if conn.execute(update(t.settings).where(t.settings.c.id == 1).values(enabled=enabled, updated_at=now)).rowcount == 0:
        conn.execute(insert(t.settings).values(id=1, enabled=enabled, updated_at=now))
