"""Shared helpers for the detector tests: recorded traces as events, synthetic events."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from urllib.parse import quote

from fsworker.core.calls import Contact, LostCall
from fsworker.core.catalog import Catalog
from fsworker.core.detector import Detector, IgnoredCall, Outcome
from fsworker.core.model import Employee
from fsworker.esl.proto.frames import Event
from fsworker.esl.proto.parser import parse_all
from tests.conftest import trace_bytes

CUSTOMER = "79161234567"

CATALOG = Catalog(
    employees=(
        Employee(name="anna", endpoints=("user/101",)),
        Employee(
            name="boris", endpoints=("sofia/internal/102@pbx",)
        ),  # matched without host
        Employee(name="vera", endpoints=("user/103",)),
        Employee(name="gleb", endpoints=("user/105",)),
        Employee(name="dina", endpoints=("user/106",)),
    )
)


@functools.cache
def trace_events(name: str) -> tuple[Event, ...]:
    """Every event of a recorded trace, in delivery order (parsed from the real bytes)."""
    return tuple(f.event for f in parse_all(trace_bytes(name)) if f.is_event)


def new_detector(**kwargs: object) -> Detector:
    return Detector(CATALOG.employee_by_endpoint, node="test", **kwargs)  # type: ignore[arg-type]


def run(events: Iterable[Event], detector: Detector | None = None) -> list[Outcome]:
    det = detector or new_detector()
    out: list[Outcome] = []
    for ev in events:
        out.extend(det.feed(ev))
    return out


def lost(outcomes: list[Outcome]) -> list[LostCall]:
    return [o for o in outcomes if isinstance(o, LostCall)]


def contacts(outcomes: list[Outcome]) -> list[Contact]:
    return [o for o in outcomes if isinstance(o, Contact)]


def ignored(outcomes: list[Outcome]) -> list[IgnoredCall]:
    return [o for o in outcomes if isinstance(o, IgnoredCall)]


def make_event(**headers: str | int) -> Event:
    """A text/event-plain event from keyword headers (``Unique_ID`` -> ``Unique-ID``;
    ``variable_x`` keeps its underscore)."""
    lines = []
    for key, value in headers.items():
        name = key if key.startswith("variable_") else key.replace("_", "-")
        lines.append(f"{name}: {quote(str(value), safe='')}")
    return Event.from_plain(("\n".join(lines) + "\n\n").encode())


def fact_key(call: LostCall) -> tuple[object, ...]:
    """The facts a robustness test compares (the wait separately, with a tolerance)."""
    return (
        call.call_uuid,
        call.customer_number,
        call.virtual_number,
        call.scenario,
        call.place,
        tuple(
            (r.destination, r.ring_group)
            for r in sorted(call.rung, key=lambda r: (r.ring_group, r.destination))
        ),
        None
        if call.transfer is None
        else (
            call.transfer.kind,
            call.transfer.transferrer_employee,
            call.transfer.target_employee,
        ),
    )
