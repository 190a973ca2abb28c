"""The root of fsworker's exceptions, and the ones every layer shares.

Rules: every exception fsworker raises on purpose derives from FsworkerError, so a
caller can catch "anything of ours" without swallowing bugs. A failure a caller can act
on gets its own subclass (defined next to the code that raises it); messages name the
field, the value and the limit. Third-party errors are translated at the boundary
with ``raise ... from exc``.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import Any


class FsworkerError(Exception):
    """Root of all fsworker errors."""


class ValidationError(FsworkerError, ValueError):
    """A value is outside what fsworker accepts.

    Carries the field, the offending value and the limit so that a CLI, a config
    checker or a log line can say exactly what to fix.
    """

    def __init__(self, field: str, value: Any, limit: str) -> None:
        self.field = field
        self.value = value
        self.limit = limit
        super().__init__(f"{field}: {problem_text(value, limit)}")

    @property
    def problem(self) -> str:
        """The message without the field: what is wrong and what is allowed."""
        return problem_text(self.value, self.limit)


def show_value(value: Any) -> str:
    """A value as an operator typed or reads it, not as Python prints it: text in quotes
    (escapes visible, so a control character cannot hide), lists comma-separated."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list, set, frozenset)):
        return ", ".join(show_value(v) for v in value)
    if isinstance(value, str):
        return repr(value)
    return str(value)


def problem_text(value: Any, limit: str) -> str:
    """``<value> is invalid: <limit>``, with a missing or empty value said in words."""
    if value is None:
        return f"not set: {limit}"
    if isinstance(value, (str, tuple, list, set, frozenset, dict)) and not value:
        return f"empty: {limit}"
    return f"{show_value(value)} is invalid: {limit}"


def with_article(noun: str) -> str:
    """``employee`` -> ``an employee``; ``group`` -> ``a group``."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


class InvalidNumberError(ValidationError):
    """A phone number is not digits with an optional leading '+' (D5)."""


class ConfigError(FsworkerError):
    """The configuration file is missing, unreadable or inconsistent."""
