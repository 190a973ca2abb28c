"""Conversions between fsworker values and table rows / JSON columns.

Rules: pure functions, no database access. A row read back always goes through the
model's constructor, so a value that violates today's validation fails loudly here
instead of deep inside the dispatcher.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time
from typing import Any

from fsworker.core.calls import LossPlace, LostCall, RungLeg, TransferKind, TransferPhase
from fsworker.core.model import (
    Hint,
    HintKind,
    Rule,
    ScheduleException,
    TimeWindow,
    strategy_kind,
)


def rule_to_row(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "position": rule.position,
        "place": rule.place.value,
        "place_value": rule.place_value,
        "strategy": str(rule.strategy),
        "target": rule.target,
        "hint_kind": rule.hint.kind.value,
        "hint_text": rule.hint.text,
        "hint_language": rule.hint.language,
        "callback_schedule": rule.callback_schedule,
        "applies_schedule": rule.applies_schedule,
        "intervals": list(rule.intervals),
        "min_wait_s": rule.min_wait_s,
        "max_concurrent": rule.max_concurrent,
        "enabled": rule.enabled,
    }


def rule_from_row(row: Mapping[str, Any]) -> Rule:
    return Rule(
        name=row["name"],
        place=LossPlace(row["place"]),
        place_value=row["place_value"],
        strategy=strategy_kind(row["strategy"]),
        target=row["target"],
        hint=Hint(kind=HintKind(row["hint_kind"]), text=row["hint_text"], language=row["hint_language"]),
        callback_schedule=row["callback_schedule"],
        applies_schedule=row["applies_schedule"],
        intervals=tuple(int(i) for i in row["intervals"]),
        min_wait_s=row["min_wait_s"],
        max_concurrent=row["max_concurrent"],
        enabled=bool(row["enabled"]),
        position=row["position"],
    )


def windows_to_json(windows: tuple[TimeWindow, ...]) -> list[list[str]]:
    return [[w.start.isoformat(), w.end.isoformat()] for w in windows]


def exception_from_row(day: Any, windows: list[list[str]]) -> ScheduleException:
    return ScheduleException(
        day=day,
        windows=tuple(TimeWindow(start=time.fromisoformat(a), end=time.fromisoformat(b)) for a, b in windows),
    )


def _leg_to_json(leg: RungLeg) -> dict[str, Any]:
    return {
        "uuid": leg.uuid,
        "endpoint": leg.endpoint,
        "destination": leg.destination,
        "employee": leg.employee,
        "ring_group": leg.ring_group,
        "started_us": leg.started_us,
        "ended_us": leg.ended_us,
        "cause": leg.cause,
        "answered": leg.answered,
    }


def lost_call_to_json(call: LostCall) -> dict[str, Any]:
    """Everything the detector learnt about the call, for strategies and the CLI."""
    t = call.transfer
    return {
        "call_uuid": call.call_uuid,
        "customer_number": call.customer_number,
        "virtual_number": call.virtual_number,
        "scenario": call.scenario,
        "site": call.site,
        "campaign": call.campaign,
        "place": call.place.value,
        "lost_at": call.lost_at.isoformat(),
        "waited_s": call.waited_s,
        "hangup_cause": call.hangup_cause,
        "rung": [_leg_to_json(leg) for leg in call.rung],
        "transfer": None
        if t is None
        else {
            "kind": t.kind.value,
            "transferrer_endpoint": t.transferrer_endpoint,
            "transferrer_employee": t.transferrer_employee,
            "target_endpoint": t.target_endpoint,
            "target_employee": t.target_employee,
            "target_destination": t.target_destination,
        },
        "caller_name": call.caller_name,
        "node": call.node,
        "reconciled": call.reconciled,
    }


def lost_call_from_json(data: Mapping[str, Any]) -> LostCall:
    t = data.get("transfer")
    return LostCall(
        call_uuid=data["call_uuid"],
        customer_number=data["customer_number"],
        virtual_number=data.get("virtual_number"),
        scenario=data.get("scenario"),
        site=data.get("site"),
        campaign=data.get("campaign"),
        place=LossPlace(data.get("place", "number")),
        lost_at=datetime.fromisoformat(data["lost_at"]),
        waited_s=float(data.get("waited_s", 0.0)),
        hangup_cause=data.get("hangup_cause", ""),
        rung=tuple(RungLeg(**leg) for leg in data.get("rung", ())),
        transfer=None if t is None else TransferPhase(**{**t, "kind": TransferKind(t["kind"])}),
        caller_name=data.get("caller_name"),
        node=data.get("node", "default"),
        reconciled=bool(data.get("reconciled", False)),
    )
