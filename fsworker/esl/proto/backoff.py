"""Reconnect back-off policy: an immutable value, separate from the loop applying it.

Rules: ``Backoff`` never mutates; ``next()`` returns the policy for the following
attempt and ``reset()`` the one to use after a success. Delays grow exponentially
from ``initial`` by ``factor``, are capped at ``cap``, and get +/- ``jitter`` (a
fraction) so that many workers do not reconnect in lock-step. No clock, no sleeping.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from fsworker.core.errors import ValidationError


@dataclass(frozen=True, kw_only=True, slots=True)
class Backoff:
    initial: float = 0.1  #: seconds before the first retry
    factor: float = 2.0  #: growth per failed attempt
    cap: float = 10.0  #: longest delay, seconds
    jitter: float = 0.1  #: +/- fraction of the delay, 0 = deterministic
    attempt: int = 0  #: failed attempts so far

    def __post_init__(self) -> None:
        if not self.initial > 0:
            raise ValidationError("backoff.initial", self.initial, "> 0 seconds")
        if not self.factor >= 1:
            raise ValidationError("backoff.factor", self.factor, ">= 1")
        if not self.cap >= self.initial:
            raise ValidationError("backoff.cap", self.cap, f">= initial ({self.initial})")
        if not 0 <= self.jitter < 1:
            raise ValidationError("backoff.jitter", self.jitter, "0 <= jitter < 1")
        if self.attempt < 0:
            raise ValidationError("backoff.attempt", self.attempt, ">= 0")

    def base_delay(self) -> float:
        """The delay before the next attempt, without jitter."""
        # min() before the power would overflow on a long outage.
        exp = min(self.attempt, 64)
        return min(self.cap, self.initial * self.factor**exp)

    def delay(self, rng: random.Random | None = None) -> float:
        base = self.base_delay()
        if not self.jitter:
            return base
        r = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, min(self.cap, base * (1 + r)))

    def next(self) -> Backoff:
        return replace(self, attempt=self.attempt + 1)

    def reset(self) -> Backoff:
        return replace(self, attempt=0)
