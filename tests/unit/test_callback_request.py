"""Requested callbacks (issue 16): the dialplan sets fsw_callback_request=true on the
customer's leg and hangs up; the detector reports a lost call with place ``request``;
rules match it by that place and "waited too little" does not apply."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fsworker.core.calls import LossPlace, LostCall
from fsworker.core.catalog import Catalog
from fsworker.core.errors import ValidationError
from fsworker.core.model import Group, Rule
from fsworker.core.rules import Accept, Skip, decide, place_matches
from fsworker.esl.proto.frames import Event
from fsworker.esl.proto.parser import parse_all
from tests.conftest import trace_bytes
from tests.unit._detector_helpers import CATALOG, contacts, lost, run


def _requested(trace: str, uuid: str) -> list[Event]:
    """The trace's events, as if the IVR had run set(fsw_callback_request=true) on the
    customer's leg before hanging up: the variable is on its later events."""
    out = []
    seen_vars = False
    for frame in parse_all(trace_bytes(trace)):
        if not frame.is_event:
            continue
        body = frame.body
        ev = frame.event
        if ev.uuid == uuid and ev.get("Event-Name") in ("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE") \
                and b"\nvariable_" in body:
            body = body.replace(b"\nvariable_", b"\nvariable_fsw_callback_request: true\nvariable_", 1)
            seen_vars = True
        out.append(Event.from_plain(body))
    assert seen_vars, "the trace has no hangup event with variables for that leg"
    return out


def test_a_request_in_the_ivr_is_a_lost_call_with_place_request() -> None:
    uuid = "461675c6-afbe-4465-aa21-66d3a9bd3066"  # 06: answered by the PBX's queue, then hung up
    plain = lost(run(_requested("06-lost-in-queue", uuid)))
    [call] = plain
    assert call.call_uuid == uuid
    assert call.place is LossPlace.REQUEST
    assert (call.virtual_number, call.scenario, call.site) == ("74950000003", "support", "help.example.com")


def test_a_request_after_talking_to_an_employee_is_still_honoured() -> None:
    uuid = "7995ff39-50b3-4c5c-a1da-6077c03e0335"  # 05: answered by anna
    out = run(_requested("05-answered-call", uuid))
    assert [c.call_uuid for c in contacts(out)] == [uuid]  # the contact comes first (R17)...
    [call] = lost(out)  # ...then the request, which the contact must not cancel
    assert call.place is LossPlace.REQUEST


def test_without_the_variable_nothing_changes() -> None:
    from tests.unit._detector_helpers import trace_events

    [call] = lost(run(trace_events("06-lost-in-queue")))
    assert call.place is LossPlace.SCENARIO


def _call(**kw: object) -> LostCall:
    base = {"call_uuid": "u1", "customer_number": "79161234567", "virtual_number": "74950000001",
                "lost_at": datetime(2026, 12, 1, 12, tzinfo=UTC), "waited_s": 1.0, "place": LossPlace.REQUEST}
    base.update(kw)
    return LostCall(**base)  # type: ignore[arg-type]


def test_rules_match_requests_by_place_and_ignore_the_wait() -> None:
    request_rule = Rule(name="asked", place=LossPlace.REQUEST, strategy="group", target="g")
    number_rule = Rule(name="by number", place=LossPlace.NUMBER, place_value="74950000001",
                       strategy="group", target="g", min_wait_s=30)
    assert place_matches(request_rule, _call())
    assert not place_matches(request_rule, _call(place=LossPlace.NUMBER))
    # the DID, scenario and site are facts of a requested call too: a number rule covers it
    assert place_matches(number_rule, _call())
    any_rule = Rule(name="any", strategy="group", target="g", min_wait_s=60)
    catalog = Catalog(employees=CATALOG.employees, groups=(Group(name="g", members=("anna",)),),
                      rules=(any_rule.evolve(position=0),))
    got = decide(catalog, _call(waited_s=0.5))
    assert isinstance(got, Accept), got  # waited 0.5 s < 60 s, but the customer asked
    catalog_plain = Catalog(employees=CATALOG.employees, groups=catalog.groups, rules=catalog.rules)
    got = decide(catalog_plain, _call(waited_s=0.5, place=LossPlace.NUMBER))
    assert isinstance(got, Skip)


def test_a_request_rule_has_no_place_value_and_no_min_wait() -> None:
    with pytest.raises(ValidationError) as ei:
        Rule(name="r", place=LossPlace.REQUEST, place_value="x", strategy="last_attempted")
    assert ei.value.field == "rule.place_value"
    with pytest.raises(ValidationError) as ei:
        Rule(name="r", place=LossPlace.REQUEST, strategy="last_attempted", min_wait_s=5)
    assert ei.value.field == "rule.min_wait_s"
