"""The funnel value: rows in enum order, percentiles by nearest rank, durations readable."""

from __future__ import annotations

from fsworker.core.funnel import Funnel


def test_percentiles_by_nearest_rank() -> None:
    f = Funnel(loss_to_success_s=tuple(float(s) for s in range(10, 0, -1)))  # 1..10, unsorted
    assert f.percentile(50) == 5.0 and f.percentile(90) == 9.0 and f.percentile(100) == 10.0
    assert Funnel().percentile(50) is None


def test_rows_follow_the_enums_and_keep_unknown_values() -> None:
    f = Funnel(lost_by_place={"transfer": 1, "number": 2}, skipped_by_reason={"no_rule": 1, "blacklisted": 2},
               attempts_by_outcome={"from_the_future": 1, "success": 1}, loss_to_success_s=(3725.4,))
    labels = [stage for stage, _ in f.rows()]
    assert labels.index("  at: number") < labels.index("  at: transfer")
    assert labels.index("  skipped: blacklisted") < labels.index("  skipped: no_rule")
    assert labels.index("  outcome: success") < labels.index("  outcome: from_the_future")
    assert dict(f.rows())["loss -> successful callback p50"] == "1h 02m 05s"
    assert dict(f.rows())["lost calls"] == "3"
