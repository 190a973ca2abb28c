"""One identity per phone number (E.164), whatever its spelling.

Rules:
- ``NumberPlan`` is the only place that turns a spelling into an identity. With a
  region (``[numbers] region``) every spelling of one number (``+79161234567``,
  ``79161234567``, ``89161234567``, ``+7 (916) 123-45-67``) becomes its E.164 form;
  without one a number is its own identity, exactly as written (the behaviour before
  regions existed). Spelling separators are the only thing it removes, and only when
  everything else in the text is a digit: a letter, a comma or a brace makes the text
  "not a number", never a shorter number.
- What it writes back for the switch passes ``validate_number`` (D5,
  fsworker.core.numbers): digits and an optional leading '+', nothing else.
- Pure: no I/O, no global state. The plan is a value built from the configuration and
  passed to whoever takes numbers in (intake, CLI, import, the callbacks API, the
  dial-string builders).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import phonenumbers

from fsworker.core.errors import InvalidNumberError, ValidationError
from fsworker.core.numbers import MAX_DIGITS, is_valid_number, validate_number

# What people and trunks put between digits: spaces (also no-break), dashes, dots,
# slashes and parentheses. Anything else is not part of a spelling.
_SPELLING_RE = re.compile(r"\+?[0-9 \u00a0\-./()]{1,64}")
_SEPARATORS_RE = re.compile(r"[ \u00a0\-./()]")
# What switches and trunks send for a caller who withheld the number (CLIR), or whose
# number the network does not know; FreeSWITCH's own default is "0000000000".
_WITHHELD = frozenset({"", "anonymous", "unknown", "private", "restricted", "unavailable", "withheld",
                       "blocked", "unknown caller", "null", "none"})


class NumberProblem(enum.StrEnum):
    """Why a text is not a phone number fsworker can take as a customer's identity."""

    WITHHELD = "withheld"  #: anonymous, unknown, private, empty, all zeros: the caller hid the number
    NOT_A_NUMBER = "not_a_number"  #: letters or other characters than digits and separators
    TOO_SHORT = "too_short"  #: fewer digits than any number of its country (an extension, a short code)
    TOO_LONG = "too_long"  #: more digits than any number of its country
    UNKNOWN_COUNTRY = "unknown_country"  #: '+' followed by no country's calling code


class UnusableNumberError(InvalidNumberError):
    """A text is not a phone number under the configured region; ``number_problem`` says why."""

    def __init__(self, field: str, value: object, limit: str, problem: NumberProblem) -> None:
        self.number_problem = problem
        super().__init__(field, value, limit)


class DialNumberFormat(enum.StrEnum):
    """How a number is written into a dial string or a caller ID (gateways differ)."""

    E164 = "e164"  #: +79161234567
    INTERNATIONAL_DIGITS = "international_digits"  #: 79161234567 (E.164 without '+')
    NATIONAL = "national"  #: 89161234567: as dialled from a phone in the region (abroad: 81049301234567)


_POSSIBLE = phonenumbers.ValidationResult
_LIMITS = {
    NumberProblem.WITHHELD: "a caller's number, not a withheld one",
    NumberProblem.NOT_A_NUMBER: "digits, optionally spelled with '+', spaces, dashes, dots or parentheses",
    NumberProblem.TOO_SHORT: "a full number with its area code",
    NumberProblem.TOO_LONG: "no more digits than a number of its country has",
    NumberProblem.UNKNOWN_COUNTRY: "'+' followed by a country calling code",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class NumberPlan:
    """How fsworker reads and writes numbers: the ``[numbers]`` section as a value.

    ``region`` (ISO 3166 alpha-2, e.g. "RU") is the country whose national spellings
    are understood; None keeps numbers exactly as written.
    """

    region: str | None = None

    def __post_init__(self) -> None:
        if self.region is None:
            return
        if not isinstance(self.region, str) or self.region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValidationError("numbers.region", self.region,
                                  "an ISO 3166 alpha-2 country code in capitals, e.g. RU, DE, US")

    # --- reading ------------------------------------------------------------------------

    def normalize(self, text: object, field: str = "number") -> str:
        """The identity of ``text``: its E.164 form with a region, else ``text`` itself
        when it is digits with an optional '+'. Raises UnusableNumberError (or, without a
        region, InvalidNumberError as ever) naming ``field``."""
        if self.region is None:
            return validate_number(text, field)
        if not isinstance(text, str):
            raise UnusableNumberError(field, text, _LIMITS[NumberProblem.NOT_A_NUMBER], NumberProblem.NOT_A_NUMBER)
        number, problem = self._parse(text)
        if problem is not None:
            raise UnusableNumberError(field, text, self._limit(problem), problem)
        return number

    def check(self, text: str) -> tuple[str, NumberProblem | None]:
        """``(identity, None)`` or ``(text, problem)``: normalize without raising, for
        text from the switch that is recorded either way. Without a region ``text`` is
        its own identity and no problem is named: validate_number judges it later
        (invalid_number), as before regions existed."""
        if self.region is None:
            return text, None
        return self._parse(text)

    def normalize_or_keep(self, text: str | None) -> str | None:
        """The identity of a number that identifies no customer (a DID, a contact's
        number): unchanged when it is not a number, so it simply matches nothing."""
        return text if text is None else self.check(text)[0]

    def _parse(self, text: str) -> tuple[str, NumberProblem | None]:
        stripped = text.strip(" \u00a0")  # a control character is never a separator
        if stripped.lower() in _WITHHELD or (stripped and set(stripped) <= set("0+")):
            return text, NumberProblem.WITHHELD
        if _SPELLING_RE.fullmatch(stripped) is None or not any(ch.isdigit() for ch in stripped):
            return text, NumberProblem.NOT_A_NUMBER
        compact = _SEPARATORS_RE.sub("", stripped)
        if "+" in compact[1:] or len(compact.lstrip("+")) > MAX_DIGITS:
            return text, NumberProblem.NOT_A_NUMBER if "+" in compact[1:] else NumberProblem.TOO_LONG
        try:
            parsed = phonenumbers.parse(compact, self.region)
        except phonenumbers.NumberParseException as exc:
            return text, _PARSE_PROBLEMS.get(exc.error_type, NumberProblem.NOT_A_NUMBER)
        reason = phonenumbers.is_possible_number_with_reason(parsed)
        if reason == _POSSIBLE.IS_POSSIBLE:
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), None
        if reason == _POSSIBLE.INVALID_COUNTRY_CODE:
            return text, NumberProblem.UNKNOWN_COUNTRY
        if reason == _POSSIBLE.TOO_LONG or (reason == _POSSIBLE.INVALID_LENGTH and _longer_than_any(parsed)):
            return text, NumberProblem.TOO_LONG
        # TOO_SHORT, IS_POSSIBLE_LOCAL_ONLY (no area code: cannot be called back from
        # elsewhere) and a length between two possible ones.
        return text, NumberProblem.TOO_SHORT

    def _limit(self, problem: NumberProblem) -> str:
        return f"{_LIMITS[problem]} (region {self.region})"

    # --- writing ------------------------------------------------------------------------

    def for_dial(self, number: str, fmt: DialNumberFormat, field: str = "number") -> str:
        """``number`` (an identity) as ``fmt`` writes it, validated for a dial string
        (D5). Without a region a number is written as stored, whatever ``fmt``."""
        validate_number(number, field)
        if self.region is None or not number.startswith("+"):
            return number
        if fmt is DialNumberFormat.E164:
            return number
        if fmt is DialNumberFormat.INTERNATIONAL_DIGITS:
            return number[1:]
        parsed = phonenumbers.parse(number, None)
        dialled = phonenumbers.format_out_of_country_calling_number(parsed, self.region)
        return validate_number(re.sub(r"[^0-9+]", "", dialled), field)

    def readable(self, number: str) -> str:
        """``number`` for a person: ``+7 916 123-45-67``; as stored when it is not an
        E.164 number (no region, or text that never was a number)."""
        if self.region is None or not number.startswith("+") or not is_valid_number(number):
            return number
        parsed = phonenumbers.parse(number, None)
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _longer_than_any(parsed: phonenumbers.PhoneNumber) -> bool:
    region = phonenumbers.region_code_for_country_code(parsed.country_code)
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
    if meta is None:
        return False
    # Subscribers' numbers (fixed and mobile), not the rare long service ranges the
    # general description also allows: 12 digits in Russia is a long number, not a short one.
    lengths = [n for desc in (meta.fixed_line, meta.mobile) if desc is not None for n in desc.possible_length]
    lengths = lengths or list(meta.general_desc.possible_length if meta.general_desc else ())
    national = phonenumbers.national_significant_number(parsed)
    return bool(lengths) and len(national) > max(lengths)


_PARSE_PROBLEMS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: NumberProblem.UNKNOWN_COUNTRY,
    phonenumbers.NumberParseException.TOO_SHORT_NSN: NumberProblem.TOO_SHORT,
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: NumberProblem.TOO_SHORT,
    phonenumbers.NumberParseException.TOO_LONG: NumberProblem.TOO_LONG,
}

NO_REGION = NumberPlan()
