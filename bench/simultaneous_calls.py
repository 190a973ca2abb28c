"""1,000 simultaneous callback calls driven by one fsworker process: peak RSS, CPU
seconds, calls completed.

Three processes: this one (the orchestrator: seeds the database, reads the results), the
fake switch (bench/fakeswitch.py) and ONE fsworker process (this file with ``--worker``:
a real Service with SystemClock, green psycopg2 as ``fsworker run``, ``--workers``
workers), so the RSS and CPU figures are the worker's alone.
Set-up: 1,000 employees (user/2000..2999, each answers after 0.5 s), 200 rules x cap 5
(last_attempted), 1,000 tasks created through the store API, each from its own lost call
that rang its own employee. When the worker is connected and idle, one UPDATE makes
every task due at once. Each attempt: the employee is rung and answers, hears the
default hint (1 s in the fake), the customer (sofia/gateway/pstn/...) is dialled,
answers after 1 s, is bridged with the employee and hangs up after ``--talk-s`` s
(default 40: longer than it takes this machine to start 1,000 attempts, see
due_to_originate, so that all calls are up together). The worker exits when no task is pending or
active (or at the time limit) and reports getrusage (ru_maxrss = peak RSS; user + sys
CPU seconds) and VmHWM; the fake reports the peak number of bridged pairs (sampled every
50 ms); the database gives the attempts by outcome ("completed" = outcome success).
Last lines: ``simultaneous_peak_rss_mb: X``, ``simultaneous_completed: N``.
Run: ``python bench/simultaneous_calls.py [--calls 1000] [--talk-s 20] [--db postgresql|sqlite]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # bench/queue.py
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402


def _vm(field: str) -> float:
    """VmRSS / VmHWM of this process in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu() -> tuple[float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime, ru.ru_stime


def worker(args: argparse.Namespace) -> None:
    """The fsworker process: run the Service until every task is done."""
    from gevent import monkey

    monkey.patch_all()
    import gevent

    from bench.benchlib import make_service

    logging.basicConfig(level=logging.ERROR)
    if args.url.startswith("postgresql"):
        from fsworker.store import make_psycopg2_green

        make_psycopg2_green()
    service = make_service(args.url, args.port, workers=args.workers, poll_s=1.0, worker_id="bench-sim")
    service.start(metrics=False)
    if not service.wait_connected(20):
        print("result " + json.dumps({"error": "did not connect"}), flush=True)
        return
    gevent.sleep(2.0)  # every worker has made its first (empty) claim
    ready = {"rss_mb": _vm("VmRSS"), "cpu": sum(_cpu()), "t": time.time()}
    print("ready", flush=True)
    sys.stdin.readline()  # the orchestrator made the tasks due
    start = time.time()
    peak_active = 0
    deadline = start + args.limit_s
    last_check = 0.0
    while time.time() < deadline:
        gevent.sleep(0.1)
        peak_active = max(peak_active, len(service.dispatcher.active_tasks))
        if time.time() - last_check > 2 and time.time() - start > 5:
            last_check = time.time()
            c = service.queue.counts()
            if c.pending == 0 and c.active == 0 and not service.dispatcher.active_tasks:
                break
    wall = time.time() - start
    user, sys_ = _cpu()
    service.stop(grace_s=0)
    print("result " + json.dumps({
        "wall_s": wall, "cpu_user_s": user, "cpu_sys_s": sys_, "cpu_during_s": user + sys_ - ready["cpu"],
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "vmhwm_mb": _vm("VmHWM"),
        "rss_ready_mb": ready["rss_mb"], "peak_active": peak_active, "timed_out": wall >= args.limit_s,
    }), flush=True)


def orchestrate(args: argparse.Namespace) -> int:
    from bench.benchlib import PG_ADMIN, Databases, FakeSwitchProcess, attempt_outcomes, make_due, seed_due_tasks

    dbs = Databases(os.environ.get("FSWORKER_BENCH_PG_URL", PG_ADMIN))
    url = dbs.url(args.db)
    fake = None
    proc = None
    try:
        t = time.time()
        seed_due_tasks(url, tasks=args.calls, rules=(args.calls + 4) // 5)
        print(f"seeded {args.calls} tasks in {time.time() - t:.1f}s", flush=True)
        fake = FakeSwitchProcess("--employee-answer-after", "0.5", "--customer-answer-after", "1",
                                 "--customer-talk-s", str(args.talk_s), "--speak-seconds", "1")
        proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--url", url, "--port", str(fake.port),
             "--workers", str(args.workers), "--limit-s", str(args.talk_s + 150)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            print(f"worker did not start: {line!r}{proc.stdout.read()}", flush=True)
            return 1
        make_due(url, time.time())
        proc.stdin.write("go\n")
        proc.stdin.flush()
        result: dict = {}
        for line in proc.stdout:
            if line.startswith("result "):
                result = json.loads(line[7:])
        proc.wait()
        client = fake.client()
        fstats = client.stats()
        client.close()
        outcomes = attempt_outcomes(url)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        if fake is not None:
            fake.stop()
        dbs.drop()
    if "error" in result:
        print(f"worker failed: {result['error']}")
        return 1
    done = outcomes.get("success", 0)
    print(f"db={args.db} calls={args.calls} workers={args.workers} talk={args.talk_s:g}s "
          f"wall={result['wall_s']:.1f}s timed_out={result['timed_out']}")
    print(f"outcomes: {json.dumps(outcomes, sort_keys=True)}")
    print(f"worker: peak_rss={result['max_rss_mb']:.0f}MB (VmHWM {result['vmhwm_mb']:.0f}MB, "
          f"{result['rss_ready_mb']:.0f}MB when idle before the calls) "
          f"cpu={result['cpu_user_s'] + result['cpu_sys_s']:.1f}s (user {result['cpu_user_s']:.1f} "
          f"sys {result['cpu_sys_s']:.1f}; {result['cpu_during_s']:.1f}s during the calls) "
          f"peak_attempts_in_flight={result['peak_active']}")
    print(f"switch: peak_bridged={fstats['peak_bridged']} peak_channels={fstats['peak_channels']} "
          f"originates={fstats['originates']} fake_cpu={fstats['cpu_s']:.1f}s "
          f"fake_max_tick={fstats['max_advance_s'] * 1000:.0f}ms fake_rss={fstats['max_rss_mb']:.0f}MB")
    print(f"simultaneous_peak_bridged: {fstats['peak_bridged']}")
    print(f"simultaneous_cpu_s: {result['cpu_user_s'] + result['cpu_sys_s']:.1f}")
    print(f"simultaneous_completed: {done}")
    print(f"simultaneous_peak_rss_mb: {result['max_rss_mb']:.0f}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=1000)
    ap.add_argument("--talk-s", type=float, default=40.0)
    ap.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--limit-s", type=float, default=300, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return 0
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
