"""R5e last-attempted: ring back everyone the lost call tried to reach, growing.

Rules:
- "Tried" = the call's rung legs in ring order (``LostCall.ring_groups()``, and within a
  ring group the order the detector recorded), each by the endpoint the switch
  actually rang (e.g. "sofia/internal/101@127.0.0.1:5072"), first occurrence wins.
  Every endpoint is validated; a hostile one fails the plan (``InvalidEndpointError``)
  rather than being skipped, because it means the event data is not trustworthy.
  Someone who is not a configured employee is rung as the bare endpoint of the recorded
  channel name: SIP URI parameters (``sofia/internal/669@host;fs_path=x``) described
  that call's route and are never dialled again.
- Steps: 1 endpoint, then the first 2 at once, then 3, ... up to the width W. With more
  tried endpoints than W the window slides on by one (e.g. W=3, five tried:
  [1], [1,2], [1,2,3], [2,3,4], [3,4,5]), so everyone tried is rung at least once and
  no step exceeds W lines.
- W = the largest ``max_lines`` among the groups that contain a tried employee (legs
  carry ``employee``, or their endpoint is a configured one); if no tried employee is
  in any group, ``DialSettings.default_max_lines``.
- Nobody tried -> ``NoEmployeeCalls``: the attempt ends ``no_employee_calls_found``
  without dialling. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fsworker.core.model import StrategyKind
from fsworker.core.strategies.base import (
    DialPlan,
    DialSettings,
    DialStep,
    NoEmployeeCalls,
    Strategy,
    checked_recorded_endpoint,
    dedupe,
    redial_endpoint,
)

if TYPE_CHECKING:
    from fsworker.core.calls import LostCall
    from fsworker.core.catalog import Catalog
    from fsworker.core.model import Rule


def tried_endpoints(call: LostCall, catalog: Catalog | None = None) -> tuple[str, ...]:
    """The endpoints the lost call rang, in the order tried, validated, distinct; a
    known employee by their configured endpoint (see ``redial_endpoint``)."""
    eps = []
    for group in call.ring_groups():
        for leg in group:
            field = f"call[{call.call_uuid}].rung[{leg.uuid}].endpoint"
            if catalog is None:
                eps.append(checked_recorded_endpoint(leg.endpoint, field))
            else:
                eps.append(redial_endpoint(leg.endpoint, leg.employee, catalog, field))
    return dedupe(eps)


def tried_width(call: LostCall, catalog: Catalog, settings: DialSettings) -> int:
    """How many lines may ring at once when calling back the tried legs (W above)."""
    names = {leg.employee for leg in call.rung if leg.employee}
    names |= {e.name for leg in call.rung if (e := catalog.employee_by_endpoint.get(leg.endpoint))}
    widths = [g.max_lines for g in catalog.groups if names.intersection(g.members)]
    return max(widths) if widths else settings.default_max_lines


def growing_steps(endpoints: tuple[str, ...], width: int, ring_timeout_s: int, label: str) -> list[DialStep]:
    """[e1], [e1,e2], ... up to ``width`` at once, then a window of ``width`` sliding on."""
    steps = []
    for k in range(1, len(endpoints) + 1):
        window = endpoints[max(0, k - width) : k]
        steps.append(DialStep(endpoints=window, ring_timeout_s=ring_timeout_s, label=f"{label} {k}/{len(endpoints)}"))
    return steps


def last_attempted_plan(call: LostCall, catalog: Catalog, settings: DialSettings, kind: str) -> DialPlan:
    endpoints = tried_endpoints(call, catalog)
    if not endpoints:
        raise NoEmployeeCalls(call.call_uuid, kind)
    width = tried_width(call, catalog, settings)
    return DialPlan(
        steps=tuple(growing_steps(endpoints, width, settings.default_ring_timeout_s, "tried")),
        strategy=kind,
    )


class LastAttemptedStrategy(Strategy):
    kind = StrategyKind.LAST_ATTEMPTED.value

    def plan(self, *, rule: Rule, catalog: Catalog, call: LostCall, attempt: int,
             settings: DialSettings) -> DialPlan:
        return last_attempted_plan(call, catalog, settings, self.kind)
