"""The channel variables every leg of an attempt is originated with (one list for both roles)."""

from __future__ import annotations

import pytest

from fsworker.core.prompts import PromptAction, PromptKind
from fsworker.core.strategies import DialPlan, DialStep
from fsworker.esl.proto import commands
from fsworker.esl.proto.errors import LocalProtocolError
from fsworker.service.callflow import AttemptRequest, originate_variables


def request(attempt_id: int | None = 31, caller_id: str = "74950000001") -> AttemptRequest:
    return AttemptRequest(
        task_id=7, attempt=2, attempt_id=attempt_id, customer_number="79161234567",
        customer_endpoint="sofia/gateway/pstn/79161234567", customer_caller_id=caller_id,
        plan=DialPlan(steps=(DialStep(endpoints=("user/101",), ring_timeout_s=20),), strategy="group"),
        prompt=PromptAction(kind=PromptKind.SPEAK, engine="flite", voice="slt", text="hello"),
    )


def test_employee_and_customer_legs_carry_the_same_tags() -> None:
    req = request()
    emp = originate_variables(req, role="employee", caller_id_number="79161234567", caller_id_name="Callback",
                              ring_timeout_s=20)
    cust = originate_variables(req, role="customer", uuid="c0ffee00-0000-4000-8000-000000000001",
                               caller_id_number="74950000001", caller_id_name="74950000001", ring_timeout_s=40)
    tags = [("fsw_task_id", "7"), ("fsw_attempt", "2"), ("fsw_attempt_id", "31")]
    for variables, role in ((emp, "employee"), (cust, "customer")):
        assert all(tag in variables for tag in tags) and ("fsw_role", role) in variables
        assert ("ignore_early_media", "true") in variables
    assert cust[0] == ("origination_uuid", "c0ffee00-0000-4000-8000-000000000001")
    assert ("originate_timeout", "20") in emp and ("originate_timeout", "40") in cust
    assert commands.originate_arg("user/101", variables=emp).startswith(
        "{fsw_task_id=7,fsw_attempt=2,fsw_role=employee,fsw_attempt_id=31,origination_caller_id_number=79161234567,"
    )


def test_no_attempt_id_no_tag() -> None:
    variables = originate_variables(request(attempt_id=None), role="employee", caller_id_number="1",
                                    caller_id_name="x", ring_timeout_s=5)
    assert all(name != "fsw_attempt_id" for name, _ in variables)


def test_a_hostile_caller_id_name_is_refused_by_the_builder() -> None:
    variables = originate_variables(request(), role="employee", caller_id_number="79161234567",
                                    caller_id_name="x}user/666", ring_timeout_s=20)
    with pytest.raises(LocalProtocolError, match="origination_caller_id_name"):
        commands.originate_arg("user/101", variables=variables)
