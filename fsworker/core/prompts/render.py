"""Hint templates (R6): Jinja2 in the sandbox, checked when a rule is saved, rendered
into a ``PromptAction`` when an employee answers.

Rules:
- One ``ImmutableSandboxedEnvironment``: autoescape off (the output is speech, not
  HTML; ``actions.sanitize_text`` is what makes it safe for the switch),
  ``StrictUndefined`` (a misspelt fact is an error, caught at save time), no loader (a
  rule's template cannot include or import files), ranges capped by the sandbox and
  ``*`` / ``**``, padding (``ljust``, ``center``, ``indent``...) and format widths
  bounded so a template cannot build a huge string.
- Every template, when a rule is saved and again whenever one is compiled to be
  rendered (a rule written behind the CLI's back, a default file), is checked against
  the hint language (``policy.py``: facts, allowed filters, ``if``, one level of ``for``;
  no calls, no ``*`` / ``**``) by walking its parse tree, so a hostile template is
  refused in microseconds without ever running.
- Every render has a hard budget (``budget.py``: CPU and wall time, characters out);
  over it the render is stopped where it is.
- ``validate_hint`` parses, checks and renders the template with sample facts: syntax
  errors, constructs outside the hint language, unknown names and an over-budget render
  are all rejected as ``ValidationError`` naming the field and the template line.
- ``render_hint`` never raises for a bad template or file at call time: it logs (task
  id, call UUID and rule) and falls back to the default hint for the language, marking
  the action with a ``HintFallback`` reason for the caller to count; if even the
  default cannot be rendered, the built-in text ("автоперезвон").
- Default templates are files ``default.<lang>.j2`` in ``PromptSettings.templates_dir``
  (the repository's ``templates/hints/`` unless configured). Pure apart from reading
  those files (cached).
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import _PassArg

from fsworker.core.errors import ValidationError
from fsworker.core.model import Hint, HintKind
from fsworker.core.prompts.actions import (
    DEFAULT_PLAYBACK_PREFIXES,
    MAX_SPEAK_CHARS,
    HintFallback,
    PromptAction,
    PromptKind,
    sanitize_text,
    validate_engine,
    validate_playback_path,
    validate_voice,
)
from fsworker.core.prompts.budget import (
    LOOP_FILTER,
    RenderBudget,
    RenderBudgetExceeded,
    budget_loops,
    budget_step,
    metered,
    render_within,
)
from fsworker.core.prompts.facts import HintFacts, digits, strftime, time_zone
from fsworker.core.prompts.policy import ALLOWED_FILTERS, HintTemplateRefused, check_template

log = logging.getLogger(__name__)

def _default_templates_dir() -> Path:
    """The repository's templates/hints (a checkout, an editable install), else the copy
    an installed wheel puts under <prefix>/share/fsworker (setup.py data_files)."""
    repo = Path(__file__).resolve().parents[3] / "templates" / "hints"
    if repo.is_dir():
        return repo
    return Path(sys.prefix) / "share" / "fsworker" / "templates" / "hints"


DEFAULT_TEMPLATES_DIR = _default_templates_dir()
#: spoken when no template at all can be rendered
BUILTIN_DEFAULTS = {"ru": "автоперезвон", "en": "auto callback"}
MAX_OUTPUT_CHARS = 10_000  # widths the sandbox lets a str method or filter ask for
_LANG_RE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")
_TEMPLATE_NAME = "<template>"


# A width or precision this long in a "%" or str.format format makes a huge string;
# so does a "*" width (or a nested "{}" one in str.format) given a huge number.
_PERCENT_WIDTH = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(?:\d{5,}|\d*\.\d{5,})")
_FORMAT_WIDTH = re.compile(r"\{[^{}]*:[^{}]*?\d{5,}")
_NESTED_FORMAT = re.compile(r"\{[^{}]*:[^{}]*\{")
#: str methods whose argument is the length of the result
_PADDING = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
#: filters whose parameter is the length of the result
_PADDING_FILTERS = frozenset({"center", "indent"})


def _check_sizes(values: Iterable[Any]) -> None:
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_OUTPUT_CHARS:
            raise SecurityError(f"width {v!r} is too large (at most {MAX_OUTPUT_CHARS})")


def _check_format(fmt: str, args: Iterable[Any], *, percent: bool) -> None:
    """A "%" / str.format format string and its arguments must not ask for a huge
    width or precision. Other numbers (a customer number formatted as int) are fine."""
    if (_PERCENT_WIDTH if percent else _FORMAT_WIDTH).search(fmt):
        raise SecurityError("format width or precision is too large")
    if ("*" in fmt) if percent else bool(_NESTED_FORMAT.search(fmt)):
        _check_sizes(args)


class _HintEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise SecurityError(f"exponent {right!r} is too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_OUTPUT_CHARS:
                    raise SecurityError("repetition result is too large")
        if operator == "%" and isinstance(left, str):
            _check_format(left, right if isinstance(right, tuple) else (right,), percent=True)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - as Jinja's
        target = getattr(__obj, "__wrapped__", __obj)  # str.format arrives wrapped by the sandbox
        owner = getattr(target, "__self__", None)
        name = getattr(target, "__name__", "")
        if isinstance(owner, str) and name in _PADDING:
            _check_sizes((*args, *kwargs.values()))
        elif isinstance(owner, str) and name in ("format", "format_map"):
            _check_format(owner, (*args, *kwargs.values()), percent=False)
        return super().call(__context, __obj, *args, **kwargs)


def _size_checked(name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """Filters are called directly by compiled templates, not through ``call``: the
    padding ones and ``format`` get the same checks here."""
    value_at = 1 if _PassArg.from_obj(f) is not None else 0

    @functools.wraps(f)  # keeps Jinja's pass_context / pass_environment marks
    def checked(*args: Any, **kwargs: Any) -> Any:
        params = (*args[value_at + 1:], *kwargs.values())
        if name in _PADDING_FILTERS:
            _check_sizes(params)
        elif len(args) > value_at and isinstance(args[value_at], str):
            _check_format(args[value_at], params, percent=True)
        return f(*args, **kwargs)

    return checked


def _environment() -> _HintEnvironment:
    env = _HintEnvironment(autoescape=False, undefined=StrictUndefined, auto_reload=False)
    env.filters["digits"] = digits
    env.filters["strftime"] = strftime
    env.filters[LOOP_FILTER] = budget_step
    for name in (*_PADDING_FILTERS, "format"):
        env.filters[name] = _size_checked(name, env.filters[name])
    for name in ALLOWED_FILTERS:
        env.filters[name] = metered(env.filters[name])
    return env


_ENV = _environment()


@dataclass(frozen=True, kw_only=True, slots=True)
class PromptSettings:
    """How hints are spoken and where files may come from (configuration)."""

    tts_engine: str = "flite"  #: flite, tts_commandline, unimrcp, ... (a FreeSWITCH TTS module)
    tts_voice: str = "slt"
    timezone: str = "UTC"  #: for the time of loss in templates
    time_format: str = "%H:%M"
    templates_dir: Path = DEFAULT_TEMPLATES_DIR
    playback_prefixes: tuple[str, ...] = DEFAULT_PLAYBACK_PREFIXES
    max_chars: int = MAX_SPEAK_CHARS
    default_language: str = "ru"
    render_budget: RenderBudget = RenderBudget()

    def __post_init__(self) -> None:
        validate_engine(self.tts_engine)
        validate_voice(self.tts_voice)
        time_zone(self.timezone)
        object.__setattr__(self, "templates_dir", Path(self.templates_dir))
        if isinstance(self.playback_prefixes, (list, str)):
            p = self.playback_prefixes
            object.__setattr__(self, "playback_prefixes", (p,) if isinstance(p, str) else tuple(p))
        for i, pre in enumerate(self.playback_prefixes):
            if not isinstance(pre, str) or not pre.startswith("/") or not pre.endswith("/"):
                raise ValidationError(f"prompt.playback_prefixes[{i}]", pre, "an absolute directory ending in '/'")
        if not isinstance(self.max_chars, int) or not 1 <= self.max_chars <= 2000:
            raise ValidationError("prompt.max_chars", self.max_chars, "1..2000")
        if not _LANG_RE.fullmatch(self.default_language):
            raise ValidationError("prompt.default_language", self.default_language, "a language code such as ru")


def default_template_path(language: str, settings: PromptSettings) -> Path | None:
    """``default.<lang>.j2``; "en-US" falls back to "en"; None when neither exists."""
    if not _LANG_RE.fullmatch(language):
        return None
    for lang in dict.fromkeys((language, language.split("-")[0])):
        path = settings.templates_dir / f"default.{lang}.j2"
        if path.is_file():
            return path
    return None


def _template_line(exc: BaseException) -> int | None:
    """The template line a Jinja error happened on, if it can be told."""
    if isinstance(exc, TemplateSyntaxError):
        return exc.lineno
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == _TEMPLATE_NAME]
    return lines[-1] if lines else None


#: the names a template may use (the policy refuses any other)
FACT_NAMES = frozenset(HintFacts.sample().context())


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> Template:
    """Parse, check against the hint language, then compile with budgeted loops.
    HintTemplateRefused or TemplateSyntaxError otherwise (neither is cached)."""
    tree: nodes.Template = _ENV.parse(source, _TEMPLATE_NAME)
    check_template(tree, FACT_NAMES)
    return _ENV.from_string(budget_loops(tree))


def _render(template: Template, facts: HintFacts, settings: PromptSettings) -> str:
    return render_within(template, facts.context(), settings.render_budget)


# Errors a template can raise while rendering: Jinja's own (undefined, security,
# syntax) and those of the Python operations it performs ({{ 1/0 }}, {{ "x"|int + [] }}).
# A recursive macro ends in RecursionError, a giant allocation that slipped through in
# MemoryError: both are a broken template too, never a crashed worker or CLI.
_RENDER_ERRORS = (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, OverflowError,
                  RecursionError, MemoryError, SyntaxError, HintTemplateRefused, RenderBudgetExceeded)


def _fallback_reason(exc: BaseException) -> HintFallback:
    if isinstance(exc, HintTemplateRefused):
        return HintFallback.REFUSED
    if isinstance(exc, RenderBudgetExceeded):
        return HintFallback.OVER_BUDGET
    if isinstance(exc, ValidationError):
        return HintFallback.UNSPEAKABLE
    return HintFallback.TEMPLATE_ERROR


def validate_hint(hint: Hint, settings: PromptSettings | None = None, field: str = "rule.hint") -> None:
    """Reject a hint that would fail when an employee is on the line (R6)."""
    settings = settings or PromptSettings()
    if default_template_path(hint.language, settings) is None:
        raise ValidationError(f"{field}.language", hint.language,
                              f"a language with a default hint template in {settings.templates_dir}")
    if hint.kind is HintKind.FILE:
        validate_playback_path(hint.text, settings.playback_prefixes, f"{field}.file")
        return
    if hint.kind is HintKind.DEFAULT:
        return
    excerpt = hint.text if len(hint.text) <= 60 else hint.text[:57] + "..."
    try:
        text = _render(_compile(hint.text), HintFacts.sample(), settings)
    except _RENDER_ERRORS as exc:
        line = exc.lineno if isinstance(exc, HintTemplateRefused) else _template_line(exc)
        where = f"line {line}: " if line else ""
        msg = exc.message if isinstance(exc, TemplateError) and exc.message else str(exc)
        if isinstance(exc, HintTemplateRefused) and exc.lineno:
            msg = msg.split(": ", 1)[1]  # the line is said once, in front
        raise ValidationError(f"{field}.text", excerpt, f"template error: {where}{msg}") from None
    if not sanitize_text(text, settings.max_chars):
        raise ValidationError(f"{field}.text", excerpt, "the template renders to nothing speakable")


@functools.lru_cache(maxsize=32)
def _default_template(path: Path) -> Template:
    return _compile(path.read_text(encoding="utf-8"))


def _speak(text: str, settings: PromptSettings, *, reason: HintFallback | None = None) -> PromptAction:
    return PromptAction(kind=PromptKind.SPEAK, engine=settings.tts_engine, voice=settings.tts_voice,
                        text=sanitize_text(text, settings.max_chars), fallback=reason is not None,
                        fallback_reason=reason)


def default_action(language: str, facts: HintFacts, settings: PromptSettings, *, fallback: bool = False,
                   reason: HintFallback | None = None) -> PromptAction:
    """The default hint for ``language`` (R6: "автоперезвон"); ``reason`` (or
    ``fallback``) marks it as standing in for a rule's hint that failed."""
    if fallback and reason is None:
        reason = HintFallback.TEMPLATE_ERROR
    path = default_template_path(language, settings) or default_template_path(settings.default_language, settings)
    text = ""
    try:
        if path is None:
            raise FileNotFoundError(f"no default.{language}.j2 in {settings.templates_dir}")
        text = sanitize_text(_render(_default_template(path), facts, settings), settings.max_chars)
    except (OSError, UnicodeDecodeError, *_RENDER_ERRORS) as exc:
        log.error("task %s call %s: default hint for %r cannot be rendered (%s); using the built-in text",
                  facts.task_id, facts.call_uuid, language, exc)
    if not text:
        text = BUILTIN_DEFAULTS.get(language.split("-")[0], BUILTIN_DEFAULTS["ru"])
    return _speak(text, settings, reason=reason)


def render_hint(hint: Hint, facts: HintFacts, settings: PromptSettings | None = None) -> PromptAction:
    """What to play to the employee who answered; never raises for a bad hint."""
    settings = settings or PromptSettings()
    if hint.kind is HintKind.DEFAULT:
        return default_action(hint.language, facts, settings)
    try:
        if hint.kind is HintKind.FILE:
            path = validate_playback_path(hint.text, settings.playback_prefixes)
            return PromptAction(kind=PromptKind.PLAYBACK, path=path)
        text = sanitize_text(_render(_compile(hint.text), facts, settings), settings.max_chars)
        if not text:
            raise ValidationError("hint.text", hint.text[:40], "rendered to nothing speakable")
        return _speak(text, settings)
    except (ValidationError, *_RENDER_ERRORS) as exc:
        reason = HintFallback.BAD_FILE if hint.kind is HintKind.FILE else _fallback_reason(exc)
        log.warning("task %s call %s: rule %r: %s hint failed (%s: %s: %s); speaking the default hint",
                    facts.task_id, facts.call_uuid, facts.rule, hint.kind.value, reason.value,
                    type(exc).__name__, exc)
        return default_action(hint.language, facts, settings, reason=reason)
