"""What the detector needs of a switch event, as a structural type.

Rules: the detector reads events through this protocol only, so the pure core never
imports the wire layer (fsworker.esl.proto.frames.Event satisfies it, and so does any
test double with the same four members).
"""

from __future__ import annotations

from typing import Protocol


class SwitchEvent(Protocol):
    @property
    def name(self) -> str:
        """Event-Name (CUSTOM events: their Event-Subclass is in the headers)."""
        ...

    @property
    def sequence(self) -> int:
        """Event-Sequence: the switch's own order of events (0 when absent)."""
        ...

    @property
    def timestamp_us(self) -> int:
        """Event-Date-Timestamp: the switch's clock, microseconds since the epoch."""
        ...

    def get(self, name: str, default: str | None = None) -> str | None:
        """A header's decoded value, or ``default``."""
        ...
