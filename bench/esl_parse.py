"""ESL parsing throughput: fsworker's sans-I/O parser vs greenswitch's own parsing.

Both parse the same bytes: the largest recorded trace (14-events-during-load, real
FreeSWITCH 1.10.12 output) once, and a long stream built by repeating its event frames.
greenswitch is driven through its real, unmodified code path (ESLProtocol.receive_events
reading line by line from a file object, handle_event, ESLEvent.parse_data per event);
its set-up (protocol object, reply waiters) is outside the timed region and its events
are counted from the queue's deque, so only parsing is timed. fsworker's Parser is fed
the bytes in the trace's own recv() chunk sizes. Before timing, both sides are checked to
deliver the same events in the same order with equal values for the detector's headers.
The sides take turns in each timed round (the machine is shared); the best round counts.
Also printed: p50/p99 latency of one event frame (feed, frame, read) on our side.

Two fsworker figures are printed: "detector" reads the headers the lost-call detector
reads from every event (what the service really does), "full" decodes every header of
every event (the same work greenswitch always does). Every event the detector path
reads is indexed whole by the optional C accelerator (``fsworker/esl/proto/_speedups.c``:
offsets, no object per header) or, without it, split whole as bytes (``Event._split``);
only the values read are decoded. "detector_py" is the detector path with the
accelerator switched off (what a machine without a C compiler runs). The last line is
``speedup_vs_greenswitch: X`` for the detector path; ``speedup_full`` and
``speedup_pure_python`` (the detector path without the accelerator) are printed too.
Run: ``make bench`` or ``python bench/esl_parse.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ also holds queue.py: drop this directory from the path so gevent (imported by
# greenswitch) gets the standard library's ``queue``.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(ROOT))

import fsworker.esl.proto.frames as frames_module  # noqa: E402
import fsworker.esl.proto.parser as parser_module  # noqa: E402
from fsworker.esl.proto.frames import Event  # noqa: E402
from fsworker.esl.proto.parser import NEED_DATA, Parser, parse_all  # noqa: E402

TRACE = ROOT / "tests" / "data" / "esl-traces" / "14-events-during-load.fs.bin"
TIMELINE = ROOT / "tests" / "data" / "esl-traces" / "14-events-during-load.timeline.tsv"

# Events the lost-call detector looks into (it skips the rest by name: CHANNEL_STATE,
# CHANNEL_CALLSTATE, CODEC, CHANNEL_EXECUTE*, ... are most of the stream).
DETECTOR_EVENTS = frozenset({
    "CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY", "CHANNEL_ORIGINATE", "CHANNEL_OUTGOING",
    "CHANNEL_PROGRESS", "BACKGROUND_JOB", "CUSTOM",
})
# Headers the detector reads from those events.
DETECTOR_HEADERS = (
    "Event-Name", "Unique-ID", "Event-Date-Timestamp", "Event-Sequence", "Call-Direction",
    "Other-Leg-Unique-ID", "Other-Type", "Caller-Caller-ID-Number", "Caller-Destination-Number",
    "Caller-Channel-Created-Time", "Hangup-Cause", "Channel-Name", "variable_fsw_number",
    "variable_fsw_scenario", "variable_fsw_site", "variable_fsw_campaign", "variable_fsw_task_id",
    "variable_fsw_ignore", "variable_transfer_history", "variable_originated_legs",
)


def chunk_sizes() -> list[int]:
    sizes = []
    for line in TIMELINE.read_text().splitlines()[1:]:
        _t, direction, _off, length = line.split("\t")
        if direction == "fs":
            sizes.append(int(length))
    return sizes


def chunks_of(data: bytes, sizes: list[int]) -> list[bytes]:
    out, pos, i = [], 0, 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        out.append(data[pos : pos + n])
        pos += n
        i += 1
    return out


def build_long_stream(data: bytes, repeat: int) -> bytes:
    """The trace's event frames repeated ``repeat`` times (handshake and exit once)."""
    frames = parse_all(data)
    events = [f for f in frames if f.is_event]
    # Slice the raw bytes of event frames out of the original stream, keeping them exact.
    first, last = events[0].offset, frames[-2].offset  # up to the `exit` reply
    head, middle, tail = data[:first], data[first:last], data[last:]
    return head + middle * repeat + tail


def fsworker_parse(chunks: list[bytes], mode: str) -> int:
    parser = Parser()
    events = 0
    for chunk in chunks:
        parser.feed(chunk)
        while True:
            frame = parser.next_frame()
            if frame is NEED_DATA:
                break
            if frame.is_event:
                ev = frame.event
                if mode == "detector":
                    if ev.name in DETECTOR_EVENTS:
                        for h in DETECTOR_HEADERS:
                            ev.get(h)
                else:
                    ev.headers  # noqa: B018 - materialise every decoded value
                events += 1
    return events


def fsworker_parse_pure(chunks: list[bytes]) -> int:
    """The detector path with the C accelerator switched off."""
    saved = frames_module._index_block, frames_module._name_of, parser_module._frame_event
    frames_module._index_block = frames_module._name_of = None
    parser_module._frame_event = None
    try:
        return fsworker_parse(chunks, "detector")
    finally:
        frames_module._index_block, frames_module._name_of, parser_module._frame_event = saved


def _gs_protocol(data: bytes):
    """greenswitch's ESLProtocol reading ``data`` as if from its socket file."""
    from greenswitch import esl

    class _Reply:
        def set(self, _value: object) -> None:
            pass

    proto = esl.ESLProtocol()
    proto.sock_file = io.BytesIO(data)
    proto.sock = io.BytesIO()  # receive_events closes it at EOF
    proto.connected = True
    # One waiter per reply, as if this client had sent the commands (trace: auth, event, exit).
    replies = data.count(b"Content-Type: command/reply") + data.count(b"Content-Type: api/response")
    proto._commands_sent = [_Reply() for _ in range(replies)]
    return proto


def greenswitch_events(data: bytes) -> list:
    proto = _gs_protocol(data)
    proto.receive_events()
    return [ev for ev in proto._esl_event_queue.queue if "Event-Name" in ev.headers]


def greenswitch_parse(proto) -> int:
    """greenswitch's real, unmodified receive_events -> handle_event -> ESLEvent.parse_data.

    The protocol object is prepared outside the timed region; the events are counted
    straight from the queue's deque (no gevent get() per event): only parsing is timed.
    """
    proto.receive_events()
    return sum(1 for ev in proto._esl_event_queue.queue if "Event-Name" in ev.headers)


def verify_same_events(data: bytes, chunks: list[bytes]) -> None:
    """Both sides deliver the same events in the same order, and the headers the
    detector reads have the same values (greenswitch decodes the whole block at once,
    which differs from ours only for values holding an encoded newline or ': ').

    Our values are read as the timed detector path reads them (``Event.get``, which
    splits the block as bytes when it has FreeSWITCH's shape) and are also checked
    against a fresh copy of the event materialised by the general text split
    (``Event.headers``)."""
    gs = greenswitch_events(data)
    parser = Parser()
    frames = []
    for chunk in chunks:
        parser.feed(chunk)
        frames.extend(f for f in parser.frames() if f.is_event)
    ours = [f.event for f in frames]
    assert [e.headers["Event-Name"] for e in gs] == [e.name for e in ours], "event order differs"
    checked = 0
    for g, o, f in zip(gs, ours, frames):
        if o.name in DETECTOR_EVENTS:
            general = Event.from_plain(f.body).headers
            for h in DETECTOR_HEADERS:
                value = o.get(h)
                assert g.headers.get(h) == value, (o.name, h, g.headers.get(h), value)
                assert general.get(h) == value, (o.name, h, general.get(h), value)
                checked += 1
    print(f"verified: {len(ours)} events in the same order, {checked} detector header values equal "
          "(greenswitch = our detector path = our general split)")


def frame_latencies(stream: bytes, mode: str, rounds: int = 5) -> tuple[float, float]:
    """p50 / p99 in µs of one event frame: feed its bytes, frame it, read what ``mode`` reads."""
    frames = [f for f in parse_all(stream) if f.is_event]
    raw = []
    for f in frames:
        header_len = stream.index(b"\n\n", f.offset) + 2 - f.offset
        raw.append(stream[f.offset : f.offset + header_len + len(f.body)])
    samples = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        parser = Parser()
        for frame_bytes in raw:
            t0 = clock()
            parser.feed(frame_bytes)
            ev = parser.next_frame().event
            if mode == "detector":
                if ev.name in DETECTOR_EVENTS:
                    for h in DETECTOR_HEADERS:
                        ev.get(h)
            else:
                ev.headers  # noqa: B018
            samples.append(clock() - t0)
    samples.sort()
    return samples[len(samples) // 2] / 1e3, samples[int(len(samples) * 0.99)] / 1e3


def timed_interleaved(runs: dict, rounds: int) -> dict:
    """Best of ``rounds`` for each function, the functions taking turns in each round so
    that load from other processes on the machine hits all of them alike."""
    best = {name: float("inf") for name in runs}
    counts = {}
    for _ in range(rounds):
        for name, (fn, make_arg) in runs.items():
            arg = make_arg()
            t0 = time.perf_counter()
            counts[name] = fn(*arg)
            best[name] = min(best[name], time.perf_counter() - t0)
    return {name: (best[name], counts[name]) for name in runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10, help="repetitions for the long stream")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds (best is kept)")
    args = ap.parse_args()
    logging.getLogger().setLevel(logging.CRITICAL)  # greenswitch logs to the root logger

    data = TRACE.read_bytes()
    sizes = chunk_sizes()
    built = frames_module._index_block is not None
    print(f"accelerator: {'fsworker.esl.proto._speedups (C) in use' if built else 'not built: pure Python only'}")
    verify_same_events(data, chunks_of(data, sizes))
    ratios_detector, ratios_full, ratios_pure = [], [], []
    for label, stream in (("trace14", data), (f"trace14x{args.repeat}", build_long_stream(data, args.repeat))):
        mb = len(stream) / 1e6
        chunks = chunks_of(stream, sizes)
        res = timed_interleaved(
            {
                "greenswitch": (greenswitch_parse, lambda s=stream: (_gs_protocol(s),)),
                "fsworker_detector": (fsworker_parse, lambda c=chunks: (c, "detector")),
                "fsworker_full": (fsworker_parse, lambda c=chunks: (c, "full")),
                "fsworker_detector_py": (fsworker_parse_pure, lambda c=chunks: (c,)),
            },
            args.rounds,
        )
        (t_gs, n_gs), (t_det, n_det), (t_full, n_full), (t_py, n_py) = res.values()
        assert n_gs == n_det == n_full == n_py, (n_gs, n_det, n_full, n_py)
        for name, (t, _n) in res.items():
            print(f"{label:14s} {name:20s} events={n_gs:6d} {n_gs / t:12,.0f} events/s {mb / t:8.1f} MB/s")
        ratios_detector.append(t_gs / t_det)
        ratios_full.append(t_gs / t_full)
        ratios_pure.append(t_gs / t_py)
    for mode in ("detector", "full"):
        p50, p99 = frame_latencies(data, mode)
        print(f"latency_one_event_frame_{mode}: p50={p50:.1f} us p99={p99:.1f} us")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max_rss_mb: {rss_mb:.0f}")
    print(f"speedup_full: {min(ratios_full):.1f}")
    print(f"speedup_pure_python: {min(ratios_pure):.1f}")
    print(f"speedup_vs_greenswitch: {min(ratios_detector):.1f}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
