"""R5d employee: ring one employee (e.g. a secretary) on all their endpoints at once.

Rules: one step with every configured endpoint of the employee; an employee missing
from the catalog is a ``TargetNotFoundError``. Pure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fsworker.core.model import Employee, StrategyKind
from fsworker.core.strategies.base import (
    DialPlan,
    DialSettings,
    DialStep,
    Strategy,
    employee_endpoints,
    lookup,
)

if TYPE_CHECKING:
    from fsworker.core.calls import LostCall
    from fsworker.core.catalog import Catalog
    from fsworker.core.model import Rule


def employee_step(name: object, catalog: Catalog, settings: DialSettings, *, field: str = "rule.target") -> DialStep:
    emp = lookup(catalog.employee_by_name, name, field, "employee")
    assert isinstance(emp, Employee)
    return DialStep(endpoints=employee_endpoints(emp), ring_timeout_s=settings.default_ring_timeout_s,
                    label=f"employee {emp.name}")


class EmployeeStrategy(Strategy):
    kind = StrategyKind.EMPLOYEE.value

    def plan(self, *, rule: Rule, catalog: Catalog, call: LostCall, attempt: int,
             settings: DialSettings) -> DialPlan:
        return DialPlan(steps=(employee_step(rule.target, catalog, settings),), strategy=self.kind)
