"""The connection's event backlog: events between the reader and their handlers.

Rules:
- Bounded twice: by count and by the wire bytes of the events it holds. An event is
  held from ``put`` until its handlers have run (``release``), not just until it is
  taken: a handler pool full of large events is memory too.
- ``put`` blocks the reader while the backlog is full, which stops reading the socket
  and lets TCP push back on the switch; nothing is dropped here. One event larger than
  the byte cap still passes when the backlog is empty (the parser caps each frame).
- One reader puts, one dispatcher gets (the connection's design); cooperative
  gevent scheduling makes each check-then-wait atomic.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import gevent.event

T = TypeVar("T")

DEFAULT_MAX_EVENTS = 10_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024


class EventBacklog(Generic[T]):
    """A FIFO of (item, size) bounded by ``max_events`` and ``max_bytes``."""

    def __init__(self, *, max_events: int = DEFAULT_MAX_EVENTS, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_events < 1 or max_bytes < 1:
            raise ValueError(f"backlog caps must be >= 1 (max_events={max_events}, max_bytes={max_bytes})")
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._items: deque[tuple[T, int]] = deque()
        self.held_bytes = 0  #: bytes of events queued or still in their handlers
        self.peak_bytes = 0  #: the most ``held_bytes`` has been
        self._space = gevent.event.Event()
        self._ready = gevent.event.Event()

    def __len__(self) -> int:
        return len(self._items)

    def full_for(self, size: int) -> bool:
        over_bytes = self.held_bytes > 0 and self.held_bytes + size > self.max_bytes
        return over_bytes or len(self._items) >= self.max_events

    def put(self, item: T, size: int) -> None:
        """Queue ``item`` holding ``size`` bytes; waits while the backlog is full."""
        while self.full_for(size):
            self._space.clear()
            self._space.wait()
        self._items.append((item, size))
        self.held_bytes += size
        self.peak_bytes = max(self.peak_bytes, self.held_bytes)
        self._ready.set()

    def get(self) -> tuple[T, int]:
        """The oldest item and its size; waits while empty. Its bytes stay held until
        ``release(size)``."""
        while not self._items:
            self._ready.clear()
            self._ready.wait()
        entry = self._items.popleft()
        self._space.set()
        return entry

    def release(self, size: int) -> None:
        """The handlers of an event of ``size`` bytes are done with it."""
        self.held_bytes -= size
        self._space.set()
