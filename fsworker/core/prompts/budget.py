"""A hard budget for one hint render: CPU time, wall time and characters of output.

Rules: the hint language (``policy.py``) already keeps every single operation small;
this is the second line. A render runs in the caller's greenlet and never yields, so
while it runs nothing else in the process does: it is cut off as soon as it has used
its CPU or wall time, or produced more characters than allowed. The checks run between
output chunks, at every step of every ``for`` loop (``budget_loops`` wraps each loop's
iterable in a checking generator) and before every filter call (``metered``, which also
refuses a filter result longer than the output budget), so no render outlives its
budget by more than one filter call on a string of at most ``max_chars``. ``RenderBudgetExceeded`` says which limit was hit.
Pure; no I/O.
"""

from __future__ import annotations

import contextvars
import enum
import functools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from jinja2 import Template, nodes

from fsworker.core.errors import FsworkerError, ValidationError

#: the hidden filter wrapped around every loop's iterable (not nameable by a template:
#: the hint language allows only ``policy.ALLOWED_FILTERS``)
LOOP_FILTER = "_fsworker_budget_step"


class BudgetLimit(enum.StrEnum):
    CPU = "cpu"  #: CPU time of the rendering thread
    WALL = "wall"  #: elapsed time (the GIL shared with a busy thread)
    OUTPUT = "output"  #: characters produced


class RenderBudgetExceeded(FsworkerError):
    """A render used more than its budget and was stopped."""

    def __init__(self, limit: BudgetLimit, used: float, allowed: float) -> None:
        self.limit = limit
        unit = "characters" if limit is BudgetLimit.OUTPUT else "ms"
        super().__init__(f"hint render over its {limit.value} budget: {used:g} {unit} used, at most {allowed:g}")


@dataclass(frozen=True, kw_only=True, slots=True)
class RenderBudget:
    cpu_ms: float = 20.0  #: CPU time one render may use
    wall_ms: float = 100.0  #: elapsed time, for when the process is starved of CPU
    max_chars: int = 4000  #: output before cleaning (a spoken hint is far shorter)

    def __post_init__(self) -> None:
        if not 0 < self.cpu_ms <= 1000:
            raise ValidationError("prompt.render_cpu_ms", self.cpu_ms, "0 < ms <= 1000")
        if not self.cpu_ms <= self.wall_ms <= 10_000:
            raise ValidationError("prompt.render_wall_ms", self.wall_ms, "render_cpu_ms..10000")
        if not 1 <= self.max_chars <= 100_000:
            raise ValidationError("prompt.render_max_chars", self.max_chars, "1..100000")


@dataclass(slots=True)
class _Meter:
    budget: RenderBudget
    cpu0: float
    wall0: float

    def check(self) -> None:
        cpu = (time.thread_time() - self.cpu0) * 1000
        if cpu > self.budget.cpu_ms:
            raise RenderBudgetExceeded(BudgetLimit.CPU, round(cpu, 1), self.budget.cpu_ms)
        wall = (time.perf_counter() - self.wall0) * 1000
        if wall > self.budget.wall_ms:
            raise RenderBudgetExceeded(BudgetLimit.WALL, round(wall, 1), self.budget.wall_ms)


_METER: contextvars.ContextVar[_Meter | None] = contextvars.ContextVar("fsworker_hint_meter", default=None)


def metered(f: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that checks the running render's budget before it runs, and refuses a
    string result longer than the output budget (so no chain of filters can feed the
    next one a large string: each call stays cheap and the checks stay frequent)."""

    @functools.wraps(f)  # keeps Jinja's pass_context / pass_eval_context marks
    def checked(*args: Any, **kwargs: Any) -> Any:
        meter = _METER.get()
        if meter is None:
            return f(*args, **kwargs)
        meter.check()
        out = f(*args, **kwargs)
        if isinstance(out, str) and len(out) > meter.budget.max_chars:
            raise RenderBudgetExceeded(BudgetLimit.OUTPUT, len(out), meter.budget.max_chars)
        return out

    return checked


def budget_step(iterable: Iterable[Any]) -> Iterator[Any]:
    """The loop filter: every step of a loop checks the running render's budget."""
    meter = _METER.get()
    for item in iterable:
        if meter is not None:
            meter.check()
        yield item


def budget_loops(tree: nodes.Template) -> nodes.Template:
    """Wrap the iterable of every ``for`` in ``tree`` in the budget filter (in place)."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, LOOP_FILTER, [], [], None, None, lineno=loop.lineno)
    return tree


def render_within(template: Template, context: dict[str, Any], budget: RenderBudget) -> str:
    """``template`` rendered with ``context``, or RenderBudgetExceeded."""
    meter = _Meter(budget=budget, cpu0=time.thread_time(), wall0=time.perf_counter())
    token = _METER.set(meter)
    chunks: list[str] = []
    size = 0
    gen = template.generate(context)
    try:
        for chunk in gen:
            size += len(chunk)
            if size > budget.max_chars:
                raise RenderBudgetExceeded(BudgetLimit.OUTPUT, size, budget.max_chars)
            meter.check()
            chunks.append(chunk)
    finally:
        gen.close()
        _METER.reset(token)
    return "".join(chunks)
