"""Builders shared by the store tests (and the spawned worker processes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fsworker.core.calls import LossPlace, LostCall, RungLeg
from fsworker.core.model import Employee, Group, Rule, StrategyKind
from fsworker.store.repo import Repository


def rule(name: str, **kw: Any) -> Rule:
    kw.setdefault("strategy", StrategyKind.LAST_ATTEMPTED)
    return Rule(name=name, **kw)


def lost_call(uuid: str, number: str = "+79160000001", at: datetime | None = None, **kw: Any) -> LostCall:
    from tests.integration.conftest import T0

    return LostCall(
        call_uuid=uuid,
        customer_number=number,
        lost_at=at or T0,
        waited_s=kw.pop("waited_s", 12.5),
        place=kw.pop("place", LossPlace.NUMBER),
        virtual_number=kw.pop("virtual_number", "+74950000000"),
        rung=kw.pop("rung", (RungLeg(uuid=f"{uuid}-b", endpoint="user/101", destination="101",
                                     employee="alice", ring_group=0),)),
        **kw,
    )


def seed_people(repo: Repository) -> None:
    repo.add(Employee(name="alice", endpoints=("user/101",)))
    repo.add(Employee(name="bob", endpoints=("user/102", "sofia/gateway/gw/79160000002")))
    repo.add(Group(name="sales", members=("alice", "bob"), max_lines=2))


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
