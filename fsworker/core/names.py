"""Names and identifiers in configuration: the checks every entity's name passes.

Rules: pure; imports nothing of fsworker but the errors.
"""

from __future__ import annotations

import re

from fsworker.core.errors import ValidationError

MAX_NAME_LEN = 100

_NAME_RE = re.compile(r"[^\x00-\x1f\x7f]+")
IDENT_RE = re.compile(r"[A-Za-z0-9_.+\-@:]+")


def check_name(field_name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field_name, value, "must be a non-empty string")
    if len(value) > MAX_NAME_LEN or not _NAME_RE.fullmatch(value):
        raise ValidationError(
            field_name, value, f"at most {MAX_NAME_LEN} printable characters, no control characters"
        )
    return value


def check_ident(field_name: str, value: object) -> str:
    if not isinstance(value, str) or not IDENT_RE.fullmatch(value) or len(value) > MAX_NAME_LEN:
        raise ValidationError(
            field_name, value, "letters, digits and . _ + - @ : only (no spaces), at most 100"
        )
    return value
