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
from collections.abc import Callable
from dataclasses import dataclass, field

import gevent
import gevent.event

from fsworker.esl.frames import Event

log = logging.getLogger(__name__)

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
            st.completed.append(
                (
                    ev.get("Application", "") or "",
                    ev.get("Application-UUID", "") or "",
                    ev.get("Application-Response", "") or "",
                )
            )
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

    def reconcile(self, existing: set[str]) -> list[str]:
        """After a reconnect: legs we follow that the switch no longer has ended while
        we could not see it (a restarted switch drops every call). They are marked hung
        up at the last time we saw them, and their attempts woken. Returns their UUIDs."""
        gone: list[str] = []
        for legs in set(self._by_key.values()) | set(self._by_uuid.values()):
            for st in legs.legs.values():
                if st.created_us and not st.hangup_us and st.uuid not in existing:
                    st.hangup_us = max(st.last_us, st.bridged_us, st.answered_us, st.created_us, 1)
                    st.cause = "LOST_WITH_LINK"
                    gone.append(st.uuid)
                    log.warning("task %s attempt %s: leg %s vanished while the link was down",
                                legs.task_id, legs.attempt, st.uuid)
            legs.poke()
        return gone

    def poke_all(self) -> None:
        for legs in set(self._by_key.values()):
            legs.poke()
