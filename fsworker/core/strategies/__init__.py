"""Dial strategies (R5): pure planners from (rule, catalog, lost call, attempt, settings)
to a ``DialPlan`` / ``ScenarioHandoff``, found by kind through the registry."""

from __future__ import annotations

from fsworker.core.strategies.base import (
    DialPlan,
    DialSettings,
    DialStep,
    InvalidEndpointError,
    NoEmployeeCalls,
    Plan,
    ScenarioHandoff,
    Strategy,
    StrategyError,
    TargetNotFoundError,
    UnknownStrategyError,
)
from fsworker.core.strategies.registry import (
    ENTRY_POINT_GROUP,
    StrategyRegistrationError,
    StrategyRegistry,
    default_registry,
    get_strategy,
    new_registry,
    register,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "DialPlan",
    "DialSettings",
    "DialStep",
    "InvalidEndpointError",
    "NoEmployeeCalls",
    "Plan",
    "ScenarioHandoff",
    "Strategy",
    "StrategyError",
    "StrategyRegistrationError",
    "StrategyRegistry",
    "TargetNotFoundError",
    "UnknownStrategyError",
    "default_registry",
    "get_strategy",
    "new_registry",
    "register",
]
