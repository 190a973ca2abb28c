"""Lost call -> task committed, with lost calls arriving at a steady rate (100/s).

The fake switch runs in its own process (bench/fakeswitch.py, real time) and, on
``bench_inject``, lets distinct customers call at a steady ``--rate`` calls/s for
``--seconds`` s; each rings an employee who never answers and hangs up after
``--ring-s`` s, so lost calls end at the same steady rate. The fake stamps with the wall
clock the moment each customer's CHANNEL_HANGUP_COMPLETE (the event that concludes the
call) has been written to the sockets. A real fsworker Service (SystemClock, the green
psycopg2 that ``fsworker run`` installs) runs in this process; its intake observer is
called right after the task's row is committed and stamps ``time.time()`` there (the
measurement of bench/intake_latency.py; both stamps read the same wall clock, in two
processes of one machine). The rule's first interval is an hour, so no callback is
dialled: this measures intake only. Prints p50/p99/max per database, the achieved
injection rate (hangups/s) and intake rate (tasks/s).
Last line: ``loss_to_task_rate_p99_ms: X`` (worst database).
Run: ``python bench/loss_to_task_rate.py [--rate 100] [--seconds 15] [--pg URL|'']``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # bench/queue.py

from gevent import monkey  # noqa: E402

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
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
    intake_config,
    seed_intake_db,
    stamp_task_created,
    summary_ms,
)
from fsworker.service.app import Service  # noqa: E402

ENV = {"FSWORKER_ESL_PASSWORD": "ClueCon"}


def run(url: str, *, rate: float, seconds: float, ring_s: float, profile: str = "") -> dict[str, float]:
    seed_intake_db(url)
    fake = FakeSwitchProcess()
    service = Service(intake_config(url, "127.0.0.1", fake.port, workers=1, worker_id="bench-intake"), environ=ENV)
    created_at = stamp_task_created(service)
    calls = int(rate * seconds)
    errors = ErrorCount()
    try:
        service.start(metrics=False)
        assert service.wait_connected(10), "fsworker did not connect to the fake switch"
        client = fake.client()
        diag = Diag(service)
        with Profile(profile):
            client.api(f"bench_inject calls={calls} rate={rate:g} hangup_after={ring_s:g} ring=user/101")
            deadline = time.time() + seconds + ring_s + 30
            while len(created_at) < calls and time.time() < deadline:
                gevent.sleep(0.2)
        diag_line = diag.line(len(created_at), "lost call")
        gevent.sleep(0.5)
        stats = client.stats()
        client.close()
    finally:
        service.stop(grace_s=0)
        fake.stop()
        errors.close()
    diag_line += "; " + errors.line()
    hangup_at: dict[str, float] = stats["hangup_at"]
    both = [u for u in hangup_at if u in created_at]
    lat = [created_at[u] - hangup_at[u] for u in both]
    if os.environ.get("FSWORKER_BENCH_DUMP"):  # every call's (hang-up time, latency), to look at the tail
        with open(os.environ["FSWORKER_BENCH_DUMP"] + f"-{url.split(':')[0]}.json", "w") as out_file:
            json.dump(sorted((hangup_at[u], created_at[u] - hangup_at[u]) for u in both), out_file)
    hangups = sorted(hangup_at.values())
    made = sorted(created_at.values())
    out = summary_ms(lat)
    out.update(
        calls=calls, lost=len(hangup_at), tasks=len(created_at), missing=calls - len(both),
        injected_per_s=(len(hangups) - 1) / (hangups[-1] - hangups[0]),
        tasks_per_s=(len(made) - 1) / (made[-1] - made[0]),
        fake_max_advance_ms=stats["max_advance_s"] * 1000, fake_cpu_s=stats["cpu_s"], diag=diag_line,
        fake_max_gc_ms=stats.get("max_gc_s", 0.0) * 1000,
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=100.0, help="lost calls per second")
    ap.add_argument("--seconds", type=float, default=15.0, help="how long calls keep coming")
    ap.add_argument("--ring-s", type=float, default=2.0, help="each customer rings this long, then hangs up")
    ap.add_argument("--pg", default=PG_ADMIN, help="PostgreSQL admin URL; '' to skip PostgreSQL")
    ap.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--profile", default="", help="write a cProfile of each run to PREFIX-<db>.txt")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    kinds = (["sqlite"] if args.sqlite else []) + (["postgresql"] if args.pg else [])
    if args.pg:
        from fsworker.store import make_psycopg2_green

        make_psycopg2_green()  # as `fsworker run` does
    dbs = Databases(args.pg or PG_ADMIN)
    worst = 0.0
    try:
        for kind in kinds:
            r = run(dbs.url(kind), rate=args.rate, seconds=args.seconds, ring_s=args.ring_s,
                    profile=f"{args.profile}-{kind}.txt" if args.profile else "")
            dbs.drop()
            worst = max(worst, r["p99"] if not r["missing"] else float("inf"))
            print(f"{kind:10s} rate={args.rate:g}/s calls={r['calls']} lost={r['lost']} tasks={r['tasks']} "
                  f"missing={r['missing']} p50={r['p50']:.1f}ms p99={r['p99']:.1f}ms max={r['max']:.1f}ms "
                  f"injected={r['injected_per_s']:.1f}/s intake={r['tasks_per_s']:.1f} tasks/s "
                  f"fake_max_tick={r['fake_max_advance_ms']:.1f}ms fake_max_gc={r['fake_max_gc_ms']:.1f}ms", flush=True)
            print(f"{kind:10s} diag: {r['diag']}, fake cpu={r['fake_cpu_s']:.1f}s", flush=True)
    finally:
        dbs.drop()
    print(f"loss_to_task_rate_p99_ms: {worst:.1f}")


if __name__ == "__main__":
    main()
