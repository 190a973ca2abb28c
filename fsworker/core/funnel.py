"""The callback funnel of a period: lost calls -> tasks -> attempts -> results.

Rules: a pure value built by the store (``fsworker.store.stats``) and shown by ``fsworker
stats`` and ``fsworker demo`` alike, so the two can never disagree about what a row
means. Counts are keyed by the enum values the database stores; rows come out in the
enums' order, each stage followed by its breakdown. No I/O here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fsworker.core.calls import LossPlace
from fsworker.core.outcomes import AttemptOutcome, SkipReason, TaskEndReason


@dataclass(frozen=True, kw_only=True, slots=True)
class Funnel:
    since: datetime | None = None  #: inclusive; None = from the beginning
    until: datetime | None = None  #: exclusive; None = now
    lost_by_place: Mapping[str, int] = field(default_factory=dict)
    skipped_by_reason: Mapping[str, int] = field(default_factory=dict)
    tasks_created: int = 0
    tasks_joined: int = 0  #: lost calls that joined a customer's open task instead
    attempts_by_outcome: Mapping[str, int] = field(default_factory=dict)
    tasks_ended_by_reason: Mapping[str, int] = field(default_factory=dict)
    #: seconds from a task's first loss to the end of its successful callback, sorted
    loss_to_success_s: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "loss_to_success_s", tuple(sorted(self.loss_to_success_s)))

    @property
    def lost(self) -> int:
        return sum(self.lost_by_place.values())

    @property
    def skipped(self) -> int:
        return sum(self.skipped_by_reason.values())

    @property
    def attempts(self) -> int:
        return sum(self.attempts_by_outcome.values())

    @property
    def tasks_ended(self) -> int:
        return sum(self.tasks_ended_by_reason.values())

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile (0 < q <= 100) of loss -> successful callback."""
        values = self.loss_to_success_s
        if not values:
            return None
        return values[max(0, math.ceil(q / 100 * len(values)) - 1)]

    def rows(self) -> list[tuple[str, str]]:
        """(stage, value) rows, breakdowns indented under their stage."""
        rows: list[tuple[str, str]] = [("lost calls", str(self.lost))]
        rows += _breakdown("at:", self.lost_by_place, [p.value for p in LossPlace])
        rows += _breakdown("skipped:", self.skipped_by_reason, [r.value for r in SkipReason])
        rows.append(("tasks created", str(self.tasks_created)))
        rows.append(("  lost calls joining an open task", str(self.tasks_joined)))
        rows.append(("callback attempts", str(self.attempts)))
        rows += _breakdown("outcome:", self.attempts_by_outcome, [o.value for o in AttemptOutcome])
        rows.append(("tasks ended", str(self.tasks_ended)))
        rows += _breakdown("ended:", self.tasks_ended_by_reason, [r.value for r in TaskEndReason])
        for q in (50, 90):
            rows.append((f"loss -> successful callback p{q}", _duration(self.percentile(q))))
        return rows

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since, "until": self.until,
            "lost_calls": {"total": self.lost, "by_place": dict(self.lost_by_place)},
            "skipped": {"total": self.skipped, "by_reason": dict(self.skipped_by_reason)},
            "tasks_created": self.tasks_created, "tasks_joined": self.tasks_joined,
            "attempts": {"total": self.attempts, "by_outcome": dict(self.attempts_by_outcome)},
            "tasks_ended": {"total": self.tasks_ended, "by_reason": dict(self.tasks_ended_by_reason)},
            "loss_to_success_s": {"count": len(self.loss_to_success_s), "p50": self.percentile(50),
                                  "p90": self.percentile(90)},
        }


def _breakdown(label: str, counts: Mapping[str, int], order: list[str]) -> list[tuple[str, str]]:
    """Known keys in enum order, then any other (a value a newer fsworker wrote)."""
    keys = [k for k in order if counts.get(k)] + sorted(k for k in counts if k not in order and counts[k])
    return [(f"  {label} {k}", str(counts[k])) for k in keys]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s" if m else f"{s}s"
