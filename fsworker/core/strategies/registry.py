"""The strategy registry: strategy kind (``StrategyKind`` value) -> strategy object.

Rules: the seven built-in strategies (R5a-g) are registered when this module is
imported. Others come from ``register()`` or from the ``fsworker.core.strategies``
entry-point group (name = kind, object = a ``Strategy`` subclass or a zero-argument
factory returning an object with ``plan``), loaded once, on first need, so installing a
package is enough — fsworker is not edited. A kind is registered once: a clash raises
(``register(..., replace=True)`` to override on purpose); an entry point that clashes
with an existing kind, or that fails to load, is logged and skipped, so one broken
plugin cannot stop the worker. Strategies are stateless; one instance serves all calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

from fsworker.core.errors import FsworkerError
from fsworker.core.strategies.base import Strategy, UnknownStrategyError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "fsworker.strategies"


class StrategyRegistrationError(FsworkerError):
    """A strategy cannot be registered (duplicate kind, no ``plan`` method)."""


def _instantiate(obj: Any, kind: str) -> Any:
    """A class or factory becomes an instance; an instance is used as is."""
    inst = obj() if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "plan")) else obj
    if not callable(getattr(inst, "plan", None)):
        raise StrategyRegistrationError(f"strategy {kind!r}: {obj!r} has no plan() method")
    return inst


class StrategyRegistry:
    def __init__(self, *, entry_point_group: str | None = ENTRY_POINT_GROUP) -> None:
        self._strategies: dict[str, Any] = {}
        self._group = entry_point_group
        self._entry_points_loaded = entry_point_group is None
        self._lock = threading.Lock()

    def register(self, kind: str, strategy: Any, *, replace: bool = False) -> Any:
        """Register a strategy class, factory or instance under ``kind``; returns the instance."""
        kind = str(kind)
        if not kind:
            raise StrategyRegistrationError("a strategy kind must be a non-empty string")
        inst = _instantiate(strategy, kind)
        with self._lock:
            if kind in self._strategies and not replace:
                raise StrategyRegistrationError(f"strategy {kind!r} is already registered")
            self._strategies[kind] = inst
        return inst

    def load_entry_points(self) -> list[str]:
        """Load the entry-point group (once); returns the kinds added."""
        with self._lock:
            if self._entry_points_loaded:
                return []
            self._entry_points_loaded = True
        added = []
        for ep in metadata.entry_points(group=self._group):
            if ep.name in self._strategies:
                log.warning("strategy entry point %s (%s) ignored: kind already registered", ep.name, ep.value)
                continue
            try:
                self.register(ep.name, ep.load())
            except (ImportError, AttributeError, StrategyRegistrationError, TypeError) as exc:
                log.error("strategy entry point %s (%s) failed to load: %s", ep.name, ep.value, exc)
                continue
            log.info("strategy %s registered from entry point %s", ep.name, ep.value)
            added.append(ep.name)
        return added

    def get(self, kind: object) -> Strategy:
        """The strategy for ``kind`` (a ``StrategyKind`` or its string value)."""
        key = str(kind)
        if key not in self._strategies:
            self.load_entry_points()
        try:
            return self._strategies[key]
        except KeyError:
            raise UnknownStrategyError(key, self._strategies) from None

    def kinds(self) -> list[str]:
        self.load_entry_points()
        return sorted(self._strategies)

    def __contains__(self, kind: object) -> bool:
        return str(kind) in self.kinds()


def builtin_strategies() -> Iterable[type[Strategy]]:
    from fsworker.core.strategies.campaign import CampaignStrategy
    from fsworker.core.strategies.employee import EmployeeStrategy
    from fsworker.core.strategies.group import GroupStrategy
    from fsworker.core.strategies.last_attempted import LastAttemptedStrategy
    from fsworker.core.strategies.last_waiting_phase import LastWaitingPhaseStrategy
    from fsworker.core.strategies.number import NumberStrategy
    from fsworker.core.strategies.scenario import ScenarioStrategy

    return (CampaignStrategy, GroupStrategy, NumberStrategy, EmployeeStrategy,
            LastAttemptedStrategy, LastWaitingPhaseStrategy, ScenarioStrategy)


def new_registry(*, entry_point_group: str | None = ENTRY_POINT_GROUP) -> StrategyRegistry:
    """A registry holding the built-ins (entry points load on first lookup)."""
    reg = StrategyRegistry(entry_point_group=entry_point_group)
    for cls in builtin_strategies():
        reg.register(cls.kind, cls)
    return reg


#: The process-wide registry the call flow uses.
default_registry = new_registry()


def register(kind: str, strategy: Any = None, *, replace: bool = False) -> Any:
    """Register in the default registry; usable as a class decorator when
    ``strategy`` is omitted: ``@register("round_robin")``."""
    if strategy is None:
        def deco(obj: Callable[..., Any]) -> Callable[..., Any]:
            default_registry.register(kind, obj, replace=replace)
            return obj

        return deco
    return default_registry.register(kind, strategy, replace=replace)


def get_strategy(kind: object) -> Strategy:
    """The strategy registered under ``kind`` in the default registry."""
    return default_registry.get(kind)
