"""Builders shared by the store tests (and the spawned worker processes)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fsworker.core.calls import LossPlace, LostCall, RungLeg
from fsworker.core.model import Employee, Group
from fsworker.store.repo import Repository
from tests import factories
from tests.factories import rule

__all__ = ["lost_call", "minutes", "rule", "seed_people"]


def lost_call(uuid: str, number: str = "+79160000001", at: datetime | None = None, **kw: Any) -> LostCall:
    """A call lost at the store tests' T0, after ringing alice."""
    from tests.integration.conftest import T0

    base: dict[str, Any] = {
        "waited_s": 12.5, "place": LossPlace.NUMBER, "virtual_number": "+74950000000",
        "rung": (RungLeg(uuid=f"{uuid}-b", endpoint="user/101", destination="101", employee="alice", ring_group=0),),
    }
    return factories.lost_call(call_uuid=uuid, customer_number=number, lost_at=at or T0, **(base | kw))


def seed_people(repo: Repository) -> None:
    repo.add(Employee(name="alice", endpoints=("user/101",)))
    repo.add(Employee(name="bob", endpoints=("user/102", "sofia/gateway/gw/79160000002")))
    repo.add(Group(name="sales", members=("alice", "bob"), max_lines=2))


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
