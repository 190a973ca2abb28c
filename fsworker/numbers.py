"""Phone-number validation (D5).

Rules: a number that will ever reach a dial string, an ESL command or a channel
variable must pass ``validate_number`` first. Only digits with one optional leading
'+', 1..MAX_DIGITS digits, are accepted; nothing is stripped or "cleaned" silently,
because a cleaned hostile string is still a hostile string.
"""

from __future__ import annotations

import re

from fsworker.errors import InvalidNumberError

MAX_DIGITS = 20
_NUMBER_RE = re.compile(rf"\+?[0-9]{{1,{MAX_DIGITS}}}")


def validate_number(value: object, field: str = "number") -> str:
    """Return ``value`` unchanged if it is a dialable number, else raise.

    >>> validate_number("+74950000001")
    '+74950000001'
    """
    if not isinstance(value, str) or _NUMBER_RE.fullmatch(value) is None:
        raise InvalidNumberError(
            field, value, f"digits with an optional leading '+', 1..{MAX_DIGITS} digits"
        )
    return value


def is_valid_number(value: object) -> bool:
    return isinstance(value, str) and _NUMBER_RE.fullmatch(value) is not None
