"""Repository on SQLite and PostgreSQL: CRUD, R11, R13, R14, R15, R16, R18, catalog."""

from __future__ import annotations

from datetime import date, time

import pytest

from fsworker.core.calls import LossPlace
from fsworker.core.catalog import Catalog
from fsworker.core.errors import ValidationError
from fsworker.core.model import (
    BlacklistEntry,
    Campaign,
    Employee,
    Group,
    Hint,
    HintKind,
    Scenario,
    Schedule,
    ScheduleException,
    Settings,
    Site,
    StrategyKind,
    TargetKind,
    TimeWindow,
    VirtualNumber,
    WeeklyWindow,
)
from fsworker.core.outcomes import TaskEndReason, TaskStatus
from fsworker.store.errors import AlreadyExistsError, EntityInUseError, NotFoundError
from fsworker.store.queue import TaskQueue
from fsworker.store.repo import EntityKind, Repository
from tests.integration.conftest import T0
from tests.integration.helpers import lost_call, rule, seed_people

WORKDAYS = Schedule(
    name="workdays",
    timezone="Europe/Moscow",
    windows=tuple(WeeklyWindow(day=d, window=TimeWindow(start=time(9), end=time(18))) for d in range(5)),
    exceptions=(
        ScheduleException(day=date(2026, 12, 31)),
        ScheduleException(day=date(2027, 1, 9), windows=(TimeWindow(start=time(10), end=time(14)),)),
    ),
)


def test_entities_round_trip(repo: Repository) -> None:
    seed_people(repo)
    entities = [
        Campaign(name="autumn", target_kind=TargetKind.GROUP, target="sales"),
        Scenario(name="ivr-main", extension="5000", context="public"),
        VirtualNumber(number="+74950000000", description="main line"),
        Site(name="shop.example.com"),
        WORKDAYS,
    ]
    for e in entities:
        repo.add(e)
    assert repo.get("employee", "bob") == Employee(name="bob", endpoints=("user/102", "sofia/gateway/gw/79160000002"))
    assert repo.get(EntityKind.GROUP, "sales") == Group(name="sales", members=("alice", "bob"), max_lines=2)
    for e in entities:
        key = e.number if isinstance(e, VirtualNumber) else e.name
        kind = {Campaign: "campaign", Scenario: "scenario", VirtualNumber: "virtual_number",
                Site: "site", Schedule: "schedule"}[type(e)]
        assert repo.get(kind, key) == e
    assert [e.name for e in repo.list("employee")] == ["alice", "bob"]


def test_update_and_duplicates(repo: Repository) -> None:
    seed_people(repo)
    repo.update(Group(name="sales", members=("bob", "alice"), max_lines=1))
    assert repo.get("group", "sales").members == ("bob", "alice")
    repo.update(Employee(name="alice", endpoints=("user/201",)))
    assert repo.get("employee", "alice").endpoints == ("user/201",)
    with pytest.raises(AlreadyExistsError) as err:
        repo.add(Employee(name="alice", endpoints=("user/301",)))
    assert err.value.field == "employee.name" and err.value.value == "alice"
    with pytest.raises(NotFoundError):
        repo.update(Site(name="nowhere.example"))
    with pytest.raises(ValidationError) as err2:
        repo.add(Group(name="support", members=("carol",)))
    assert err2.value.field == "group.members" and err2.value.value == "carol"


def test_rule_references_must_exist(repo: Repository) -> None:
    with pytest.raises(ValidationError) as err:
        repo.add_rule(rule("r", strategy=StrategyKind.GROUP, target="ghosts"))
    assert err.value.field == "rule.target" and err.value.value == "ghosts"
    with pytest.raises(ValidationError) as err:
        repo.add_rule(rule("r", callback_schedule="nights"))
    assert err.value.field == "rule.callback_schedule"
    assert repo.list_rules() == []


def test_rule_round_trip_keeps_every_field(repo: Repository) -> None:
    seed_people(repo)
    repo.add(WORKDAYS)
    repo.add(VirtualNumber(number="+74950000000"))
    r = rule("office", place=LossPlace.NUMBER, place_value="+74950000000", strategy=StrategyKind.GROUP,
             target="sales", hint=Hint(kind=HintKind.TEXT, text="Перезвон: {{ site }}"),
             callback_schedule="workdays", applies_schedule="workdays", intervals=(0, 60, 600),
             min_wait_s=5, max_concurrent=3, enabled=False)
    repo.add_rule(r)
    assert repo.get_rule("office") == r.evolve(position=0)


def test_r11_rules_ordered_and_moved(repo: Repository) -> None:
    for n in ("a", "b", "c", "d"):
        repo.add_rule(rule(n))
    assert [r.name for r in repo.list_rules()] == ["a", "b", "c", "d"]
    assert repo.move_rule_up("c") == ["a", "c", "b", "d"]
    assert repo.move_rule_down("a") == ["c", "a", "b", "d"]
    assert repo.move_rule_up("c") == ["c", "a", "b", "d"]  # already first: stays
    assert repo.move_rule_to("d", 0) == ["d", "c", "a", "b"]
    repo.add_rule(rule("e"), at=1)
    rules = repo.list_rules()
    assert [r.name for r in rules] == ["d", "e", "c", "a", "b"]
    assert [r.position for r in rules] == [0, 1, 2, 3, 4]
    assert [r.name for r in repo.load_catalog().ordered_rules()] == ["d", "e", "c", "a", "b"]
    repo.delete_rule("e")
    assert [r.position for r in repo.list_rules()] == [0, 1, 2, 3]


def test_r3_many_rules(repo: Repository) -> None:
    for i in range(120):
        repo.add_rule(rule(f"rule-{i:03d}"))
    assert repo.rule_count() == 120
    assert repo.list_rules()[-1].name == "rule-119"


def test_r13_delete_used_entity_refused_naming_rules(repo: Repository) -> None:
    seed_people(repo)
    repo.add(Scenario(name="ivr-main", extension="5000"))
    repo.add(Site(name="shop.example.com"))
    repo.add(VirtualNumber(number="+74950000000"))
    repo.add(WORKDAYS)
    repo.add_rule(rule("by-group", strategy=StrategyKind.GROUP, target="sales"))
    repo.add_rule(rule("by-group-2", strategy=StrategyKind.GROUP, target="sales", callback_schedule="workdays"))
    repo.add_rule(rule("by-site", place=LossPlace.SITE, place_value="shop.example.com"))
    repo.add_rule(rule("by-number", place=LossPlace.NUMBER, place_value="+74950000000",
                       strategy=StrategyKind.SCENARIO, target="ivr-main"))
    cases = [
        ("group", "sales", ("by-group", "by-group-2")),
        ("schedule", "workdays", ("by-group-2",)),
        ("site", "shop.example.com", ("by-site",)),
        ("virtual_number", "+74950000000", ("by-number",)),
        ("scenario", "ivr-main", ("by-number",)),
    ]
    for kind, name, rules in cases:
        with pytest.raises(EntityInUseError) as err:
            repo.delete(kind, name)
        assert err.value.rules == rules
        for r in rules:
            assert repr(r) in str(err.value)
        assert repo.exists(kind, name)
    # An employee in a group is refused too, naming the group.
    with pytest.raises(EntityInUseError) as err:
        repo.delete("employee", "alice")
    assert "group 'sales'" in str(err.value)
    # Once unused, deletion works.
    repo.delete_rule("by-site")
    repo.delete("site", "shop.example.com")
    assert not repo.exists("site", "shop.example.com")


def test_r16_master_switch(repo: Repository) -> None:
    assert repo.master_switch() is True
    repo.set_master_switch(False)
    assert repo.master_switch() is False
    assert repo.load_catalog().settings == Settings(enabled=False)
    repo.set_master_switch(True)
    assert repo.master_switch() is True


def test_r18_blacklist_add_remove_cancels_open_task(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r"))
    queue.record_lost_call(lost_call("c1", "+79160000009"))
    task_id = queue.create_task(customer_number="+79160000009", rule_name="r", due_at=T0, lost_call_uuid="c1")
    cancelled = repo.add_blacklist(BlacklistEntry(number="+79160000009", reason="spam"))
    assert cancelled == [task_id]
    view = queue.get_task(task_id)
    assert view.status is TaskStatus.DONE and view.end_reason is TaskEndReason.CANCELLED_BLACKLISTED
    assert repo.is_blacklisted("+79160000009")
    assert repo.list_blacklist() == [BlacklistEntry(number="+79160000009", reason="spam")]
    with pytest.raises(AlreadyExistsError):
        repo.add_blacklist(BlacklistEntry(number="+79160000009"))
    assert repo.remove_blacklist("+79160000009") is True
    assert repo.remove_blacklist("+79160000009") is False
    assert not repo.is_blacklisted("+79160000009")


def test_r14_disable_rule_keeps_processing_its_tasks(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("r"))
    task_id = queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0)
    repo.set_rule_enabled("r", False)
    assert repo.get_rule("r").enabled is False
    assert [c.task_id for c in queue.claim_due("w1", now=T0)] == [task_id]
    repo.set_rule_enabled("r", True)
    assert repo.get_rule("r").enabled is True
    with pytest.raises(NotFoundError):
        repo.set_rule_enabled("nope", True)


def test_r15_delete_rule_cancels_its_tasks_only(repo: Repository, queue: TaskQueue) -> None:
    repo.add_rule(rule("doomed"))
    repo.add_rule(rule("kept"))
    t1 = queue.create_task(customer_number="+79160000001", rule_name="doomed", due_at=T0)
    t2 = queue.create_task(customer_number="+79160000002", rule_name="doomed", due_at=T0)
    t3 = queue.create_task(customer_number="+79160000003", rule_name="kept", due_at=T0)
    assert sorted(repo.delete_rule("doomed")) == sorted([t1, t2])
    for tid in (t1, t2):
        v = queue.get_task(tid)
        assert v.status is TaskStatus.DONE and v.end_reason is TaskEndReason.CANCELLED_RULE_DELETED
        assert v.rule_name == "doomed"
    assert queue.get_task(t3).status is TaskStatus.PENDING
    assert [c.task_id for c in queue.claim_due("w", now=T0)] == [t3]
    with pytest.raises(NotFoundError):
        repo.get_rule("doomed")


def test_catalog_replace_and_load(repo: Repository, queue: TaskQueue) -> None:
    seed_people(repo)
    repo.add_rule(rule("old"))
    repo.add_rule(rule("stays"))
    t_old = queue.create_task(customer_number="+79160000001", rule_name="old", due_at=T0)
    t_stays = queue.create_task(customer_number="+79160000002", rule_name="stays", due_at=T0)
    catalog = Catalog(
        employees=(Employee(name="carol", endpoints=("user/103",)),),
        groups=(Group(name="support", members=("carol",)),),
        campaigns=(Campaign(name="spring", target_kind=TargetKind.EMPLOYEE, target="carol"),),
        scenarios=(Scenario(name="ivr", extension="6000"),),
        virtual_numbers=(VirtualNumber(number="+74950000001"),),
        sites=(Site(name="a.example"),),
        schedules=(WORKDAYS,),
        blacklist=(BlacklistEntry(number="+70000000000"),),
        rules=(
            rule("new", strategy=StrategyKind.GROUP, target="support", position=0),
            rule("stays", intervals=(0, 120), position=1),
        ),
        settings=Settings(enabled=False),
    )
    assert repo.replace_catalog(catalog) == [t_old]
    loaded = repo.load_catalog()
    assert loaded.employees == catalog.employees
    assert loaded.groups == catalog.groups
    assert loaded.campaigns == catalog.campaigns
    assert loaded.schedules == catalog.schedules
    assert loaded.blacklist == catalog.blacklist
    assert loaded.rules == catalog.rules
    assert loaded.settings.enabled is False
    # The kept rule's task is still attached to it and open.
    assert queue.get_task(t_stays).status is TaskStatus.PENDING
    assert queue.get_task(t_old).end_reason is TaskEndReason.CANCELLED_RULE_DELETED


def test_the_config_version_moves_with_every_configuration_write_and_only_then(
        repo: Repository, queue: TaskQueue) -> None:
    from sqlalchemy import text

    from fsworker.core.outcomes import AttemptOutcome

    seen = [repo.config_version()]

    def moved() -> bool:
        seen.append(repo.config_version())
        return seen[-1] != seen[-2]

    seed_people(repo)
    assert moved()
    repo.add_rule(rule("r", max_concurrent=2))
    assert moved()
    repo.add_blacklist(BlacklistEntry(number="+79160000099", reason="spam"))
    assert moved()
    repo.remove_blacklist("+79160000099")
    assert moved()
    with repo.engine.begin() as conn:  # a hand-made change counts too: the database keeps the version
        conn.execute(text("UPDATE employee_endpoints SET endpoint = 'user/111' WHERE endpoint = 'user/101'"))
    assert moved()
    repo.set_master_switch(False)
    assert moved() and seen[-1][1] is False
    repo.set_master_switch(True)
    assert moved()
    # Calls, tasks, claims and attempts are not configuration: the version stays.
    queue.record_lost_call(lost_call("c1"))
    task = queue.create_task(customer_number="+79160000001", rule_name="r", due_at=T0, lost_call_uuid="c1")
    [claimed] = queue.claim_due("w", now=T0, lease_seconds=60)
    queue.heartbeat("w", [task], lease_seconds=60, now=T0)
    queue.finish_attempt(task, "w", outcome=AttemptOutcome.CUSTOMER_NO_ANSWER, next_due=None,
                         end_reason=TaskEndReason.ATTEMPTS_EXHAUSTED, detail="", now=T0)
    assert not moved() and claimed.task_id == task
    version, catalog = repo.load_catalog_versioned()
    assert version == seen[-1] and [r.name for r in catalog.rules] == ["r"]
