# The fake PBX's sense of time: a timer heap over a ManualClock. Rules: nothing in
# the fake switch sleeps or reads the wall clock; everything that "takes time" is a
# timer here. ``advance`` runs due timers in (time, insertion) order and moves the
# clock to each timer's time before running it, so event timestamps are exact.
# Only ``run_realtime`` touches gevent (lazily imported), for the standalone server.
"""A controllable timer wheel for the fake PBX."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time as _time
from collections.abc import Callable
from typing import Any

from fsworker.core.clock import ManualClock

log = logging.getLogger(__name__)


class Timer:
    __slots__ = ("args", "cancelled", "fn", "when")

    def __init__(self, when: float, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    """Timers on a ManualClock; ``advance(seconds)`` runs every timer that falls due."""

    def __init__(self, clock: ManualClock, lock: threading.RLock | None = None) -> None:
        self.clock = clock
        self.lock = lock or threading.RLock()
        self._heap: list[tuple[float, int, Timer]] = []
        self._counter = itertools.count()
        self._realtime: Any = None

    def now(self) -> float:
        return self.clock.time()

    def now_us(self) -> int:
        return round(self.clock.time() * 1e6)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Timer:
        if delay < 0:
            delay = 0.0
        return self.call_at(self.clock.time() + delay, fn, *args)

    def call_at(self, when: float, fn: Callable[..., Any], *args: Any) -> Timer:
        timer = Timer(when, fn, args)
        with self.lock:
            heapq.heappush(self._heap, (when, next(self._counter), timer))
        return timer

    def pending(self) -> int:
        return sum(1 for _, _, t in self._heap if not t.cancelled)

    def next_due(self) -> float | None:
        with self.lock:
            while self._heap and self._heap[0][2].cancelled:
                heapq.heappop(self._heap)
            return self._heap[0][0] if self._heap else None

    def run_due(self) -> int:
        """Run the timers due now (including ones they schedule for now)."""
        return self._run_until(self.clock.time())

    def advance(self, seconds: float) -> int:
        """Move time forward by ``seconds``, running due timers in order. Returns the
        number of timers run."""
        if seconds < 0:
            raise ValueError("the fake switch's clock does not go backwards")
        return self._run_until(self.clock.time() + seconds)

    def _run_until(self, target: float) -> int:
        ran = 0
        with self.lock:
            while True:
                if not self._heap or self._heap[0][0] > target:
                    break
                when, _, timer = heapq.heappop(self._heap)
                if timer.cancelled:
                    continue
                if when > self.clock.time():
                    self.clock.set(when)
                ran += 1
                timer.fn(*timer.args)
            if target > self.clock.time():
                self.clock.set(target)
        return ran

    # -- real time (standalone server, demo) ----------------------------------------
    def run_realtime(self, speed: float = 1.0, tick: float = 0.01) -> Any:
        """Start a greenlet that advances the clock with wall time × ``speed``."""
        import gevent  # only the standalone / demo mode needs a greenlet

        if speed <= 0:
            raise ValueError(f"speed: {speed!r} is invalid: must be > 0")
        self.stop_realtime()

        def loop() -> None:
            last = _time.monotonic()
            while True:
                gevent.sleep(tick)
                now = _time.monotonic()
                try:
                    self.advance((now - last) * speed)
                except Exception:  # a bad timer must not stop the switch's clock
                    log.exception("fake switch timer failed")
                last = now

        self._realtime = gevent.spawn(loop)
        return self._realtime

    def stop_realtime(self) -> None:
        if self._realtime is not None:
            self._realtime.kill()
            self._realtime = None
