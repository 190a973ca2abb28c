"""The catalog's numbers in their identity form (E.164 under a region).

Rules: pure. Every number an operator types into the configuration (blacklist,
virtual numbers, a rule's number place and number target, a campaign's number target)
passes through ``identify`` before it is stored or compared, so "+79161234567" typed
in the CLI and "89161234567" in an import file are one number. Errors name the
model's field (``blacklist.number``, ``rule.place_value``) so callers that prefix them
(the import file's ``blacklist[3].number``) keep pointing at the right key.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from fsworker.calls import LossPlace
from fsworker.model import STRATEGY_TARGET, BlacklistEntry, Campaign, Rule, TargetKind, VirtualNumber
from fsworker.numbers import NumberPlan

T = TypeVar("T")


def identify(item: T, plan: NumberPlan) -> T:
    """``item`` with its numbers normalised by ``plan``; itself when it has none."""
    if isinstance(item, BlacklistEntry):
        return replace(item, number=plan.normalize(item.number, "blacklist.number"))  # type: ignore[return-value]
    if isinstance(item, VirtualNumber):
        return replace(item, number=plan.normalize(item.number, "virtual_number.number"))  # type: ignore[return-value]
    if isinstance(item, Campaign) and item.target_kind is TargetKind.NUMBER:
        return replace(item, target=plan.normalize(item.target, "campaign.target"))  # type: ignore[return-value]
    if isinstance(item, Rule):
        changes = {}
        if item.place is LossPlace.NUMBER and item.place_value:
            changes["place_value"] = plan.normalize(item.place_value, "rule.place_value")
        if STRATEGY_TARGET.get(item.strategy) == "number" and item.target:
            changes["target"] = plan.normalize(item.target, "rule.target")
        return item.evolve(**changes) if changes else item  # type: ignore[return-value]
    return item

