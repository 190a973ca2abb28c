"""The call facts a hint template can use (R6), and the filters that present them.

Rules: facts are plain strings / ints / one aware datetime, never None (a missing fact
is ""), so templates can test ``{% if site %}`` and StrictUndefined still catches a
misspelt name. Facts come from the switch and are untrusted: they are only ever
rendered into text that ``actions.sanitize_text`` cleans before it reaches the switch.
Names available to templates:

  customer_number  as recorded, e.g. "79161234567"
  customer_digits  the same, digit by digit: "7 9 1 6 1 2 3 4 5 6 7"
  virtual_number   the number the customer dialled
  site, campaign, scenario, caller_name, rule
  attempt          1-based attempt number
  lost_at          time of loss, an aware datetime in the configured time zone
  lost_time        lost_at as "%H:%M" (configurable), lost_date as "%d.%m.%Y"

Filters: ``digits`` (any value -> its digits separated by spaces), ``strftime(fmt)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fsworker.core.errors import ValidationError

if TYPE_CHECKING:
    from fsworker.core.calls import LostCall

MAX_FACT_CHARS = 200  # a "site" of a megabyte is not a fact worth speaking


def digits(value: object) -> str:
    """"+7 (916) 123" -> "7 9 1 6 1 2 3": for TTS to read a number digit by digit."""
    return " ".join(ch for ch in str(value) if ch.isdigit() and ch.isascii())


def strftime(value: object, fmt: str = "%H:%M") -> str:
    if not isinstance(value, datetime):
        return str(value)
    return value.strftime(str(fmt)[:50])


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("prompt.timezone", name, "an IANA time zone such as Europe/Moscow") from None


def _s(value: object) -> str:
    return "" if value is None else str(value)[:MAX_FACT_CHARS]


@dataclass(frozen=True, kw_only=True, slots=True)
class HintFacts:
    call_uuid: str
    customer_number: str
    lost_at: datetime  #: aware; converted to the display zone by ``from_call``
    attempt: int = 1
    virtual_number: str = ""
    site: str = ""
    campaign: str = ""
    scenario: str = ""
    caller_name: str = ""
    rule: str = ""
    time_format: str = "%H:%M"
    date_format: str = "%d.%m.%Y"
    task_id: int | None = None  #: for log lines; not a fact templates can use

    def __post_init__(self) -> None:
        if self.lost_at.tzinfo is None:
            raise ValidationError("facts.lost_at", self.lost_at, "must be timezone-aware")
        for name in ("customer_number", "virtual_number", "site", "campaign", "scenario", "caller_name", "rule"):
            object.__setattr__(self, name, _s(getattr(self, name)))

    @classmethod
    def from_call(cls, call: LostCall, *, rule_name: str = "", attempt: int = 1, tz: str = "UTC",
                  time_format: str = "%H:%M", date_format: str = "%d.%m.%Y",
                  task_id: int | None = None) -> HintFacts:
        return cls(
            task_id=task_id,
            call_uuid=call.call_uuid,
            customer_number=_s(call.customer_number),
            lost_at=call.lost_at.astimezone(time_zone(tz)),
            attempt=attempt,
            virtual_number=_s(call.virtual_number),
            site=_s(call.site),
            campaign=_s(call.campaign),
            scenario=_s(call.scenario),
            caller_name=_s(call.caller_name),
            rule=_s(rule_name),
            time_format=time_format,
            date_format=date_format,
        )

    @classmethod
    def sample(cls) -> HintFacts:
        """Every fact filled, for checking a template when a rule is saved."""
        return cls(
            call_uuid="00000000-0000-0000-0000-000000000000",
            customer_number="79161234567",
            lost_at=datetime(2026, 11, 28, 16, 25, tzinfo=UTC),
            attempt=1,
            virtual_number="74950000001",
            site="shop.example.com",
            campaign="cpc-42",
            scenario="sales",
            caller_name="Ivan",
            rule="sample rule",
        )

    def context(self) -> dict[str, Any]:
        return {
            "customer_number": self.customer_number,
            "customer_digits": digits(self.customer_number),
            "virtual_number": self.virtual_number,
            "site": self.site,
            "campaign": self.campaign,
            "scenario": self.scenario,
            "caller_name": self.caller_name,
            "rule": self.rule,
            "attempt": self.attempt,
            "lost_at": self.lost_at,
            "lost_time": self.lost_at.strftime(self.time_format),
            "lost_date": self.lost_at.strftime(self.date_format),
        }
