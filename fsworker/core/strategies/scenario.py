"""R5g scenario: hand the callback to an IVR scenario (a dialplan extension).

Rules: no employee is rung by fsworker; the plan is a ``ScenarioHandoff`` with the
scenario's extension and context (validated identifiers, safe in "transfer <ext> XML
<context>"). A scenario missing from the catalog is a ``TargetNotFoundError``. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fsworker.core.model import Scenario, StrategyKind
from fsworker.core.strategies.base import DialSettings, ScenarioHandoff, Strategy, lookup

if TYPE_CHECKING:
    from fsworker.core.calls import LostCall
    from fsworker.core.catalog import Catalog
    from fsworker.core.model import Rule


def scenario_handoff(name: object, catalog: Catalog, *, field: str = "rule.target") -> ScenarioHandoff:
    sc = lookup(catalog.scenario_by_name, name, field, "scenario")
    assert isinstance(sc, Scenario)
    return ScenarioHandoff(extension=sc.extension, context=sc.context, scenario=sc.name)


class ScenarioStrategy(Strategy):
    kind = StrategyKind.SCENARIO.value

    def plan(self, *, rule: Rule, catalog: Catalog, call: LostCall, attempt: int,
             settings: DialSettings) -> ScenarioHandoff:
        return scenario_handoff(rule.target, catalog)
