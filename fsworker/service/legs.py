"""Following fsworker's own legs: what the call flow waits for.

Rules: fed with every channel event of one switch; keeps state only for legs of
attempts that registered interest (by ``fsw_task_id`` + ``fsw_attempt`` channel
variables, or by a leg UUID fsworker chose), so other traffic costs one dict lookup.
Times come from the switch's event timestamps (µs), never from the worker's clock.
Waiting is done with gevent events owned by the ``AttemptLegs`` object; the state
updates themselves are plain code, testable by feeding parsed trace events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import gevent
import gevent.event

from fsworker.esl.proto.frames import Event

log = logging.getLogger(__name__)

#: cause of a leg that vanished while the link to its switch was down
LOST_WITH_LINK = "LOST_WITH_LINK"

WATCHED_EVENTS = frozenset(
    {
        "CHANNEL_CREATE",
        "CHANNEL_PROGRESS",
        "CHANNEL_ANSWER",
        "CHANNEL_BRIDGE",
        "CHANNEL_UNBRIDGE",
        "CHANNEL_EXECUTE",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_DESTROY",
    }
)


@dataclass
class LegState:
    uuid: str
    endpoint: str = ""
    created_us: int = 0
    answered_us: int = 0
    bridged_us: int = 0
    bridged_to: str | None = None
    hangup_us: int = 0
    cause: str = ""
    last_us: int = 0  #: switch time of the latest event seen for the leg
    last_local: float = 0.0  #: our monotonic time when that event arrived
    awaiting: str = ""  #: an application we started on the leg and wait to finish
    # (Application, Application-UUID, Application-Response) of finished applications.
    completed: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def up(self) -> bool:
        return self.created_us > 0 and self.hangup_us == 0


class AttemptLegs:
    """The legs of one attempt (task id + attempt number), and a way to wait on them."""

    def __init__(self, task_id: int, attempt: int) -> None:
        self.task_id = task_id
        self.attempt = attempt
        self.legs: dict[str, LegState] = {}
        self.bridge_requested = False  #: uuid_bridge was sent: the call may be bridged
        self._changed = gevent.event.Event()

    def leg(self, uuid: str) -> LegState:
        st = self.legs.get(uuid)
        if st is None:
            st = self.legs[uuid] = LegState(uuid=uuid)
        return st

    def apply(self, ev: Event) -> None:
        uuid = ev.uuid
        if not uuid:
            return
        st = self.leg(uuid)
        name = ev.name
        ts = ev.timestamp_us
        st.last_us = max(st.last_us, ts)
        st.last_local = time.monotonic()
        if name == "CHANNEL_CREATE":
            st.created_us = st.created_us or ts
            st.endpoint = ev.get("Channel-Name", "") or ""
        elif name == "CHANNEL_ANSWER":
            st.answered_us = st.answered_us or ts
            st.created_us = st.created_us or ts
        elif name == "CHANNEL_BRIDGE":
            st.bridged_us = st.bridged_us or ts
            other = ev.get("Other-Leg-Unique-ID") or ev.get("Bridge-B-Unique-ID")
            st.bridged_to = other
            if other:
                o = self.leg(other)
                o.bridged_us = o.bridged_us or ts
                o.bridged_to = uuid
        elif name == "CHANNEL_EXECUTE_COMPLETE":
            app = ev.get("Application", "") or ""
            st.completed.append((app, ev.get("Application-UUID", "") or "", ev.get("Application-Response", "") or ""))
            if app == st.awaiting:
                st.awaiting = ""
        elif name in ("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY") and not st.hangup_us:
            st.hangup_us = ts or 1
            st.cause = ev.get("Hangup-Cause", "") or ""
        self._changed.set()

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block the calling greenlet until ``predicate()`` holds or ``timeout`` passes."""
        deadline = None if timeout is None else gevent.get_hub().loop.now() + timeout
        while not predicate():
            remaining = None if deadline is None else deadline - gevent.get_hub().loop.now()
            if remaining is not None and remaining <= 0:
                return False
            self._changed.clear()
            if predicate():
                return True
            self._changed.wait(remaining)
        return True

    def poke(self) -> None:
        """Wake waiters (e.g. the link dropped or the task was cancelled)."""
        self._changed.set()


class LegWatcher:
    """Routes channel events of one switch to the attempts that registered for them."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], AttemptLegs] = {}
        self._by_uuid: dict[str, AttemptLegs] = {}
        self._link_lost_at: float | None = None  #: monotonic time the link last dropped

    def register(self, legs: AttemptLegs, *uuids: str) -> None:
        self._by_key[(str(legs.task_id), str(legs.attempt))] = legs
        for u in uuids:
            self._by_uuid[u] = legs

    def add_uuid(self, legs: AttemptLegs, uuid: str) -> None:
        self._by_uuid[uuid] = legs

    def unregister(self, legs: AttemptLegs) -> None:
        self._by_key.pop((str(legs.task_id), str(legs.attempt)), None)
        for u in [u for u, v in self._by_uuid.items() if v is legs]:
            del self._by_uuid[u]

    def feed(self, ev: Event) -> None:
        if ev.name not in WATCHED_EVENTS or not (self._by_key or self._by_uuid):
            return
        target = self._by_uuid.get(ev.uuid or "")
        if target is None:
            task = ev.variable("fsw_task_id")
            if task is None:
                return
            target = self._by_key.get((task, ev.variable("fsw_attempt") or ""))
            if target is None:
                return
            self._by_uuid[ev.uuid or ""] = target
        target.apply(ev)

    def link_lost(self) -> None:
        """The link to the switch dropped: events from now on may be missed."""
        self._link_lost_at = time.monotonic()

    def reconcile(self, existing: Mapping[str, str]) -> list[str]:
        """After a reconnect, with the switch's channels (UUID -> the application each
        runs now). A leg the switch no longer has ended unseen (a restarted switch drops
        every call): it is marked hung up with cause LOST_WITH_LINK, at the moment the
        link dropped (the call was up until then, as far as we know). An application we
        waited for that is no longer running finished unseen. Waiters are woken.
        Returns the UUIDs of the vanished legs."""
        gone: list[str] = []
        lost_at = self._link_lost_at
        for legs in set(self._by_key.values()) | set(self._by_uuid.values()):
            for st in legs.legs.values():
                if not st.created_us or st.hangup_us:
                    continue
                if st.uuid not in existing:
                    unseen_s = max(0.0, lost_at - st.last_local) if lost_at and st.last_local else 0.0
                    st.hangup_us = max(st.last_us + int(unseen_s * 1e6), st.bridged_us, st.answered_us,
                                       st.created_us, 1)
                    st.cause = LOST_WITH_LINK
                    gone.append(st.uuid)
                    log.warning("task %s attempt %s: leg %s vanished while the link was down",
                                legs.task_id, legs.attempt, st.uuid)
                elif st.awaiting and existing[st.uuid] != st.awaiting:
                    log.info("task %s attempt %s: %s on leg %s finished while the link was down",
                             legs.task_id, legs.attempt, st.awaiting, st.uuid)
                    st.completed.append((st.awaiting, "", "reconciled"))
                    st.awaiting = ""
            legs.poke()
        return gone

    def poke_all(self) -> None:
        for legs in set(self._by_key.values()):
            legs.poke()
