"""The root of fsworker's exceptions, and the ones every layer shares.

Rules: every exception fsworker raises on purpose derives from FsworkerError, so a
caller can catch "anything of ours" without swallowing bugs. A failure a caller can act
on gets its own subclass (defined next to the code that raises it); messages name the
field, the value and the limit. Third-party errors are translated at the boundary
with ``raise ... from exc``.
"""

from __future__ import annotations

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
        super().__init__(f"{field}: {value!r} is invalid: {limit}")


class InvalidNumberError(ValidationError):
    """A phone number is not digits with an optional leading '+' (D5)."""


class ConfigError(FsworkerError):
    """The configuration file is missing, unreadable or inconsistent."""
