"""The fake FreeSWITCH in a process of its own, instrumented for the benches.

Started by bench/benchlib.py (``FakeSwitchProcess``); prints ``listening <port>`` once
the ESL server is up, then serves until killed. It is the fake from
fsworker/esl/fake (FakeSwitchServer + FakePBX, unchanged) with three additions that live
only here:

- time: the PBX's ManualClock starts at the wall clock and a loop advances it with
  real time every ``--tick`` seconds (as ``fsworker fake-switch`` does), so event
  timestamps and the worker's SystemClock agree; the loop records how long each
  ``advance`` took (the switch's own lag) and how late the loop woke;
- records, with ``time.time()`` (the wall clock, comparable across processes of this
  machine): when each inbound (customer) CHANNEL_HANGUP_COMPLETE was written to the
  sockets, and when each ``bgapi originate`` for a task (``fsw_task_id``) was received,
  per ``fsw_role``; a sampler counts bridged pairs and channels up every 50 ms;
- two bench-only api commands: ``bench_inject calls=N rate=R [hangup_after=S]
  [ring=EP] [first=NUMBER]`` schedules N customers calling at a steady R calls/s, each
  lost after ``hangup_after`` seconds of ringing; ``bench_stats`` answers with every
  record as JSON (and this process's CPU seconds and peak RSS).

Endpoints: ``user/...`` (employees) answer after ``--employee-answer-after`` seconds
(negative: they ring until the originate times out); ``sofia/gateway/pstn/...``
(customers) answer after ``--customer-answer-after`` and hang up
``--customer-talk-s`` seconds later.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # bench/queue.py

from gevent import monkey  # noqa: E402

monkey.patch_all()

import argparse  # noqa: E402
import functools  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402

sys.path.insert(0, str(_HERE.parent))

from bench.benchlib import GcPauses  # noqa: E402
from fsworker.core.clock import ManualClock  # noqa: E402
from fsworker.testing.fakeswitch.directory import Behaviour  # noqa: E402
from fsworker.testing.fakeswitch.pbx import FakePBX  # noqa: E402
from fsworker.testing.fakeswitch.server import FakeSwitchServer  # noqa: E402

_TASK_RE = re.compile(r"fsw_task_id=(\d+)")
_ROLE_RE = re.compile(r"fsw_role=(\w+)")


class Records:
    def __init__(self) -> None:
        self.hangup_at: dict[str, float] = {}  #: inbound uuid -> HANGUP_COMPLETE written
        self.originate_at: dict[str, dict[str, float]] = {}  #: role -> task id -> first originate
        self.originates = 0
        self.injected: list[str] = []
        self.peak_bridged = 0
        self.peak_channels = 0
        self.bridged_now = 0
        self.max_advance_s = 0.0
        self.advance_s_total = 0.0
        self.max_tick_late_s = 0.0
        self.gc = GcPauses()  #: the switch side's garbage collections


class BenchServer(FakeSwitchServer):
    records: Records

    def _record(self, connection: int, line: str) -> None:
        if line.startswith("bgapi originate"):
            now = time.time()
            self.records.originates += 1
            task, role = _TASK_RE.search(line), _ROLE_RE.search(line)
            if task:
                per_role = self.records.originate_at.setdefault(role.group(1) if role else "", {})
                per_role.setdefault(task.group(1), now)
        super()._record(connection, line)


class BenchPBX(FakePBX):
    records: Records

    def api(self, command: str, arg: str = "") -> str:
        if command == "bench_stats":
            return self._stats()
        if command == "bench_inject":
            return self._inject(arg)
        return super().api(command, arg)

    def _inject(self, arg: str) -> str:
        opts = dict(w.split("=", 1) for w in arg.split())
        calls, rate = int(opts["calls"]), float(opts["rate"])
        hangup_after = float(opts.get("hangup_after", "6"))
        ring = opts.get("ring", "user/101")
        first = int(opts.get("first", "79000000000"))
        did = opts.get("did", "74950000001")
        with self.scheduler.lock:
            start = self.scheduler.now() + 0.05
            for i in range(calls):
                call = functools.partial(
                    self._inject_one, str(first + i), did, ring, hangup_after)
                self.scheduler.call_at(start + i / rate, call)
        return f"+OK {calls} calls at {rate:g}/s\n"

    def _inject_one(self, customer: str, did: str, ring: str, hangup_after: float) -> None:
        uuid = self.inbound_call(customer, did, ring=[[ring]], leg_timeout=60,
                                 customer_hangs_up_after=hangup_after,
                                 vars={"fsw_number": did, "fsw_scenario": "sales"})
        self.records.injected.append(uuid)

    def _stats(self) -> str:
        r = self.records
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return json.dumps({
            "hangup_at": r.hangup_at, "originate_at": r.originate_at, "originates": r.originates,
            "injected": len(r.injected), "peak_bridged": r.peak_bridged, "bridged_now": r.bridged_now,
            "peak_channels": r.peak_channels, "channels_now": len(self.channels),
            "max_advance_s": r.max_advance_s, "advance_s_total": r.advance_s_total,
            "max_tick_late_s": r.max_tick_late_s, "max_gc_s": r.gc.longest,
            "cpu_s": ru.ru_utime + ru.ru_stime, "max_rss_mb": ru.ru_maxrss / 1024,
        }) + "\n"


def realtime(pbx: BenchPBX, records: Records, tick: float) -> None:
    last = time.monotonic()
    while True:
        wake_at = time.monotonic() + tick
        gevent.sleep(tick)
        now = time.monotonic()
        records.max_tick_late_s = max(records.max_tick_late_s, now - wake_at)
        try:
            pbx.advance(now - last)
        except Exception:  # noqa: BLE001 - a bad timer must not stop the clock
            logging.getLogger("bench.fakeswitch").exception("timer failed")
        took = time.monotonic() - now
        records.advance_s_total += took
        records.max_advance_s = max(records.max_advance_s, took)
        last = now


def sampler(pbx: BenchPBX, records: Records) -> None:
    while True:
        gevent.sleep(0.05)
        chans = list(pbx.channels.values())
        bridged = sum(1 for c in chans if c.bridged_to and c.alive) // 2
        records.bridged_now = bridged
        records.peak_bridged = max(records.peak_bridged, bridged)
        records.peak_channels = max(records.peak_channels, len(chans))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--password", default="ClueCon")
    ap.add_argument("--tick", type=float, default=0.01)
    ap.add_argument("--employee-answer-after", type=float, default=-1.0)
    ap.add_argument("--customer-answer-after", type=float, default=1.0)
    ap.add_argument("--customer-talk-s", type=float, default=15.0)
    ap.add_argument("--speak-seconds", type=float, default=1.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    records = Records()
    clock = ManualClock(time.time())
    server = BenchServer(password=args.password, clock=clock)
    server.records = records
    pbx = BenchPBX(server.bus, clock=clock, speak_seconds=args.speak_seconds)
    pbx.records = records
    server.backend = pbx
    employee = (Behaviour.answers(after=args.employee_answer_after)
                if args.employee_answer_after >= 0 else Behaviour.rings())
    pbx.directory.set_pattern(r"user/.*", employee)
    pbx.directory.set_pattern(r"sofia/gateway/pstn/.*", Behaviour.answers(
        after=args.customer_answer_after, hangup_after=args.customer_talk_s))

    publish = server.bus.publish

    def timed_publish(headers, body=b""):  # noqa: ANN001, ANN202
        publish(headers, body)
        if (headers and headers[0] == ("Event-Name", "CHANNEL_HANGUP_COMPLETE")
                and ("Call-Direction", "inbound") in headers):
            uuid = next(v for k, v in headers if k == "Unique-ID")
            records.hangup_at.setdefault(uuid, time.time())

    server.bus.publish = timed_publish  # type: ignore[method-assign]
    server.start()
    gevent.spawn(realtime, pbx, records, args.tick)
    gevent.spawn(sampler, pbx, records)
    profile_to = os.environ.get("FSWORKER_BENCH_FAKE_PROFILE")
    if profile_to:  # where the switch side's CPU goes (written when the bench stops it)
        import cProfile
        import signal

        prof = cProfile.Profile()
        prof.enable()

        def dump() -> None:
            prof.disable()
            prof.dump_stats(profile_to)
            os._exit(0)

        gevent.signal_handler(signal.SIGTERM, dump)
    # The switch this stands in for is C: it never stops for a garbage collection. Its
    # Python stand-in did, for up to ~40 ms, and then sent the calls that ended meanwhile
    # as one burst: a load pattern a real switch does not make (fake_max_gc in the figures
    # says what is left). A bench run is short; its cyclic garbage can wait.
    gc.collect()
    gc.freeze()
    gc.disable()
    print(f"listening {server.port}", flush=True)
    while True:
        gevent.sleep(3600)


if __name__ == "__main__":
    main()
