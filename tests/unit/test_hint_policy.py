"""Hint rendering cannot stall anything (issue 17 item 5): hostile templates are refused
by the parse-tree check in well under a second and 100 MB, and every render at call
time runs under a hard budget that stops it and speaks the default hint."""

from __future__ import annotations

import logging
import time
import tracemalloc
from dataclasses import replace

import gevent
import pytest

from fsworker.core.errors import ValidationError
from fsworker.core.model import Hint, HintKind
from fsworker.core.outcomes import HintFallback
from fsworker.core.prompts import HintFacts, PromptSettings, render_hint, validate_hint
from fsworker.core.prompts.budget import RenderBudget
from fsworker.core.prompts.policy import MAX_DEPTH, MAX_NODES
from fsworker.service.metrics import Metrics

#: the templates of issue 17, each with the construct its refusal must name
ISSUE_TEMPLATES = [
    ("{% if site != 'shop.example.com' %}{% for a in range(100000) %}{% for b in range(3000) %}"
     "{% endfor %}{% endfor %}{% endif %}Перезвон", "function call range()"),
    ("{{ lipsum(1000000) }}", "function call lipsum()"),
    ("{{ '{0:{1}{1}{1}}'.format('a', 999) }}", "method call .format()"),
    ("{{ ('a'*10000)|replace('a','b'*10000) }}", "the * operator"),
    ("{{ ((((10**64)**64)**64)**64)|string }}", "the ** operator"),
]
MORE_HOSTILE = [
    ("{% for a in site %}{% for b in site %}x{% endfor %}{% endfor %}", "a nested for loop"),
    ("{{ cycler('a', 'b').next() }}", "method call .next()"),
    ("{{ joiner() }}", "function call joiner()"),
    ("{% set ns = namespace(a=1) %}", "{% set %}"),
    ("{{ site|center(100000) }}", "filter 'center'"),
    ("{{ site|replace('a', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb') }}", "replace with anything but"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "{% macro %}"),
    ("{{ site.upper() }}", "method call .upper()"),
    ("{{ '%s' % site }}", "the % operator"),
    ("{{ site ~ site }}" * 40, f"at most {MAX_NODES}"),
    ("{{ site" + "|trim" * 20 + " }}", f"at most {MAX_DEPTH} deep"),
    ("{{ lost_at.replace }}", "attribute .replace"),
    ("{% for c in site recursive %}{{ loop(c) }}{% endfor %}", "a recursive for loop"),
    ("{{ {'a': 1} }}", "a dict literal"),
    ("{{ sitee }}", "'sitee' is undefined"),
]


def text_hint(src: str) -> Hint:
    return Hint(kind=HintKind.TEXT, text=src)


@pytest.mark.parametrize(("src", "construct"), ISSUE_TEMPLATES + MORE_HOSTILE)
def test_hostile_template_refused_at_save_fast_and_small(src: str, construct: str) -> None:
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ValidationError) as info:
            validate_hint(text_hint(src))
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.field == "rule.hint.text"
    assert construct in info.value.limit, info.value.limit
    assert elapsed < 1.0 and peak < 100 * 2**20, (elapsed, peak)


@pytest.mark.parametrize(("src", "construct"), ISSUE_TEMPLATES)
def test_hostile_template_stored_behind_the_cli_is_refused_again_at_load(src: str, construct: str,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    facts = replace(HintFacts.sample(), site="other.example.com", task_id=4242)
    t0 = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="fsworker.core.prompts.render"):
        action = render_hint(text_hint(src), facts)
    assert time.perf_counter() - t0 < 1.0
    assert action.fallback_reason is HintFallback.REFUSED and action.text == "автоперезвон"
    assert "task 4242" in caplog.text and facts.call_uuid in caplog.text and construct in caplog.text


ALLOWED = [
    ("Клиент {{ customer_digits }}{% if site %}, сайт {{ site|upper }}{% endif %}",
     "Клиент 7 9 1 6 1 2 3 4 5 6 7, сайт SHOP.EXAMPLE.COM"),
    ("{% for d in customer_number[-4:] %}{{ d }}{% if not loop.last %} {% endif %}{% endfor %}", "4 5 6 7"),
    ("{{ 'утро' if lost_at.hour < 12 else 'день' }} {{ attempt + 1 }} {{ site|replace('.', ' точка ') }}",
     "день 2 shop точка example точка com"),
    ("{% for w in ['a', 'b'] %}{{ w|title }}{% else %}none{% endfor %} {{ campaign|default('-', true)|truncate(9) }}",
     "AB cpc-42"),
    ("{{ lost_at|strftime('%d.%m') }} {{ caller_name|length is even }} {{ rule|wordcount }}", "28.11 True 2"),
]


@pytest.mark.parametrize(("src", "spoken"), ALLOWED)
def test_the_hint_language_still_says_what_hints_say(src: str, spoken: str) -> None:
    validate_hint(text_hint(src))
    action = render_hint(text_hint(src), HintFacts.sample())
    assert not action.fallback and action.text == spoken


# --- the run-time budget ----------------------------------------------------------------

#: within the hint language and cheap for the sample facts (validated at save), but a
#: site of 200 'o' makes each replace 4,000 characters and each title a pass over them:
#: about 0.3 s of CPU unbudgeted on a quiet machine
SLOW = ("{% for a in site %}"
        + "{{ site|replace('o','oooooooooooooooooooo')|title|title|title|title|title|title|length }}" * 4
        + "{% endfor %}")
SLOW_FACTS = replace(HintFacts.sample(), site="o" * 200, task_id=77)
UNLIMITED = PromptSettings(render_budget=RenderBudget(cpu_ms=1000, wall_ms=10_000, max_chars=100_000))


def _max_gap_while_rendering(settings: PromptSettings) -> tuple[float, object]:
    """Render SLOW in one greenlet while another ticks every millisecond; the longest
    time the ticker was kept waiting, and the action."""
    ticks: list[float] = []
    running = True

    def ticker() -> None:
        while running:
            ticks.append(time.perf_counter())
            gevent.sleep(0.001)

    g = gevent.spawn(ticker)
    gevent.sleep(0.01)
    action = gevent.spawn(render_hint, text_hint(SLOW), SLOW_FACTS, settings).get()
    gevent.sleep(0.01)
    running = False
    g.join()
    return max(b - a for a, b in zip(ticks, ticks[1:], strict=False)), action


def test_slow_template_passes_the_checks_but_is_cut_off_at_its_budget(caplog: pytest.LogCaptureFixture) -> None:
    validate_hint(text_hint(SLOW))  # the sample facts render it quickly
    render_hint(text_hint(SLOW), HintFacts.sample())  # compiled and cached: not timed below
    with caplog.at_level(logging.WARNING, logger="fsworker.core.prompts.render"):
        gap, action = _max_gap_while_rendering(PromptSettings())
    assert action.fallback_reason is HintFallback.OVER_BUDGET and action.text == "автоперезвон"
    assert "task 77" in caplog.text and SLOW_FACTS.call_uuid in caplog.text and "over_budget" in caplog.text
    # the default budget: 20 ms CPU, 100 ms elapsed; the rest is slack for a busy machine
    assert gap < 0.25, gap
    # and the test can fail: the same render, unbudgeted, holds every greenlet far longer
    slow_gap, slow = _max_gap_while_rendering(UNLIMITED)
    assert not slow.fallback and slow_gap > 2 * gap, (slow_gap, gap)


def test_output_over_budget_falls_back() -> None:
    big = replace(HintFacts.sample(), site="x" * 200)
    action = render_hint(text_hint("{% for a in site %}{{ site }}{% endfor %}"), big)
    assert action.fallback_reason is HintFallback.OVER_BUDGET
    # a filter's result counts too: two replaces would make 80,000 characters in one expression
    amplified = replace(HintFacts.sample(), site="o" * 200)
    src = "{{ (site|replace('o', 'oooooooooooooooooooo')|replace('o', 'oooooooooooooooooooo'))|length }}"
    validate_hint(text_hint(src))
    assert render_hint(text_hint(src), amplified).fallback_reason is HintFallback.OVER_BUDGET


def test_fallbacks_are_counted_by_reason() -> None:
    m = Metrics()
    m.hint_fallback(HintFallback.OVER_BUDGET)
    assert m.value("fsworker_hint_fallbacks_total", reason="over_budget") == 1
    assert m.value("fsworker_hint_fallbacks_total", reason="refused") == 0


def test_budget_settings_are_validated() -> None:
    with pytest.raises(ValidationError):
        RenderBudget(cpu_ms=0)
    with pytest.raises(ValidationError):
        RenderBudget(cpu_ms=50, wall_ms=10)
