"""Spoken hints (R6): sandboxed Jinja2 templates rendered to speak / playback actions."""

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
