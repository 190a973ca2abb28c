"""R5c number: ring an arbitrary number typed into the rule.

Rules: the number is validated (D5) and formatted into the configured external dial
template (``DialSettings.external_dial_template``, e.g. "sofia/gateway/{gateway}/{number}");
the result is validated as an endpoint again. One step. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fsworker.core.model import StrategyKind
from fsworker.core.strategies.base import DialPlan, DialSettings, DialStep, Strategy

if TYPE_CHECKING:
    from fsworker.core.calls import LostCall
    from fsworker.core.catalog import Catalog
    from fsworker.core.model import Rule


def number_step(number: object, settings: DialSettings, *, field: str = "rule.target") -> DialStep:
    return DialStep(endpoints=(settings.external_endpoint(number, field),),
                    ring_timeout_s=settings.default_ring_timeout_s, label=f"number {number}")


class NumberStrategy(Strategy):
    kind = StrategyKind.NUMBER.value

    def plan(self, *, rule: Rule, catalog: Catalog, call: LostCall, attempt: int,
             settings: DialSettings) -> DialPlan:
        return DialPlan(steps=(number_step(rule.target, settings),), strategy=self.kind)
