"""Due task -> first originate: how long from a task's due time until the switch receives
its employee ``originate``; tasks falling due one by one at 20/s, and 1,000 at once.

Set-up (per database): 1,000 employees, 200 rules x cap 5 (1,000 rule slots, so the
per-rule cap never throttles: every task can be claimed at once; ``--rules 20`` shows the
capped case) and 1,000 tasks created through the store API, each with its own lost call
that rang its own employee (strategy last_attempted). They are created due far in the
future; then ONE UPDATE makes all of them due at T0 = now + 0.5 s, committed before T0.
A real fsworker Service (SystemClock, ``fsworker run``'s green psycopg2) runs in this
process with ``--workers`` workers; the fake switch runs in another process
(bench/fakeswitch.py, employees ring and never answer, so each attempt stays at its
first originate) and stamps with the wall clock the moment it reads each
``bgapi originate`` carrying ``fsw_task_id`` and ``fsw_role=employee``.
Latency = that moment - the task's due time. Both sides read the same wall clock
(time.time() in two processes of one machine), and the due time is the one the store
holds, so nothing depends on simulated time. The dispatcher sleeps until the next due
time (issue 14; ``worker.poll_interval_s`` is only its backstop).
Runs, default configuration (poll 1 s) but ``--workers`` attempts at once: "single" —
``--single`` tasks (default 200) fall due one by one, 1/20 s apart, the first 1.5 s
after the update; "burst" — ``--tasks`` (default 1,000) become due at T0 = now + 0.5 s.
Prints ``due_single_p99_ms: X`` then, last, ``due_to_originate_p99_ms: X`` (the burst;
both the worst database).
Run: ``python bench/due_to_originate.py [--tasks N] [--single N] [--workers N] [--pg URL|'']``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # bench/queue.py

from gevent import monkey  # noqa: E402

monkey.patch_all()

import argparse  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402

sys.path.insert(0, str(_HERE.parent))

from bench.benchlib import (  # noqa: E402
    PG_ADMIN,
    Databases,
    Diag,
    ErrorCount,
    FakeSwitchProcess,
    Profile,
    make_due,
    make_due_spaced,
    make_service,
    seed_due_tasks,
    summary_ms,
)

TASK_RE = re.compile(r"fsw_task_id=(\d+)")


def stamp_sends(service) -> dict[str, float]:  # noqa: ANN001 - fsworker.service.app.Service
    """Task id -> when the worker called ``bgapi_start`` for its employee originate."""
    sent_at: dict[str, float] = {}
    for node in service.nodes:
        conn = node.conn
        original = conn.bgapi_start

        def bgapi_start(command, arg="", *, _original=original, **kw):  # noqa: ANN001, ANN202
            if command == "originate" and "fsw_role=employee" in arg:
                m = TASK_RE.search(arg)
                if m:
                    sent_at.setdefault(m.group(1), time.time())
            return _original(command, arg, **kw)

        conn.bgapi_start = bgapi_start
    return sent_at


def stamp_claims(service) -> list[tuple[float, float, int]]:  # noqa: ANN001 - fsworker.service.app.Service
    """(start, seconds, tasks) of every claim statement the dispatcher makes."""
    claims: list[tuple[float, float, int]] = []
    queue = service.dispatcher.queue
    original = queue.claim_due

    def claim_due(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        t = time.time()
        got = original(*args, **kw)
        claims.append((t, time.time() - t, len(got)))
        return got

    queue.claim_due = claim_due
    return claims


def run(url: str, *, tasks: int, rules: int, workers: int, poll_s: float, profile: str = "",
        spacing_s: float = 0.0) -> dict[str, float]:
    seed_due_tasks(url, tasks=tasks, rules=rules)
    fake = FakeSwitchProcess("--employee-answer-after", "-1")
    service = make_service(url, fake.port, workers=workers, poll_s=poll_s, worker_id="bench-due")
    expected = min(tasks, rules * 5)
    seen: dict[str, float] = {}
    diag_line = "not connected"
    errors = ErrorCount()
    try:
        service.start(metrics=False)
        if not service.wait_connected(20):
            return {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan"),
                    "first_ms": float("nan"), "expected": expected,
                    "diag": f"fsworker did not connect to the fake switch within 20 s ({workers} workers polling)"}
        gevent.sleep(max(1.5, 2 * poll_s))  # every worker has made its first (empty) claim
        if spacing_s:
            t0 = time.time() + 1.5
            due = make_due_spaced(url, t0, spacing_s)
            assert len(due) == tasks, (len(due), tasks)
        else:
            t0 = time.time() + 0.5
            made = make_due(url, t0)
            assert made == tasks, (made, tasks)
            due = {}
        diag = Diag(service)
        sent_at = stamp_sends(service)
        claims = stamp_claims(service)
        client = fake.client()
        deadline = time.time() + 60
        with Profile(profile):
            while time.time() < deadline:
                gevent.sleep(0.5)
                seen = client.stats()["originate_at"].get("employee", {})
                if len(seen) >= expected and time.time() > t0 + tasks * spacing_s + 1:
                    break
        diag_line = diag.line(len(seen), "task")
        gevent.sleep(0.5)
        fstats = client.stats()
        seen = fstats["originate_at"].get("employee", {})
        client.close()
        sent = [t - due.get(k, t0) for k, t in sent_at.items()]
        if sent:
            sent_ms = summary_ms(sent)
            diag_line += (f"; worker sent the originates at p50={sent_ms['p50']:.0f}ms p99={sent_ms['p99']:.0f}ms "
                          f"(the rest is the wire and the fake switch reading them; "
                          f"fake cpu={fstats['cpu_s']:.1f}s, max tick {fstats['max_advance_s'] * 1000:.0f}ms)")
        took = [c for c in claims if c[2]]
        if took:
            diag_line += (f"; {len(took)} claims took tasks, {sum(c[1] for c in took) * 1000:.0f}ms in all "
                          f"(longest {max(c[1] for c in took) * 1000:.0f}ms), the last ended "
                          f"{(max(c[0] + c[1] for c in took) - (t0 if not spacing_s else 0)) * 1000:.0f}ms after T0"
                          if not spacing_s else f"; {len(took)} claims took tasks, "
                          f"{sum(c[1] for c in took) * 1000:.0f}ms in all (longest {max(c[1] for c in took) * 1000:.0f}ms)")
    finally:
        service.stop(grace_s=0)
        fake.stop()
        errors.close()
    diag_line += "; " + errors.line()
    lat = [t - due.get(k, t0) for k, t in seen.items()]
    out = summary_ms(lat) if lat else {"n": 0, "p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    out["first_ms"] = min(lat) * 1000 if lat else float("nan")
    out["expected"] = expected
    out["diag"] = diag_line
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--rules", type=int, default=200, help="rules x cap 5 = simultaneous slots")
    ap.add_argument("--single", type=int, default=200, help="tasks falling due one by one (0: skip)")
    ap.add_argument("--rate", type=float, default=20.0, help="tasks falling due per second in the single run")
    ap.add_argument("--workers", type=int, default=1000)
    ap.add_argument("--poll", type=float, default=1.0, help="the backstop poll interval (default: the default 1 s)")
    ap.add_argument("--pg", default=PG_ADMIN, help="PostgreSQL admin URL; '' to skip PostgreSQL")
    ap.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--profile", default="", help="write a profile of each measured phase to PREFIX-<db>-<poll>.txt")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    kinds = (["sqlite"] if args.sqlite else []) + (["postgresql"] if args.pg else [])
    if args.pg:
        from fsworker.store import make_psycopg2_green

        make_psycopg2_green()  # as `fsworker run` does
    dbs = Databases(args.pg or PG_ADMIN)
    worst: dict[str, float] = {}
    runs = ([("single", args.single, 1 / args.rate)] if args.single else []) + ([("burst", args.tasks, 0.0)] if args.tasks else [])
    try:
        for label, tasks, spacing in runs:
            for kind in kinds:
                prof = f"{args.profile}-{kind}-{label}.txt" if args.profile else ""
                r = run(dbs.url(kind), tasks=tasks, rules=args.rules, workers=args.workers, poll_s=args.poll,
                        profile=prof, spacing_s=spacing)
                dbs.drop()
                how = f"due one by one at {args.rate:g}/s" if spacing else "due at once"
                print(f"{kind:10s} {label:6s} tasks={tasks} ({how}) rules={args.rules}x5 workers={args.workers} "
                      f"poll={args.poll:g}s originated={r['n']}/{r['expected']} first={r['first_ms']:.0f}ms "
                      f"p50={r['p50']:.0f}ms p99={r['p99']:.0f}ms max={r['max']:.0f}ms", flush=True)
                print(f"{kind:10s} {label:6s} diag: {r['diag']}", flush=True)
                p99 = r["p99"] if r["n"] >= r["expected"] else float("inf")
                worst[label] = max(worst.get(label, p99), p99)
    finally:
        dbs.drop()
    if "single" in worst:
        print(f"due_single_p99_ms: {worst['single']:.0f}")
    if "burst" in worst:
        print(f"due_to_originate_p99_ms: {worst['burst']:.0f}")


if __name__ == "__main__":
    main()
