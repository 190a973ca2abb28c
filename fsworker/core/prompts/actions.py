"""What the employee hears (R6), as a switch application and its argument.

Rules: a ``PromptAction`` is either ``speak`` (TTS: engine, voice, text) or
``playback`` (a file). Nothing untrusted reaches the argument unescaped:
- ``speak_argument`` builds FreeSWITCH's "engine|voice|text": engine and voice must be
  plain names; the text has '|' (the field separator), '$' '{' '}' (channel-variable and
  API expansion: "${system ...}" would run a command), '\\' and every control or line
  separator character replaced by a space, whitespace collapsed, and is cut to
  ``max_chars``. Text that is empty after this is refused (the caller falls back to
  the default hint).
- ``validate_playback_path`` accepts only a normalized absolute-looking path under one
  of the configured prefixes, made of letters, digits and ``_ . - + / @ :`` (no spaces,
  no '..', no braces or '$', no control characters).
Pure; no I/O.
"""

from __future__ import annotations

import enum
import posixpath
import re
import unicodedata
from dataclasses import dataclass

from fsworker.core.errors import ValidationError
from fsworker.core.outcomes import HintFallback

MAX_SPEAK_CHARS = 500
DEFAULT_PLAYBACK_PREFIXES = ("/usr/share/freeswitch/sounds/", "/var/lib/fsworker/hints/")

_ENGINE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,31}")
_VOICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_PATH_RE = re.compile(r"[\w./\-+@:]+")
# Characters that mean something to FreeSWITCH in an application argument.
_SPECIAL = str.maketrans(dict.fromkeys("|${}\\", " "))
_SPACES = re.compile(r"\s+")


class PromptKind(enum.StrEnum):
    SPEAK = "speak"  #: TTS through mod_tts_commandline / mod_flite / ...
    PLAYBACK = "playback"  #: a recorded file


def validate_engine(engine: object) -> str:
    if not isinstance(engine, str) or not _ENGINE_RE.fullmatch(engine):
        raise ValidationError("prompt.tts_engine", engine, "a TTS module name: a letter, then letters, digits, _ -; at most 32")
    return engine


def validate_voice(voice: object) -> str:
    if not isinstance(voice, str) or not _VOICE_RE.fullmatch(voice):
        raise ValidationError("prompt.tts_voice", voice, "a voice name: letters, digits, _ . -; at most 64")
    return voice


def sanitize_text(text: object, max_chars: int = MAX_SPEAK_CHARS) -> str:
    """Text safe as the last field of a speak argument (see the module rules)."""
    s = str(text).translate(_SPECIAL)
    # Cc = control (incl. \r \n \t NUL DEL), Cf = format (bidi overrides, zero width),
    # Zl / Zp = the Unicode line / paragraph separators.
    s = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co") else ch for ch in s)
    s = _SPACES.sub(" ", s).strip()
    if len(s) > max_chars:
        cut = s[:max_chars]
        # end at a word boundary when there is one in the last fifth
        sp = cut.rfind(" ")
        s = (cut[:sp] if sp > max_chars * 4 // 5 else cut).rstrip()
    return s


def speak_argument(engine: str, voice: str, text: object, *, max_chars: int = MAX_SPEAK_CHARS) -> str:
    """The argument of FreeSWITCH's ``speak`` application: "engine|voice|text"."""
    validate_engine(engine)
    validate_voice(voice)
    clean = sanitize_text(text, max_chars)
    if not clean:
        raise ValidationError("prompt.text", text, "nothing speakable left after removing unsafe characters")
    return f"{engine}|{voice}|{clean}"


def validate_playback_path(path: object, allowed_prefixes: tuple[str, ...] = DEFAULT_PLAYBACK_PREFIXES,
                           field: str = "hint.text") -> str:
    if not isinstance(path, str) or not path or len(path) > 400 or not _PATH_RE.fullmatch(path):
        raise ValidationError(field, path, "a file path: letters, digits, _ . - + / @ : only (no spaces), at most 400")
    if ".." in path.split("/") or path.endswith("/") or posixpath.normpath(path) != path:
        raise ValidationError(field, path, "a normalized path to a file (no '..', '//' or './')")
    if not any(path.startswith(p) for p in allowed_prefixes):
        raise ValidationError(field, path, f"a file under one of the [prompts] sound_dirs: {', '.join(allowed_prefixes)}")
    return path


@dataclass(frozen=True, kw_only=True, slots=True)
class PromptAction:
    """One thing to play to the answering employee before the customer is dialled."""

    kind: PromptKind
    engine: str = ""
    voice: str = ""
    text: str = ""  #: SPEAK: already sanitized
    path: str = ""  #: PLAYBACK: already validated
    fallback: bool = False  #: the configured hint failed at call time; this is the default
    fallback_reason: HintFallback | None = None  #: why, when ``fallback``

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PromptKind(self.kind))
        if self.kind is PromptKind.SPEAK:
            speak_argument(self.engine, self.voice, self.text)
            object.__setattr__(self, "text", sanitize_text(self.text))
        else:
            # the prefix was checked against the configuration by whoever built this
            validate_playback_path(self.path, ("",), "prompt.path")

    @property
    def application(self) -> str:
        return self.kind.value

    @property
    def argument(self) -> str:
        if self.kind is PromptKind.SPEAK:
            return speak_argument(self.engine, self.voice, self.text)
        return self.path
