"""Spoken hints (R6): sandboxed Jinja2 templates rendered to speak / playback actions.

Rules: templates run only in Jinja2's sandbox; what leaves here is a ``PromptAction``
whose text is sanitized for ``speak`` and whose file path is validated, so the call flow
sends it as is. No I/O but reading the default template files.
"""

from __future__ import annotations

from fsworker.core.prompts.actions import (
    HintFallback,
    PromptAction,
    PromptKind,
    sanitize_text,
    speak_argument,
    validate_playback_path,
)
from fsworker.core.prompts.facts import HintFacts, digits
from fsworker.core.prompts.render import (
    PromptSettings,
    default_action,
    render_hint,
    validate_hint,
)

__all__ = [
    "HintFacts",
    "HintFallback",
    "PromptAction",
    "PromptKind",
    "PromptSettings",
    "default_action",
    "digits",
    "render_hint",
    "sanitize_text",
    "speak_argument",
    "validate_hint",
    "validate_playback_path",
]
