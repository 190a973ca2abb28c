"""Callbacks asked for over HTTP (POST /api/v1/callbacks): the body as a typed value,
and the lost call it stands for.

Rules: pure; everything in the body is untrusted. Each field is checked here and a bad
one raises ValidationError naming the field, the value and the limit; the resulting
LostCall has the loss place ``request`` and goes through the same intake as any lost
call (rules, blacklist, D1, the master switch). The idempotency key becomes the lost
call's UUID (``api:<key>``), so a repeated request is taken in once, like an event the
switch sent twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fsworker.core.calls import LossPlace, LostCall
from fsworker.core.errors import ValidationError
from fsworker.core.names import check_ident, check_name
from fsworker.core.numbering import NO_REGION, NumberPlan

#: lost_calls.call_uuid holds 64 characters; "api:" takes 4
MAX_KEY_LEN = 60
_KEY_RE = re.compile(rf"[A-Za-z0-9._~\-]{{1,{MAX_KEY_LEN}}}")
CALL_UUID_PREFIX = "api:"
FIELDS = ("customer_number", "company_number", "rule", "not_before", "site", "campaign", "idempotency_key")


@dataclass(frozen=True, kw_only=True, slots=True)
class CallbackRequest:
    customer_number: str  #: whom to call back
    company_number: str | None = None  #: the DID to show the customer (the lost call's virtual number)
    rule: str | None = None  #: call back under this rule instead of matching one
    not_before: datetime | None = None  #: no attempt before this instant
    site: str | None = None
    campaign: str | None = None
    idempotency_key: str

    @property
    def call_uuid(self) -> str:
        return CALL_UUID_PREFIX + self.idempotency_key


def _opt_str(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(name, value, "a string")
    return value


def parse_callback_request(body: object, numbers: NumberPlan = NO_REGION) -> CallbackRequest:
    """The JSON body of POST /api/v1/callbacks, checked field by field. ``numbers``
    reads the two numbers as the intake reads the switch's ([numbers] region): any
    spelling, kept as its E.164 identity."""
    if not isinstance(body, Mapping):
        raise ValidationError("body", type(body).__name__, "a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ValidationError(unknown[0], body[unknown[0]], f"unknown field; allowed: {', '.join(FIELDS)}")
    customer = body.get("customer_number")
    if customer is None:
        raise ValidationError("customer_number", None, "required: the number to call back")
    customer = numbers.normalize(customer, "customer_number")
    company = _opt_str(body, "company_number")
    if company is not None:
        company = numbers.normalize(company, "company_number")
    key = body.get("idempotency_key")
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValidationError("idempotency_key", key,
                              f"required: 1..{MAX_KEY_LEN} of letters, digits and . _ ~ - (the same key, the same request)")
    rule = _opt_str(body, "rule")
    if rule is not None:
        check_name("rule", rule)
    site = _opt_str(body, "site")
    if site is not None:
        check_ident("site", site)
    campaign = _opt_str(body, "campaign")
    if campaign is not None:
        check_ident("campaign", campaign)
    not_before = None
    raw = _opt_str(body, "not_before")
    if raw is not None:
        try:
            not_before = datetime.fromisoformat(raw)
        except ValueError:
            raise ValidationError("not_before", raw, "an ISO 8601 time with its offset, e.g. 2026-12-07T10:00:00+03:00") from None
        if not_before.tzinfo is None:
            raise ValidationError("not_before", raw, "an ISO 8601 time with its offset (+03:00 or Z)")
        not_before = not_before.astimezone(UTC)
    return CallbackRequest(customer_number=customer, company_number=company, rule=rule, not_before=not_before,
                           site=site, campaign=campaign, idempotency_key=key)


def requested_lost_call(req: CallbackRequest, *, now: datetime, node: str = "api") -> LostCall:
    """The lost call a request stands for: place ``request``, no wait, nobody rung."""
    return LostCall(call_uuid=req.call_uuid, customer_number=req.customer_number,
                    virtual_number=req.company_number, site=req.site, campaign=req.campaign,
                    place=LossPlace.REQUEST, lost_at=now, waited_s=0.0, node=node)
