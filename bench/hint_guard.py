"""Hint templates under hostile input (issue 17 item 5): how long and how much memory
refusing each template of the issue takes when a rule is saved, how long a compiled
hint takes to render, and how long a slow (but allowed) template holds the process
before its budget stops it, against the same render unbudgeted.

Figures, one line each: ``refuse <name>: <ms> ms, peak <KiB> KiB`` (tracemalloc peak),
``render facts.ru.j2: p50 <µs>``, ``budgeted slow render: <ms> ms`` and
``unbudgeted slow render: <ms> ms`` (best of --repeat rounds; the machine is shared).
Run: ``python bench/hint_guard.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fsworker.core.errors import ValidationError  # noqa: E402
from fsworker.core.model import Hint, HintKind  # noqa: E402
from fsworker.core.prompts import HintFacts, PromptSettings, render_hint, validate_hint  # noqa: E402
from fsworker.core.prompts.budget import RenderBudget  # noqa: E402
from fsworker.core.prompts.render import DEFAULT_TEMPLATES_DIR  # noqa: E402

HOSTILE = {
    "nested range loops": "{% if site != 'shop.example.com' %}{% for a in range(100000) %}"
                          "{% for b in range(3000) %}{% endfor %}{% endfor %}{% endif %}Перезвон",
    "lipsum(1000000)": "{{ lipsum(1000000) }}",
    "str.format width": "{{ '{0:{1}{1}{1}}'.format('a', 999) }}",
    "replace amplification": "{{ ('a'*10000)|replace('a','b'*10000) }}",
    "power tower": "{{ ((((10**64)**64)**64)**64)|string }}",
}
SLOW = ("{% for a in site %}"
        + "{{ site|replace('o','oooooooooooooooooooo')|title|title|title|title|title|title|length }}" * 4
        + "{% endfor %}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    for name, src in HOSTILE.items():
        best, peak = float("inf"), 0
        for _ in range(args.repeat):
            tracemalloc.start()
            t0 = time.perf_counter()
            try:
                validate_hint(Hint(kind=HintKind.TEXT, text=src))
                raise SystemExit(f"{name}: accepted")
            except ValidationError:
                pass
            best = min(best, time.perf_counter() - t0)
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        print(f"refuse {name}: {best * 1000:.2f} ms, peak {peak // 1024} KiB")

    facts = HintFacts.sample()
    hint = Hint(kind=HintKind.TEXT, text=(DEFAULT_TEMPLATES_DIR / "facts.ru.j2").read_text(encoding="utf-8"))
    render_hint(hint, facts)
    times = []
    for _ in range(200 * args.repeat):
        t0 = time.perf_counter()
        render_hint(hint, facts)
        times.append(time.perf_counter() - t0)
    print(f"render facts.ru.j2: p50 {statistics.median(times) * 1e6:.0f} µs")

    slow = Hint(kind=HintKind.TEXT, text=SLOW)
    slow_facts = replace(facts, site="o" * 200)
    unlimited = PromptSettings(render_budget=RenderBudget(cpu_ms=1000, wall_ms=10_000, max_chars=100_000))
    for label, settings in (("budgeted", PromptSettings()), ("unbudgeted", unlimited)):
        render_hint(slow, facts, settings)  # compiled outside the timing
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            action = render_hint(slow, slow_facts, settings)
            best = min(best, time.perf_counter() - t0)
        print(f"{label} slow render: {best * 1000:.1f} ms (fallback: {action.fallback_reason})")


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    main()
