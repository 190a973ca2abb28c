"""The e2e harness's own promises, without a worker or a database: a "nothing happens
later" check must fail when the run did not cover the simulated time it claims."""

from __future__ import annotations

import pytest

from fsworker.core.clock import ManualClock
from fsworker.testing.fakeswitch.events import ListBus
from fsworker.testing.fakeswitch.pbx import FakePBX
from tests.e2e.harness import START, Harness


def _bare_harness() -> Harness:
    h = Harness.__new__(Harness)  # only the clock and the switch: run_for needs no more
    h.clock = ManualClock(START)
    h.pbxs = [FakePBX(ListBus(), clock=h.clock)]
    return h


def test_run_for_covers_exactly_the_simulated_time() -> None:
    h = _bare_harness()
    fired: list[float] = []
    h.pbx.scheduler.call_later(119.9, lambda: fired.append(h.clock.time()))
    h.run_for(120, step_s=7)
    assert h.clock.time() - START.timestamp() == pytest.approx(120)
    assert len(fired) == 1


def test_run_for_fails_when_the_real_time_budget_ends_first() -> None:
    h = _bare_harness()
    with pytest.raises(AssertionError, match=r"covered \d+ of 600 simulated seconds"):
        h.run_for(600, step_s=1, real_timeout_s=0.05)
