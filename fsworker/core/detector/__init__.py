"""Lost-call detection from FreeSWITCH channel events (issue 4, items 1-3).

``Detector`` is a pure state machine: feed it parsed events, get ``LostCall`` /
``Contact`` / ``IgnoredCall`` outcomes. Subscribe the connection to
``INTERESTING_EVENTS`` only.

Rules: no I/O and no clock of its own: time is the switch's, read from the events; the
verdict on a call (lost or not, where) is ``verdict.py``'s, replayed from marks, so the
same events always give the same outcomes.
"""

from __future__ import annotations

from fsworker.core.detector.detector import (
    INTERESTING_EVENTS,
    Detector,
    IgnoredCall,
    IgnoreReason,
    Outcome,
)

__all__ = ["INTERESTING_EVENTS", "Detector", "IgnoreReason", "IgnoredCall", "Outcome"]
