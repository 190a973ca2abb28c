"""Phone-number validation (D5).

Rules: a number that will ever reach a dial string, an ESL command or a channel
variable must pass ``validate_number`` first. Only digits with one optional leading
'+', 1..MAX_DIGITS digits, are accepted; nothing is stripped or "cleaned" silently,
because a cleaned hostile string is still a hostile string.
"""

from __future__ import annotations

import re

from fsworker.core.errors import InvalidNumberError, ValidationError

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


# A dial-string endpoint: channel type and path, no dial-string syntax. ',' and '|'
# separate endpoints, '{' '}' '[' ']' open variable blocks, spaces and newlines end an
# ESL command: none of them may ever come from configuration into a dial string.
_ENDPOINT_RE = re.compile(r"[A-Za-z0-9_.+\-]+(/[A-Za-z0-9_.+\-@:=;~]+)+")


def validate_endpoint(value: object, field_name: str = "endpoint") -> str:
    """An employee endpoint as FreeSWITCH dials it: ``user/101``,
    ``sofia/internal/101@pbx``, ``sofia/gateway/gw/79160000000``."""
    # ":_:" is FreeSWITCH's enterprise-originate separator: it would ring a second leg.
    if not isinstance(value, str) or not _ENDPOINT_RE.fullmatch(value) or len(value) > 200 or ":_:" in value:
        raise ValidationError(
            field_name,
            value,
            "a FreeSWITCH endpoint such as user/101 or sofia/gateway/gw/79160000000 "
            "(letters, digits, . _ + - @ : = ; ~ and '/', no spaces, commas, pipes, braces or ':_:')",
        )
    return value


# A recorded channel name redialled as its bare endpoint (``bare_endpoint``): no SIP URI
# parameters ('=' ';' '~'), and nothing anywhere in it that ends a command, separates
# endpoints or opens a variable block, even inside the parameters that are dropped.
_BARE_ENDPOINT_RE = re.compile(r"[A-Za-z0-9_.+\-]+(/[A-Za-z0-9_.+\-@:]+)+")
_RECORDED_HOSTILE_RE = re.compile(r"[\s,|{}\[\]\x00-\x1f\x7f]|:_:")


def bare_endpoint(value: object, field_name: str = "endpoint") -> str:
    """The endpoint a channel name the switch recorded dials, without its SIP URI
    parameters: ``sofia/internal/669@host;fs_path=x`` -> ``sofia/internal/669@host``.

    The parameters came from the remote side (a registration's contact, a proxy path)
    and were true for that call only; they are dropped, never dialled. A name holding
    dial-string or command syntax anywhere, parameters included, is refused: the event
    data it came from is not to be trusted."""
    limit = (
        "a recorded channel name such as sofia/internal/101@pbx (letters, digits, . _ + - @ : "
        "and '/'; SIP URI parameters after ';' are dropped; no spaces, commas, pipes, braces or ':_:')"
    )
    if not isinstance(value, str) or len(value) > 200 or _RECORDED_HOSTILE_RE.search(value):
        raise ValidationError(field_name, value, limit)
    bare = value.split(";", 1)[0]
    if not _BARE_ENDPOINT_RE.fullmatch(bare):
        raise ValidationError(field_name, value, limit)
    return bare
