"""R5a campaign: use the routing target configured on the call's ad campaign.

Rules: the campaign is the call's ``fsw_campaign`` (``LostCall.campaign``); a call
without one, or naming a campaign not in the catalog, is a ``TargetNotFoundError`` (the
flow records ``target_not_found``, no call is placed). The campaign's target is then
planned exactly as the group / employee / number / scenario strategies plan a rule's
target. Pure.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from fsworker.core.model import Campaign, StrategyKind, TargetKind
from fsworker.core.strategies.base import DialPlan, DialSettings, Plan, Strategy, lookup
from fsworker.core.strategies.employee import employee_step
from fsworker.core.strategies.group import group_steps
from fsworker.core.strategies.number import number_step
from fsworker.core.strategies.scenario import scenario_handoff

if TYPE_CHECKING:
    from fsworker.core.calls import LostCall
    from fsworker.core.catalog import Catalog
    from fsworker.core.model import Rule


class CampaignStrategy(Strategy):
    kind = StrategyKind.CAMPAIGN.value

    def plan(self, *, rule: Rule, catalog: Catalog, call: LostCall, attempt: int,
             settings: DialSettings) -> Plan:
        camp = lookup(catalog.campaign_by_name, call.campaign, "call.campaign", "campaign")
        assert isinstance(camp, Campaign)
        field = f"campaign[{camp.name}].target"
        if camp.target_kind is TargetKind.GROUP:
            steps = group_steps(camp.target, catalog, settings, call_uuid=call.call_uuid, field=field)
        elif camp.target_kind is TargetKind.EMPLOYEE:
            steps = [employee_step(camp.target, catalog, settings, field=field)]
        elif camp.target_kind is TargetKind.NUMBER:
            steps = [number_step(camp.target, settings, field=field)]
        else:
            return replace(scenario_handoff(camp.target, catalog, field=field), strategy=self.kind)
        return DialPlan(steps=tuple(steps), strategy=self.kind)

