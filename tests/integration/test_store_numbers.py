"""Numbers stored in several spellings become one E.164 identity (issue 12): migration
0005 through ``fsworker db upgrade``, ``fsworker db normalize-numbers``, and the
identity the store then enforces (D1, R17, R18) — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from fsworker.cli.main import main
from fsworker.core.calls import Contact, ContactKind
from fsworker.core.model import BlacklistEntry, Campaign, Employee, StrategyKind, TargetKind, VirtualNumber
from fsworker.core.numbering import NumberPlan
from fsworker.core.outcomes import AttemptOutcome, SkipReason, TaskEndReason, TaskStatus
from fsworker.service.intake import Intake
from fsworker.store import migrate
from fsworker.store import tables as t
from fsworker.store.engine import make_engine
from fsworker.store.queue import TaskQueue
from fsworker.store.repo import Repository
from tests.integration.conftest import T0
from tests.integration.helpers import lost_call, rule

RU = NumberPlan(region="RU")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("fresh_pg_url")
    return f"sqlite:///{tmp_path / 'numbers.sqlite3'}"


@pytest.fixture()
def ru_config(tmp_path: Path) -> str:
    path = tmp_path / "fsworker.toml"
    path.write_text('[numbers]\nregion = "RU"\n', encoding="utf-8")
    return str(path)


@pytest.fixture()
def stores(empty_url: str) -> Iterator[tuple[Repository, TaskQueue]]:
    repo, queue = Repository(empty_url), TaskQueue(empty_url)
    yield repo, queue
    repo.close()
    queue.close()


def _seed_spellings(repo: Repository, queue: TaskQueue) -> dict[str, int]:
    """A revision-0004 database as fsworker before regions left it: one customer's
    number in three spellings, three open tasks for them, attempts on each."""
    repo.add(Employee(name="alice", endpoints=("user/101",)))
    repo.add(VirtualNumber(number="74950000000", description="written without +"))
    repo.add(VirtualNumber(number="+74950000000", description="written with +"))
    repo.add(Campaign(name="cpc", target_kind=TargetKind.NUMBER, target="89031112233"))
    repo.add_rule(rule("r", max_concurrent=5))
    repo.add_rule(rule("by-did", place="number", place_value="74950000000",
                       strategy=StrategyKind.NUMBER, target="89031112234"))
    repo.add_blacklist(BlacklistEntry(number="+79160000001", reason="first"))
    repo.add_blacklist(BlacklistEntry(number="89160000001", reason="second spelling"))
    repo.add_blacklist(BlacklistEntry(number="101", reason="an extension stays as it is"))
    ids = {}
    for uuid, number, minutes in (("c1", "+79160000002", 0), ("c2", "89160000002", 1), ("c3", "79160000002", 2)):
        queue.record_lost_call(lost_call(uuid, number, at=T0 + timedelta(minutes=minutes), virtual_number="84950000000"))
        ids[uuid] = queue.create_task(customer_number=number, rule_name="r", due_at=T0, lost_call_uuid=uuid)
    queue.record_lost_call(lost_call("anon", "anonymous"))
    claimed = {c.task_id for c in queue.claim_due("w1", now=T0, limit=10)}
    assert claimed == set(ids.values())  # one attempt in flight per spelling: nothing stopped them
    for uuid in ("c1", "c3"):  # these two failed once and wait; c2's attempt is still in flight
        queue.finish_attempt(ids[uuid], "w1", outcome=AttemptOutcome.CUSTOMER_NO_ANSWER, next_due=T0 + timedelta(hours=1),
                             now=T0 + timedelta(minutes=5))
    queue.record_contact(Contact(customer_number="89160000009", call_uuid="k1", at=T0, kind=ContactKind.INBOUND_ANSWERED))
    return ids


def test_db_upgrade_normalises_numbers_and_merges_one_customers_tasks(empty_url: str, ru_config: str) -> None:
    migrate.upgrade(empty_url, "0004")
    repo, queue = Repository(empty_url), TaskQueue(empty_url)
    ids = _seed_spellings(repo, queue)
    assert len([x for x in queue.list_tasks() if x.status is not TaskStatus.DONE]) == 3

    assert main(["-c", ru_config, "--db", empty_url, "db", "upgrade"]) == 0
    assert migrate.current(empty_url) == migrate.head()

    # the configuration: one blacklist entry per customer (the oldest kept), one DID
    assert [(b.number, b.reason) for b in repo.list_blacklist()] == [
        ("+79160000001", "first"), ("101", "an extension stays as it is")]
    catalog = repo.load_catalog()
    assert [v.number for v in catalog.virtual_numbers] == ["+74950000000"]
    assert catalog.campaign_by_name["cpc"].target == "+79031112233"
    by_did = catalog.rule_by_name["by-did"]
    assert (by_did.place_value, by_did.target) == ("+74950000000", "+79031112234")

    # D1: the task a worker holds goes on with every lost call; the others end merged
    keep, merged = ids["c2"], (ids["c1"], ids["c3"])
    kept = queue.get_task(keep)
    assert kept.status is TaskStatus.ACTIVE and kept.customer_number == "+79160000002"
    assert set(kept.lost_call_uuids) == {"c1", "c2", "c3"}
    for task_id in merged:
        view = queue.get_task(task_id)
        assert view.status is TaskStatus.DONE and view.end_reason is TaskEndReason.MERGED
        assert view.customer_number == "+79160000002"
        assert [a.outcome for a in view.attempts] == [AttemptOutcome.CUSTOMER_NO_ANSWER]  # attempts kept
    assert queue.open_task_for("+79160000002").task_id == keep
    # the calls as loaded again (strategies, webhooks) carry the identities too
    c1 = queue.get_lost_call("c1")
    assert (c1.customer_number, c1.virtual_number) == ("+79160000002", "+74950000000")
    assert queue.get_lost_call("anon").customer_number == "anonymous"
    assert queue.contact_since("+79160000009", T0)  # R17 under the identity

    # running it again changes nothing
    out = _cli_out(["-c", ru_config, "--db", empty_url, "db", "normalize-numbers"])
    assert "0 number(s) rewritten" in out and "0 open task(s) merged" in out

    # downgrade: values 0004 does not know are mapped, numbers stay E.164
    migrate.downgrade(empty_url, "0004")
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        reasons = conn.execute(select(t.tasks.c.end_reason).where(t.tasks.c.id.in_(merged))).scalars().all()
    engine.dispose()
    assert reasons == ["cancelled_by_operator"] * 2
    repo.close()
    queue.close()


def _cli_out(argv: list[str]) -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    return buf.getvalue()


def test_upgrade_without_region_keeps_numbers_as_written(empty_url: str, tmp_path: Path) -> None:
    migrate.upgrade(empty_url, "0004")
    repo, queue = Repository(empty_url), TaskQueue(empty_url)
    _seed_spellings(repo, queue)
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    assert main(["-c", str(empty), "--db", empty_url, "db", "upgrade"]) == 0
    assert len([x for x in queue.list_tasks() if x.status is not TaskStatus.DONE]) == 3
    assert {b.number for b in repo.list_blacklist()} == {"+79160000001", "89160000001", "101"}
    # without a region there is nothing to normalise with: refused, naming the key
    assert main(["-c", str(empty), "--db", empty_url, "db", "normalize-numbers"]) == 1
    repo.close()
    queue.close()


def test_intake_with_a_region_keeps_one_identity(db_url: str) -> None:
    """Calls arriving in three spellings join one task; a blacklisted customer in
    another spelling is skipped; a contact in another spelling cancels (R17); a
    withheld caller is recorded and skipped with its own reason."""
    repo, queue = Repository(db_url), TaskQueue(db_url)
    repo.add_rule(rule("r"))
    repo.add_blacklist(BlacklistEntry(number=RU.normalize("8 916 000-00-05")))
    intake = Intake(queue, repo.load_catalog, numbers=RU)
    first = intake.lost_call(lost_call("a1", "89160000001", virtual_number="84950000000"))
    assert first.created
    for uuid, spelling in (("a2", "79160000001"), ("a3", "+79160000001")):
        joined = intake.lost_call(lost_call(uuid, spelling, at=T0 + timedelta(minutes=1)))
        assert joined.task_id == first.task_id and not joined.created
    task = queue.get_task(first.task_id)
    assert task.customer_number == "+79160000001" and set(task.lost_call_uuids) == {"a1", "a2", "a3"}
    assert queue.get_lost_call("a1").virtual_number == "+74950000000"

    assert intake.lost_call(lost_call("b1", "79160000005")).skip is SkipReason.BLACKLISTED
    withheld = intake.lost_call(lost_call("w1", "anonymous"))
    assert withheld.skip is SkipReason.WITHHELD_NUMBER
    assert queue.get_lost_call("w1").customer_number == "anonymous"
    assert queue.lost_call_skip_reason("w1") is SkipReason.WITHHELD_NUMBER

    cancelled = intake.contact(Contact(customer_number="8 (916) 000-00-01", call_uuid="k1",
                                       at=T0 + timedelta(minutes=3), kind=ContactKind.OUTBOUND_ANSWERED))
    assert cancelled == [first.task_id]
    assert queue.get_task(first.task_id).end_reason is TaskEndReason.CANCELLED_CONTACT_MADE
    repo.close()
    queue.close()
