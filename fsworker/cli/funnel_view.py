"""The funnel as a table: one renderer for ``fsworker stats`` and ``fsworker demo``."""

from __future__ import annotations

from fsworker.core.funnel import Funnel


def funnel_lines(funnel: Funnel) -> list[str]:
    rows = funnel.rows()
    width = max(len(stage) for stage, _ in rows)
    value_width = max(5, *(len(v) for _, v in rows))
    lines = [f"{'stage'.ljust(width)}  {'count'.rjust(value_width)}", f"{'-' * width}  {'-' * value_width}"]
    lines += [f"{stage.ljust(width)}  {value.rjust(value_width)}" for stage, value in rows]
    return lines
