"""Lost-call detection from FreeSWITCH channel events (issue 4, items 1-3).

``Detector`` is a pure state machine: feed it parsed events, get ``LostCall`` /
``Contact`` / ``IgnoredCall`` outcomes. Subscribe the connection to
``INTERESTING_EVENTS`` only.
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
