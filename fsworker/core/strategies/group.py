"""R5b group: ring an employee group's members, at most ``max_lines`` at once.

Rules: a "line" is one member (all of that employee's endpoints ring together, since
they are one person). Members are taken in the group's order: if the group has at most
``max_lines`` members they all ring in one step; otherwise successive steps of
``max_lines`` members each (1-3, then 4-6, ...). A member missing from the catalog is
skipped with a warning (R13 normally prevents it); a group with nobody left is a
``TargetNotFoundError``. Pure.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fsworker.core.model import Employee, Group, StrategyKind
from fsworker.core.strategies.base import (
    DialPlan,
    DialSettings,
    DialStep,
    Strategy,
    TargetNotFoundError,
    dedupe,
    employee_endpoints,
    lookup,
)

if TYPE_CHECKING:
    from fsworker.core.calls import LostCall
    from fsworker.core.catalog import Catalog
    from fsworker.core.model import Rule

log = logging.getLogger(__name__)


def group_steps(group_name: object, catalog: Catalog, settings: DialSettings, *, call_uuid: str,
                field: str = "rule.target") -> list[DialStep]:
    group = lookup(catalog.group_by_name, group_name, field, "group")
    assert isinstance(group, Group)
    members: list[Employee] = []
    for name in group.members:
        emp = catalog.employee_by_name.get(name)
        if emp is None:
            log.warning("call %s: group %s: member %r is not in the catalog, skipped", call_uuid, group.name, name)
            continue
        members.append(emp)
    if not members:
        raise TargetNotFoundError(field, group.name, "the group has no members in the catalog")
    chunks = [members[i : i + group.max_lines] for i in range(0, len(members), group.max_lines)]
    return [
        DialStep(
            endpoints=dedupe(ep for emp in chunk for ep in employee_endpoints(emp)),
            ring_timeout_s=settings.default_ring_timeout_s,
            label=f"group {group.name} {n}/{len(chunks)}",
        )
        for n, chunk in enumerate(chunks, 1)
    ]


class GroupStrategy(Strategy):
    kind = StrategyKind.GROUP.value

    def plan(self, *, rule: Rule, catalog: Catalog, call: LostCall, attempt: int,
             settings: DialSettings) -> DialPlan:
        return DialPlan(steps=tuple(group_steps(rule.target, catalog, settings, call_uuid=call.call_uuid)),
                        strategy=self.kind)
