"""Spoken hints (R6): sandboxed templates, save-time validation, call-time fallback,
and the speak / playback arguments that reach the switch."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fsworker.core.calls import LostCall
from fsworker.core.errors import ValidationError
from fsworker.core.model import Hint, HintKind
from fsworker.core.prompts import (
    HintFacts,
    HintFallback,
    PromptAction,
    PromptKind,
    PromptSettings,
    digits,
    render_hint,
    speak_argument,
    validate_hint,
    validate_playback_path,
)
from fsworker.core.prompts.render import DEFAULT_TEMPLATES_DIR

T0 = datetime(2026, 11, 28, 16, 25, 25, tzinfo=UTC)
SOUNDS = "/usr/share/freeswitch/sounds/"


def call(**kw) -> LostCall:
    base = {"call_uuid": "44cd0ee5", "customer_number": "79161234567", "virtual_number": "74950000001",
                "site": "shop.example.com", "campaign": "cpc-42", "scenario": "sales", "lost_at": T0}
    base.update(kw)
    return LostCall(**base)


def facts(**kw) -> HintFacts:
    attempt = kw.pop("attempt", 2)
    tz = kw.pop("tz", "Europe/Moscow")
    return HintFacts.from_call(call(**kw), rule_name="after hours", attempt=attempt, tz=tz)


def text_hint(src: str, language: str = "ru") -> Hint:
    return Hint(kind=HintKind.TEXT, text=src, language=language)


# --------------------------------------------------------------------------- defaults


def test_default_templates_exist_in_russian_and_english():
    assert (DEFAULT_TEMPLATES_DIR / "default.ru.j2").read_text(encoding="utf-8").strip() == "автоперезвон"
    assert (DEFAULT_TEMPLATES_DIR / "default.en.j2").is_file()
    for example in ("facts.ru.j2", "facts.en.j2"):
        validate_hint(text_hint((DEFAULT_TEMPLATES_DIR / example).read_text(encoding="utf-8")))


def test_no_hint_speaks_avtoperezvon():
    a = render_hint(Hint(), facts())
    assert a.kind is PromptKind.SPEAK and a.application == "speak"
    assert a.argument == "flite|slt|автоперезвон"
    assert not a.fallback
    assert render_hint(Hint(language="en"), facts()).text == "auto callback"


def test_engine_and_voice_are_configurable():
    s = PromptSettings(tts_engine="tts_commandline", tts_voice="ru-RU-Irina")
    assert render_hint(Hint(), facts(), s).argument == "tts_commandline|ru-RU-Irina|автоперезвон"
    for bad in ({"tts_engine": "flite|x"}, {"tts_engine": ""}, {"tts_voice": "slt\n"}, {"tts_voice": "a b"},
                {"timezone": "Mars/Base"}):
        with pytest.raises(ValidationError):
            PromptSettings(**bad)


# --------------------------------------------------------------------------- facts


def test_facts_in_a_template():
    src = ("Клиент {{ customer_number|digits }}, сайт {{ site }}, кампания {{ campaign }}, "
           "сценарий {{ scenario }}, номер {{ virtual_number|digits }}, в {{ lost_time }} "
           "{{ lost_at|strftime('%d.%m') }}, попытка {{ attempt }}, правило {{ rule }}")
    a = render_hint(text_hint(src), facts())
    assert a.text == ("Клиент 7 9 1 6 1 2 3 4 5 6 7, сайт shop.example.com, кампания cpc-42, "
                      "сценарий sales, номер 7 4 9 5 0 0 0 0 0 0 1, в 19:25 28.11, попытка 2, "
                      "правило after hours")


def test_time_of_loss_follows_the_time_zone():
    assert facts(tz="UTC").context()["lost_time"] == "16:25"
    assert facts(tz="Asia/Vladivostok").context()["lost_date"] == "29.11.2026"


def test_missing_facts_are_empty_and_testable():
    src = "{% if site %}с сайта {{ site }}{% else %}без сайта{% endif %}{{ caller_name }}"
    assert render_hint(text_hint(src), facts(site=None)).text == "без сайта"


def test_digits_filter():
    assert digits("+7 (916) 123") == "7 9 1 6 1 2 3"
    assert digits("") == ""
    assert digits("٣٤") == ""  # non-ASCII digits are not read out


def test_richer_example_template_renders_the_facts():
    src = (DEFAULT_TEMPLATES_DIR / "facts.en.j2").read_text(encoding="utf-8")
    a = render_hint(text_hint(src, "en"), facts())
    assert a.text == ("Auto callback. Customer 7 9 1 6 1 2 3 4 5 6 7, site shop.example.com, "
                      "campaign cpc-42, scenario sales. Missed at 19:25, attempt 2.")


# --------------------------------------------------------------------------- validation at save


@pytest.mark.parametrize("src, needle", [
    ("Клиент\n{{ site }\n", "line 2"),  # syntax error on line 2
    ("{{ site|shout }}", "filter 'shout' is not allowed"),
    ("{% if site is loud %}x{% endif %}", "loud"),
    ("{{ sitee }}", "'sitee' is undefined"),
    ("ok\n\n{{ site.__class__.__mro__ }}", "line 3"),
    ("{{ lost_at.__class__ }}", "attribute .__class__"),
    ("{{ site.format.__globals__ }}", "attribute .__globals__"),
    ("{% include 'default.ru.j2' %}", "{% include %} is not allowed"),
    ("{{ 'a' * 100000 }}", "the * operator"),
    ("{{ 2 ** 100000 }}", "the ** operator"),
    ("{% for i in range(1000000) %}x{% endfor %}", "function call range()"),
    ("{{ 10 / (attempt - 1) }}", "the / operator"),
    ("{{ '' }}   ", "nothing speakable"),
])
def test_broken_templates_are_rejected_at_save(src, needle):
    with pytest.raises(ValidationError) as ei:
        validate_hint(text_hint(src))
    assert ei.value.field == "rule.hint.text"
    assert needle.lower() in str(ei.value).lower()


def test_unknown_language_is_rejected_at_save():
    with pytest.raises(ValidationError) as ei:
        validate_hint(Hint(language="xx"))
    assert ei.value.field == "rule.hint.language"


@pytest.mark.parametrize("path", [
    SOUNDS + "../../../../etc/passwd",
    SOUNDS + "a b.wav",
    SOUNDS + "a.wav\nexit",
    SOUNDS + "${system rm}.wav",
    "{var=1}" + SOUNDS + "a.wav",
    "/etc/passwd",
    SOUNDS + "./a.wav",
    SOUNDS + "dir//a.wav",
    SOUNDS,
    "relative/a.wav",
    SOUNDS + "a.wav|x",
])
def test_bad_playback_paths_are_rejected(path):
    with pytest.raises(ValidationError):
        validate_hint(Hint(kind=HintKind.FILE, text=path))
    with pytest.raises(ValidationError):
        validate_playback_path(path)


def test_playback_hint():
    p = SOUNDS + "ru/RU/elena/autocallback.wav"
    validate_hint(Hint(kind=HintKind.FILE, text=p))
    a = render_hint(Hint(kind=HintKind.FILE, text=p), facts())
    assert (a.kind, a.application, a.argument) == (PromptKind.PLAYBACK, "playback", p)
    s = PromptSettings(playback_prefixes=("/srv/hints/",))
    with pytest.raises(ValidationError):
        validate_hint(Hint(kind=HintKind.FILE, text=p), s)
    validate_hint(Hint(kind=HintKind.FILE, text="/srv/hints/x.wav"), s)


# --------------------------------------------------------------------------- fallback at call time


def test_template_failing_at_call_time_falls_back_to_default(caplog):
    hint = text_hint("Попытка {% if attempt > 1 %}{% for x in attempt %}{% endfor %}{% endif %}")
    validate_hint(hint)  # fine with the sample (attempt 1)...
    with caplog.at_level(logging.WARNING, logger="fsworker.core.prompts.render"):
        a = render_hint(hint, facts(attempt=2))  # ...but loops over a number on attempt 2
    assert a.text == "автоперезвон" and a.fallback and a.fallback_reason is HintFallback.TEMPLATE_ERROR
    assert "44cd0ee5" in caplog.text and "after hours" in caplog.text


@pytest.mark.parametrize("src", ["{{ nope }}", "{{ site.__class__ }}", "{% if %}", "{{ '' }}"])
def test_unvalidated_broken_template_falls_back(src):
    a = render_hint(text_hint(src, "en"), facts())
    assert a.text == "auto callback" and a.fallback


def test_playback_outside_allowed_dirs_at_call_time_falls_back():
    a = render_hint(Hint(kind=HintKind.FILE, text="/etc/passwd"), facts())
    assert a.kind is PromptKind.SPEAK and a.text == "автоперезвон" and a.fallback


def test_missing_default_template_uses_builtin_text(tmp_path: Path, caplog):
    s = PromptSettings(templates_dir=tmp_path)
    with caplog.at_level(logging.ERROR, logger="fsworker.core.prompts.render"):
        assert render_hint(Hint(), facts(), s).text == "автоперезвон"
    assert "44cd0ee5" in caplog.text


# --------------------------------------------------------------------------- hostile facts


HOSTILE = [
    "x|flite|evil",
    "a\n\nexit",
    "a\r\nsendmsg",
    "${system rm -rf /}",
    "{ignore_early_media=true}",
    "a\x00b\x1b[2Jc",
    "line\u2028sep\u2029par\x85nel",
    "back\\|slash",
    "\u202eevil",
]


@pytest.mark.parametrize("site", HOSTILE)
def test_hostile_facts_never_break_out_of_the_speak_argument(site):
    src = "Сайт {{ site }}, клиент {{ caller_name }}"
    a = render_hint(text_hint(src), facts(site=site, caller_name=site))
    arg = a.argument
    engine, voice, text = arg.split("|")  # exactly three fields
    assert (engine, voice) == ("flite", "slt")
    assert text.startswith("Сайт ")
    for ch in "\n\r\x00\x1b\u2028\u2029\x85${}\\\u202e":
        assert ch not in arg


def test_speak_argument_escapes_and_bounds():
    assert speak_argument("flite", "kal", "a|b\nc  d\t") == "flite|kal|a b c d"
    long = speak_argument("flite", "kal", "слово " * 1000)
    assert len(long) <= len("flite|kal|") + 500
    assert long.endswith("слово")  # cut at a word boundary
    with pytest.raises(ValidationError):
        speak_argument("flite", "kal", "|\n${}")
    for engine, voice in [("flite|evil", "kal"), ("flite", "kal|x"), ("flite\n", "kal"), ("flite", "")]:
        with pytest.raises(ValidationError):
            speak_argument(engine, voice, "hi")


def test_prompt_action_validates_itself():
    with pytest.raises(ValidationError):
        PromptAction(kind=PromptKind.SPEAK, engine="flite", voice="slt|x", text="hi")
    with pytest.raises(ValidationError):
        PromptAction(kind=PromptKind.PLAYBACK, path="/a b.wav")
    a = PromptAction(kind=PromptKind.SPEAK, engine="flite", voice="slt", text="a|b\nc")
    assert a.text == "a b c"


def test_language_with_region_uses_the_base_template():
    validate_hint(Hint(language="en-US"))
    assert render_hint(Hint(language="en-US"), facts()).text == "auto callback"
    with pytest.raises(ValidationError):
        validate_hint(Hint(language="en US"))
