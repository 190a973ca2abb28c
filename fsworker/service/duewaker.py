"""When an idle dispatcher looks for due work again: at the earliest due time, or when told.

Rules:
- No polling for due work. After a claim that found nothing, the claimer sleeps until
  the earliest moment a task can next become claimable (a pending task's ``due_at``, an
  active task's lease expiry) and is woken earlier by ``wake()``: a lost call taken in,
  an attempt ended (its rule slot is free again), shutdown; and, across processes on
  PostgreSQL, by a NOTIFY on ``fsworker_tasks`` (migration 0006 fires it when a task
  becomes pending, changes due time, or leaves ``active``).
- A wake-up that names a due time (a new task; since migration 0007 a NOTIFY's payload)
  ends only a sleep planned to last past it: lost calls due in minutes, at 100 a
  second, must not make 100 empty claims a second. A freed rule slot names none.
- ``arm()`` comes before the claim, so a wake-up during the claim is never lost: a due
  time announced then bounds the next sleep (the store's answer may predate the task).
- A backstop: no sleep is longer than ``max_sleep_s`` (``worker.poll_interval_s``),
  for what nothing announces (the master switch or a cap changed, a SQLite writer in
  another process, a NOTIFY lost while the listener reconnects).
- The store failing to answer "when next?" is logged and the backstop applies; the
  listener reconnects on its own. Both only ever make the claimer look sooner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import gevent
import gevent.event
import gevent.socket

from fsworker.core.clock import Clock
from fsworker.store.errors import StoreError
from fsworker.store.notify import CHANNEL, TaskNotifications

log = logging.getLogger(__name__)

# Timers may fire a hair early; a claim at due_at - ε would find nothing and sleep again.
_AFTER_DUE_S = 0.002


class DueWaker:
    """The claimer's sleep: ``arm()``, claim, and if nothing was claimed, ``wait()``."""

    def __init__(
        self, *, next_due: Callable[[datetime], datetime | None], clock: Clock, max_sleep_s: float
    ) -> None:
        self._next_due = next_due
        self._clock = clock
        self.max_sleep_s = max_sleep_s
        self._event = gevent.event.Event()
        self._until: datetime | None = None  #: while sleeping: when it will look again
        self._hint: datetime | None = None  #: earliest due time announced since arm()

    def wake(self, due_at: datetime | None = None) -> None:
        """Something may be claimable: end the current (or the next) wait. ``due_at``:
        the task that changed falls due only then, so a claimer already sleeping until
        no later than that sleeps on (100 lost calls a second, each due in minutes,
        must not cost 100 empty claims a second)."""
        if due_at is None:
            self._event.set()
            return
        if self._until is not None:
            if due_at < self._until:
                self._event.set()
            return
        # Claiming, or reading the next due time: that read may have missed this task.
        self._hint = due_at if self._hint is None else min(self._hint, due_at)

    def arm(self) -> None:
        """Call before looking for work: any ``wake()`` from here on cuts the next wait short."""
        self._event.clear()
        self._hint = None

    def wait(self) -> float:
        """Sleep until the next due time, a wake-up or the backstop; returns the planned sleep."""
        now = self._clock.now()
        timeout = self.max_sleep_s
        try:
            nxt = self._next_due(now)
        except StoreError as exc:
            log.warning("next due time unknown, looking again within %.2fs: %s", timeout, exc)
            nxt = None
        for due in (nxt, self._hint):
            if due is not None:
                timeout = min(timeout, max(0.0, (due - now).total_seconds()) + _AFTER_DUE_S)
        self._hint = None
        self._until = now + timedelta(seconds=timeout)
        try:
            self._event.wait(timeout)
        finally:
            self._until = None
        return timeout


class TaskChangeListener:
    """Listens for task changes from every process (PostgreSQL) and calls ``on_change``
    for each batch of notifications with the earliest due time they announce (None: a
    rule slot freed, or unknown: look now), and once with None after each (re)connect: a
    change may have been missed meanwhile."""

    def __init__(self, engine: Any, on_change: Callable[[datetime | None], None], *, retry_s: float = 1.0) -> None:
        self._engine = engine
        self._on_change = on_change
        self.retry_s = retry_s
        self._greenlet: gevent.Greenlet | None = None
        self.listening = gevent.event.Event()  #: set while LISTEN is in effect

    def start(self) -> TaskChangeListener:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)
        return self

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=2)
            self._greenlet = None

    def _run(self) -> None:
        failing = False
        while True:
            notes = None
            try:
                notes = TaskNotifications(self._engine)
                self.listening.set()
                failing = False
                self._on_change(None)
                while True:
                    gevent.socket.wait_read(notes.fileno())
                    changes = notes.drain()
                    if changes:
                        self._on_change(changes.earliest)
            except (StoreError, OSError) as exc:
                # Once per outage at WARNING: a database away for an hour is not 3,600 lines.
                log.log(logging.DEBUG if failing else logging.WARNING,
                        "LISTEN %s: %s; again every %.0fs (meanwhile idle workers look every poll interval)",
                        CHANNEL, exc, self.retry_s)
                failing = True
            finally:
                self.listening.clear()
                if notes is not None:
                    notes.close()
            gevent.sleep(self.retry_s)
