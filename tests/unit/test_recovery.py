"""Recovery of a lost worker's legs: parsing the switch's answers and deciding (pure)."""

from __future__ import annotations

import json

import pytest

from fsworker.core.recovery import (
    Action,
    AfterCut,
    FoundLeg,
    RecoveryError,
    after_cut,
    decide,
    parse_channel_uuids,
    parse_dump,
)


def dump(uuid: str, *, task: str | None = "7", role: str = "employee", bridged: int = 0, other: str | None = None,
         answered: int = 0, state: str = "ACTIVE") -> str:
    d = {"Event-Name": "CHANNEL_DATA", "Unique-ID": uuid, "Channel-Name": f"sofia/internal/{uuid}",
         "Channel-Call-State": state, "Caller-Channel-Answered-Time": str(answered),
         "Caller-Channel-Bridged-Time": str(bridged), "Caller-Channel-Hangup-Time": "0",
         "Event-Date-Timestamp": "1000"}
    if task is not None:
        d |= {"variable_fsw_task_id": task, "variable_fsw_attempt": "2", "variable_fsw_role": role}
    if other:
        d["Other-Leg-Unique-ID"] = other
    return json.dumps(d)


def leg(uuid: str, role: str, *, bridged: int = 0, other: str | None = None) -> FoundLeg:
    return FoundLeg(uuid=uuid, task_id=7, attempt=2, role=role, endpoint="", answered_us=1, bridged_us=bridged,
                    other_uuid=other, dumped_us=5)


def test_channel_list_keeps_outbound_rows_only() -> None:
    body = json.dumps({"row_count": 2, "rows": [{"uuid": "a", "direction": "inbound"},
                                                 {"uuid": "b", "direction": "outbound"}]})
    assert parse_channel_uuids(body) == ["b"]
    assert parse_channel_uuids('{"row_count": 0}\n') == []


def test_channel_list_that_is_not_json_is_a_typed_error() -> None:
    with pytest.raises(RecoveryError, match="not JSON"):
        parse_channel_uuids("-ERR oops")


def test_dump_reads_tags_and_bridge() -> None:
    got = parse_dump(dump("c1", role="customer", bridged=900, other="e1", answered=800))
    assert got == FoundLeg(uuid="c1", task_id=7, attempt=2, role="customer", endpoint="sofia/internal/c1",
                           answered_us=800, bridged_us=900, other_uuid="e1", dumped_us=1000)


@pytest.mark.parametrize("text", [dump("x", task=None), dump("x", task="7; rm"), "-ERR No such channel!\n",
                                  "{not json", dump("x", state="HANGUP")])
def test_dump_of_a_foreign_gone_or_garbled_channel_is_none(text: str) -> None:
    assert parse_dump(text) is None


def test_nothing_up_means_dial_as_usual() -> None:
    assert decide([]).action is Action.NOTHING


def test_bridged_customer_and_employee_are_adopted_and_strays_hung_up() -> None:
    emp, cust, stray = leg("e1", "employee", bridged=9, other="c1"), leg("c1", "customer", bridged=9, other="e1"), \
        leg("e2", "employee")
    r = decide([emp, stray, cust])
    assert r.action is Action.ADOPT and r.employee == emp and r.customer == cust and r.hang_up == (stray,)


def test_customer_rung_but_not_bridged_counts_the_attempt() -> None:
    r = decide([leg("e1", "employee"), leg("c1", "customer")])
    assert r.action is Action.HANG_UP_COUNT and {x.uuid for x in r.hang_up} == {"e1", "c1"}


def test_only_employee_legs_are_hung_up_and_the_attempt_goes_on() -> None:
    r = decide([leg("e1", "employee"), leg("e2", "")])
    assert r.action is Action.HANG_UP_GO_ON and len(r.hang_up) == 2


def test_customer_bridged_to_a_leg_not_of_the_task_is_not_adopted() -> None:
    r = decide([leg("c1", "customer", bridged=9, other="someone-else")])
    assert r.action is Action.HANG_UP_COUNT


def test_after_a_cut_during_uuid_bridge_the_legs_decide() -> None:
    emp, cust = leg("e", "employee"), leg("c", "customer")
    assert after_cut("e", "c", emp, cust) is AfterCut.BRIDGE_AGAIN
    assert after_cut("e", "c", None, cust) is AfterCut.GONE
    assert after_cut("e", "c", emp, None) is AfterCut.GONE
    both = (leg("e", "employee", bridged=5, other="c"), leg("c", "customer", bridged=5, other="e"))
    assert after_cut("e", "c", *both) is AfterCut.BRIDGED
    # bridged, but to someone else: bridge ours together
    elsewhere = leg("c", "customer", bridged=5, other="x")
    assert after_cut("e", "c", both[0], elsewhere) is AfterCut.BRIDGE_AGAIN
