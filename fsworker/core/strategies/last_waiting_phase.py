"""R5f last-waiting-phase: the employee who made the transfer, then the transfer target.

Rules:
- Step 1 rings the transferrer, step 2 the transfer target. Each side is reached by the
  endpoint the switch recorded for it; without one, by the endpoints of the named
  employee in the catalog; with neither (e.g. only the extension dialled is known) that
  side is left out. If both are the same endpoint(s), one step.
- A call with no transfer phase (or one where neither side can be reached) falls back
  to last-attempted (R5e): the legs it tried, growing; with nobody tried,
  ``NoEmployeeCalls``. The plan's ``strategy`` stays "last_waiting_phase" and the step
  labels say "tried", so logs show the fallback. Pure.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fsworker.core.model import StrategyKind
from fsworker.core.strategies.base import (
    DialPlan,
    DialSettings,
    DialStep,
    Strategy,
    employee_endpoints,
    redial_endpoint,
)
from fsworker.core.strategies.last_attempted import last_attempted_plan

if TYPE_CHECKING:
    from fsworker.core.calls import LostCall
    from fsworker.core.catalog import Catalog
    from fsworker.core.model import Rule

log = logging.getLogger(__name__)


def _side(endpoint: str | None, employee: str | None, catalog: Catalog, field: str) -> tuple[str, ...]:
    if endpoint:
        return (redial_endpoint(endpoint, employee, catalog, field),)
    if employee and (emp := catalog.employee_by_name.get(employee)) is not None:
        return employee_endpoints(emp)
    return ()


class LastWaitingPhaseStrategy(Strategy):
    kind = StrategyKind.LAST_WAITING_PHASE.value

    def plan(self, *, rule: Rule, catalog: Catalog, call: LostCall, attempt: int,
             settings: DialSettings) -> DialPlan:
        tr = call.transfer
        if tr is not None:
            sides = [
                ("transferrer", _side(tr.transferrer_endpoint, tr.transferrer_employee, catalog,
                                      f"call[{call.call_uuid}].transfer.transferrer_endpoint")),
                ("transfer target", _side(tr.target_endpoint, tr.target_employee, catalog,
                                          f"call[{call.call_uuid}].transfer.target_endpoint")),
            ]
            steps: list[DialStep] = []
            for label, eps in sides:
                if eps and (not steps or set(eps) != set(steps[0].endpoints)):
                    steps.append(DialStep(endpoints=eps, ring_timeout_s=settings.default_ring_timeout_s, label=label))
            if steps:
                return DialPlan(steps=tuple(steps), strategy=self.kind)
            log.info("call %s: transfer phase names nobody reachable; falling back to last-attempted", call.call_uuid)
        return last_attempted_plan(call, catalog, settings, self.kind)
