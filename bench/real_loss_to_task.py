"""Lost call -> task committed on a real FreeSWITCH, with SIPp customers (not in `make bench`).

Needs the lab of the README's "Real-switch tests": FreeSWITCH configured from
tests/data/realswitch (`tests/data/realswitch/start.sh`) and `sipp` on the PATH;
FSWORKER_REAL_SWITCH=host:port (default 127.0.0.1:8021). One SIPp process places
``--calls`` calls at ``--rate`` calls/s to 74950000001 (the group ring nobody answers),
each from its own customer number, and cancels each after ``--ring-ms``: lost calls.
A real fsworker Service (SystemClock, the green psycopg2 that ``fsworker run`` installs)
runs in this process; its intake observer stamps ``time.time()`` right after the task's
row is committed (as bench/loss_to_task_rate.py). The switch's own stamp is the
Event-Date-Timestamp of the customer leg's CHANNEL_HANGUP_COMPLETE: the moment
FreeSWITCH made the event, on the same machine's clock. The rule's first interval is an
hour, so no callback is dialled. Prints p50/p99/max per database.
Last line: ``real_loss_to_task_p99_ms: X`` (worst database).
Run: ``python bench/real_loss_to_task.py [--rate 10] [--calls 200] [--pg URL|'']``.
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
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402

sys.path.insert(0, str(_HERE.parent))

from bench.benchlib import (  # noqa: E402
    PG_ADMIN,
    Databases,
    Diag,
    ErrorCount,
    intake_config,
    seed_intake_db,
    stamp_task_created,
    summary_ms,
)
from fsworker.service.app import Service  # noqa: E402

SIPP_DIR = _HERE.parent / "tests" / "data" / "realswitch" / "sipp"
DID = "74950000001"
SIP_PORT = 5060
ENV = {"FSWORKER_ESL_PASSWORD": os.environ.get("FSWORKER_ESL_PASSWORD", "ClueCon")}


def sipp_customers(host: str, numbers: list[str], *, rate: float, ring_ms: int, workdir: Path) -> subprocess.Popen:
    csv = workdir / "customers.csv"
    csv.write_text("SEQUENTIAL\n" + "".join(f"{n};\n" for n in numbers), encoding="utf-8")
    sip_port = random.randrange(20000, 29990, 10)
    return subprocess.Popen(
        ["sipp", f"{host}:{SIP_PORT}", "-sf", str(SIPP_DIR / "uac_ring_cancel.xml"), "-inf", str(csv),
         "-s", DID, "-i", "127.0.0.1", "-p", str(sip_port), "-mp", str(sip_port + 5000), "-t", "u1",
         "-r", f"{rate:g}", "-m", str(len(numbers)), "-d", str(ring_ms), "-nostdin", "-pause_msg_ign", "-aa",
         "-timeout", "600s", "-timeout_error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True, cwd=workdir)


def run(url: str, *, host: str, port: int, rate: float, calls: int, ring_ms: int) -> dict[str, float]:
    seed_intake_db(url, "sofia/internal/101@127.0.0.1:5072")
    service = Service(intake_config(url, host, port, workers=4, worker_id="bench-real-intake"), environ=ENV)
    created_at = stamp_task_created(service)
    hangup_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}  # when the event reached a handler in this process
    original = service.observer.task_created

    def task_created(call, task_id, rule, due_at):  # noqa: ANN001, ANN202
        created_at[call.call_uuid] = time.time()
        original(call, task_id, rule, due_at)

    def hangup_complete(ev) -> None:  # noqa: ANN001
        if ev.get("Call-Direction") == "inbound" and ev.get("Caller-Destination-Number") == DID:
            seen_at[ev.uuid or ""] = time.time()
            hangup_at[ev.uuid or ""] = int(ev.get("Event-Date-Timestamp") or 0) / 1e6

    errors = ErrorCount()
    workdir = Path(tempfile.mkdtemp(prefix="fsworker-real-bench-"))
    numbers = [f"7916{n:07d}" for n in random.sample(range(10**7), calls)]
    try:
        service.start(metrics=False)
        assert service.wait_connected(10), f"fsworker did not connect to FreeSWITCH at {host}:{port}"
        service.nodes[0].conn.register_handle("CHANNEL_HANGUP_COMPLETE", hangup_complete)
        diag = Diag(service)
        sipp = sipp_customers(host, numbers, rate=rate, ring_ms=ring_ms, workdir=workdir)
        deadline = time.time() + calls / rate + ring_ms / 1000 + 60
        while (len(created_at) < calls or sipp.poll() is None) and time.time() < deadline:
            gevent.sleep(0.2)
        rc = sipp.poll()
        if rc is None:
            sipp.kill()
        diag_line = diag.line(len(created_at), "lost call")
    finally:
        service.stop(grace_s=0)
        errors.close()
        shutil.rmtree(workdir, ignore_errors=True)
    both = [u for u in hangup_at if u in created_at]
    lat = [created_at[u] - hangup_at[u] for u in both]
    out = summary_ms(lat) if lat else {"p50": float("nan"), "p99": float("inf"), "max": float("inf")}
    # The split: switch stamp -> event in our handler (the switch's event thread, the wire,
    # our reader), then event -> task committed (the detector, the intake, the database).
    wire = summary_ms([seen_at[u] - hangup_at[u] for u in both]) if lat else out
    ours = summary_ms([created_at[u] - seen_at[u] for u in both]) if lat else out
    out["split"] = (f"switch stamp -> event handled min={wire['min']:.1f} p50={wire['p50']:.1f} "
                    f"p99={wire['p99']:.1f} ms; "
                    f"event handled -> task committed p50={ours['p50']:.1f} p99={ours['p99']:.1f} ms")
    hangups = sorted(hangup_at[u] for u in both)
    if os.environ.get("FSWORKER_BENCH_DUMP"):  # every call's (switch stamp, wire, ours) to look at
        import json

        with open(os.environ["FSWORKER_BENCH_DUMP"] + f"-{url.split(':')[0]}.json", "w") as out_file:
            json.dump(sorted((hangup_at[u], seen_at[u] - hangup_at[u], created_at[u] - seen_at[u]) for u in both),
                      out_file)
    out.update(calls=calls, lost=len(hangup_at), tasks=len(created_at), missing=calls - len(both),
               sipp_rc=-1 if rc is None else rc,
               lost_per_s=(len(hangups) - 1) / (hangups[-1] - hangups[0]) if len(hangups) > 1 else 0.0,
               diag=diag_line + "; " + errors.line())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=10.0, help="lost calls per second")
    ap.add_argument("--calls", type=int, default=200, help="how many lost calls")
    ap.add_argument("--ring-ms", type=int, default=2000, help="each customer rings this long, then hangs up")
    ap.add_argument("--pg", default=PG_ADMIN, help="PostgreSQL admin URL; '' to skip PostgreSQL")
    ap.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if shutil.which("sipp") is None:
        sys.exit("bench/real_loss_to_task.py: sipp is not on the PATH (README, \"Real-switch tests\")")
    host, _, port = os.environ.get("FSWORKER_REAL_SWITCH", "127.0.0.1:8021").rpartition(":")
    kinds = (["sqlite"] if args.sqlite else []) + (["postgresql"] if args.pg else [])
    if args.pg:
        from fsworker.store import make_psycopg2_green

        make_psycopg2_green()  # as `fsworker run` does
    dbs = Databases(args.pg or PG_ADMIN)
    worst = 0.0
    try:
        for kind in kinds:
            r = run(dbs.url(kind), host=host, port=int(port), rate=args.rate, calls=args.calls,
                    ring_ms=args.ring_ms)
            dbs.drop()
            worst = max(worst, r["p99"] if not r["missing"] else float("inf"))
            print(f"{kind:10s} rate={args.rate:g}/s calls={r['calls']} lost={r['lost']} tasks={r['tasks']} "
                  f"missing={r['missing']} p50={r['p50']:.1f}ms p99={r['p99']:.1f}ms max={r['max']:.1f}ms "
                  f"lost_at={r['lost_per_s']:.1f}/s sipp_exit={r['sipp_rc']}", flush=True)
            print(f"{kind:10s} split: {r['split']}", flush=True)
            print(f"{kind:10s} diag: {r['diag']}", flush=True)
    finally:
        dbs.drop()
    print(f"real_loss_to_task_p99_ms: {worst:.1f}")


if __name__ == "__main__":
    main()
