"""NumberPlan (issue 12): real spellings of RU, DE and US numbers to one E.164
identity, what is no number and why, how numbers are written back to the switch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fsworker.config.settings import Severity, build_config
from fsworker.core.calls import LossPlace, LostCall
from fsworker.core.catalog import Catalog
from fsworker.core.errors import InvalidNumberError, ValidationError
from fsworker.core.model import BlacklistEntry, Rule, StrategyKind
from fsworker.core.numbering import DialNumberFormat, NumberPlan, NumberProblem, UnusableNumberError
from fsworker.core.numbers import is_valid_number
from fsworker.core.outcomes import SkipReason
from fsworker.core.requests import parse_callback_request
from fsworker.core.rules import NUMBER_SKIPS, IntakeFacts, Skip, decide
from fsworker.core.strategies import DialSettings

RU, DE, US = NumberPlan(region="RU"), NumberPlan(region="DE"), NumberPlan(region="US")

SPELLINGS = [
    # Russia: trunk prefix 8, country code without '+', the operator's way, national without prefix
    (RU, "+79161234567", "+79161234567"),
    (RU, "79161234567", "+79161234567"),
    (RU, "89161234567", "+79161234567"),
    (RU, "9161234567", "+79161234567"),
    (RU, "+7 (916) 123-45-67", "+79161234567"),
    (RU, "8 (916) 123-45-67", "+79161234567"),
    (RU, "+7 916 123 45 67", "+79161234567"),
    (RU, "8-916-123-45-67", "+79161234567"),
    (RU, "8 (495) 000-00-01", "+74950000001"),
    (RU, "74950000001", "+74950000001"),
    (RU, "8\u00a0916\u00a0123\u00a045\u00a067", "+79161234567"),  # no-break spaces from a spreadsheet
    (RU, "8 10 49 30 1234567", "+49301234567"),  # Russia's international prefix, to Berlin
    (RU, "+49 30 1234567", "+49301234567"),
    # Germany: trunk prefix 0, international prefix 00
    (DE, "030 1234567", "+49301234567"),
    (DE, "030/1234567", "+49301234567"),
    (DE, "+49 (0)30 1234567".replace("(0)", ""), "+49301234567"),
    (DE, "0049 30 1234567", "+49301234567"),
    (DE, "01512 3456789", "+4915123456789"),
    (DE, "+7 916 123-45-67", "+79161234567"),
    # United States: trunk prefix 1, international prefix 011
    (US, "(201) 555-0123", "+12015550123"),
    (US, "201-555-0123", "+12015550123"),
    (US, "1 201 555 0123", "+12015550123"),
    (US, "+1.201.555.0123", "+12015550123"),
    (US, "011 7 916 123 45 67", "+79161234567"),
]


@pytest.mark.parametrize(("plan", "text", "e164"), SPELLINGS, ids=[f"{p.region}:{t}" for p, t, _ in SPELLINGS])
def test_spellings_become_one_e164_identity(plan: NumberPlan, text: str, e164: str) -> None:
    assert plan.normalize(text) == e164
    assert plan.check(text) == (e164, None)
    assert plan.normalize(e164) == e164  # idempotent: stored identities stay


NOT_NUMBERS = [
    (RU, "anonymous", NumberProblem.WITHHELD),
    (RU, "Anonymous", NumberProblem.WITHHELD),
    (RU, "unknown", NumberProblem.WITHHELD),
    (RU, "private", NumberProblem.WITHHELD),
    (RU, "", NumberProblem.WITHHELD),
    (RU, "  ", NumberProblem.WITHHELD),
    (RU, "0000000000", NumberProblem.WITHHELD),  # FreeSWITCH's default caller ID
    (RU, "reception", NumberProblem.NOT_A_NUMBER),
    (RU, "8-800-FLOWERS", NumberProblem.NOT_A_NUMBER),  # letters are not turned into digits
    (RU, "79161234567,user/666", NumberProblem.NOT_A_NUMBER),
    (RU, "{a=b}79161234567", NumberProblem.NOT_A_NUMBER),
    (RU, "++79161234567", NumberProblem.NOT_A_NUMBER),
    (RU, "7916+1234567", NumberProblem.NOT_A_NUMBER),
    (RU, "７９１６１２３４５６７", NumberProblem.NOT_A_NUMBER),  # fullwidth digits
    (RU, "79161234567\n", NumberProblem.NOT_A_NUMBER),
    (RU, "101", NumberProblem.TOO_SHORT),
    (RU, "1234", NumberProblem.TOO_SHORT),
    (RU, "8916123", NumberProblem.TOO_SHORT),
    (RU, "891612345678", NumberProblem.TOO_LONG),
    (RU, "+7 916 123 45 67 89", NumberProblem.TOO_LONG),
    (RU, "7" * 21, NumberProblem.TOO_LONG),
    (RU, "+999 1234567", NumberProblem.UNKNOWN_COUNTRY),
    (DE, "112", NumberProblem.TOO_SHORT),
    (US, "555-0123", NumberProblem.TOO_SHORT),  # local only: no area code
    (US, "201 555 0123 4567", NumberProblem.TOO_LONG),
]


@pytest.mark.parametrize(("plan", "text", "problem"), NOT_NUMBERS,
                         ids=[f"{p.region}:{t!r}" for p, t, _ in NOT_NUMBERS])
def test_what_is_no_number_says_why(plan: NumberPlan, text: str, problem: NumberProblem) -> None:
    assert plan.check(text) == (text, problem)
    with pytest.raises(UnusableNumberError) as ei:
        plan.normalize(text, "blacklist.number")
    assert ei.value.number_problem is problem
    assert ei.value.field == "blacklist.number" and ei.value.value == text
    assert f"(region {plan.region})" in str(ei.value)


def test_without_region_a_number_is_its_own_identity() -> None:
    plain = NumberPlan()
    assert plain.normalize("89161234567") == "89161234567"
    assert plain.normalize("+79161234567") == "+79161234567"
    assert plain.check("anonymous") == ("anonymous", None)  # judged later as invalid_number, as before
    with pytest.raises(InvalidNumberError):
        plain.normalize("+7 916 123-45-67")
    assert plain.for_dial("89161234567", DialNumberFormat.NATIONAL) == "89161234567"
    assert plain.readable("89161234567") == "89161234567"


@pytest.mark.parametrize(("plan", "number", "fmt", "written"), [
    (RU, "+79161234567", DialNumberFormat.E164, "+79161234567"),
    (RU, "+79161234567", DialNumberFormat.INTERNATIONAL_DIGITS, "79161234567"),
    (RU, "+79161234567", DialNumberFormat.NATIONAL, "89161234567"),
    (RU, "+49301234567", DialNumberFormat.NATIONAL, "81049301234567"),
    (DE, "+49301234567", DialNumberFormat.NATIONAL, "0301234567"),
    (DE, "+79161234567", DialNumberFormat.NATIONAL, "0079161234567"),
    (US, "+12015550123", DialNumberFormat.NATIONAL, "12015550123"),
    (RU, "anonymous-kept", DialNumberFormat.NATIONAL, None),
])
def test_numbers_are_written_for_the_gateway(plan: NumberPlan, number: str, fmt: DialNumberFormat,
                                             written: str | None) -> None:
    if written is None:  # a stored value that was never a number cannot reach a dial string
        with pytest.raises(InvalidNumberError):
            plan.for_dial(number, fmt)
        return
    assert plan.for_dial(number, fmt) == written


def test_readable_forms() -> None:
    assert RU.readable("+79161234567") == "+7 916 123-45-67"
    assert DE.readable("+49301234567") == "+49 30 1234567"
    assert RU.readable("anonymous") == "anonymous"


@pytest.mark.parametrize("region", ["ru", "RUS", "XX", "", 7])
def test_region_is_validated(region: object) -> None:
    with pytest.raises(ValidationError) as ei:
        NumberPlan(region=region)  # type: ignore[arg-type]
    assert ei.value.field == "numbers.region" and "ISO 3166" in ei.value.limit


def test_config_reads_region_and_checks_callback_numbers() -> None:
    cfg, problems = build_config('[numbers]\nregion = "RU"\n[callback]\ndial_number_format = "national"\n',
                                 environ={"FSWORKER_ESL_PASSWORD": "x"})
    assert cfg is not None and not problems
    assert cfg.numbers.plan == RU and cfg.callback.dial_number_format is DialNumberFormat.NATIONAL
    cfg, problems = build_config('[numbers]\nregion = "Russia"\n', environ={"FSWORKER_ESL_PASSWORD": "x"})
    assert cfg is None and problems[0].place == "numbers.region"
    cfg, problems = build_config('[numbers]\nregion = "RU"\n[callback]\ncaller_id_number = "101"\n',
                                 environ={"FSWORKER_ESL_PASSWORD": "x"})
    assert cfg is None and problems[0].place == "callback.caller_id_number"
    cfg, problems = build_config('[callback]\ndial_number_format = "national"\n', environ={"FSWORKER_ESL_PASSWORD": "x"})
    assert cfg is not None
    assert [(p.place, p.severity) for p in problems] == [("callback.dial_number_format", Severity.WARNING)]


def _call(number: str) -> LostCall:
    return LostCall(call_uuid="u1", customer_number=number, virtual_number="+74950000001", place=LossPlace.NUMBER,
                    lost_at=datetime(2026, 12, 1, 9, tzinfo=UTC), waited_s=30)


@pytest.mark.parametrize("problem", list(NumberProblem))
def test_rule_engine_skips_a_non_number_with_its_reason(problem: NumberProblem) -> None:
    catalog = Catalog(rules=(Rule(name="any", strategy=StrategyKind.LAST_ATTEMPTED),),
                      blacklist=(BlacklistEntry(number="+79161234567"),))
    decision = decide(catalog, _call("whatever"), IntakeFacts(number_problem=problem))
    assert isinstance(decision, Skip) and decision.reason is NUMBER_SKIPS[problem]
    assert decision.reason is not SkipReason.INVALID_NUMBER


def test_number_targets_are_written_in_the_configured_format() -> None:
    settings = DialSettings(external_dial_template="sofia/gateway/{gateway}/{number}", gateway="pstn",
                            dial_number=lambda n: RU.for_dial(n, DialNumberFormat.NATIONAL))
    assert settings.external_endpoint("+79031112233") == "sofia/gateway/pstn/89031112233"


@settings(max_examples=400, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("0123456789+ -().,;{}|/\n\x00abc٣７"), max_size=30),
       fmt=st.sampled_from(list(DialNumberFormat)))
def test_any_text_is_an_identity_that_dials_clean_or_a_named_problem(text: str, fmt: DialNumberFormat) -> None:
    """D5 holds whatever the switch sends: an identity is E.164, and what reaches a
    dial string is only digits and an optional leading '+'."""
    number, problem = RU.check(text)
    if problem is None:
        assert is_valid_number(number) and number.startswith("+")
        assert is_valid_number(RU.for_dial(number, fmt))
    else:
        assert number == text


def test_callbacks_api_reads_numbers_with_the_plan() -> None:
    body = {"customer_number": "8 (916) 123-45-67", "company_number": "8 495 000-00-01", "idempotency_key": "k"}
    req = parse_callback_request(body, RU)
    assert (req.customer_number, req.company_number) == ("+79161234567", "+74950000001")
    with pytest.raises(ValidationError) as ei:
        parse_callback_request({**body, "customer_number": "reception"}, RU)
    assert ei.value.field == "customer_number"
    with pytest.raises(ValidationError):  # without a region: digits and '+' only, as before
        parse_callback_request(body)
