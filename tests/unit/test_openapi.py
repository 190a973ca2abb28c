"""The callbacks API's OpenAPI document is valid OpenAPI 3.1 and describes what the
code accepts (the request fields) and answers (the Callback fields)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from openapi_spec_validator import validate

from fsworker.core.outcomes import TaskStatus
from fsworker.core.requests import FIELDS
from fsworker.service.api import OPENAPI_PATH, task_json
from fsworker.store.queue import TaskView

DOC = json.loads(OPENAPI_PATH.read_text())


def test_the_document_is_valid_openapi() -> None:
    validate(DOC)


def test_request_fields_match_the_parser() -> None:
    schema = DOC["components"]["schemas"]["CallbackRequest"]
    assert sorted(schema["properties"]) == sorted(FIELDS)
    assert schema["additionalProperties"] is False


def test_callback_fields_match_what_the_api_renders() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    view = TaskView(task_id=1, customer_number="79161234567", rule_name="r", status=TaskStatus.PENDING, attempt_no=0,
                    due_at=now, lease_owner=None, lease_expires_at=None, end_reason=None, created_at=now, ended_at=None)
    schema = DOC["components"]["schemas"]["Callback"]
    assert sorted(task_json(view)) == sorted(schema["properties"]) == sorted(schema["required"])
