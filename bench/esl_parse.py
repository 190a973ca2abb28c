"""ESL parsing throughput: fsworker's sans-I/O parser vs greenswitch's own parsing.

Both parse the same bytes: the largest recorded trace (14-events-during-load, real
FreeSWITCH 1.10.12 output) once, and a long stream built by repeating its event frames.
greenswitch is driven through its real code path (ESLProtocol.receive_events reading
line by line from a file object, ESLEvent.parse_data per event); fsworker's Parser is
fed the bytes in the trace's own recv() chunk sizes.

Two fsworker figures are printed: "detector" reads the headers the lost-call detector
reads from every event (what the service really does), "full" decodes every header of
every event (the same work greenswitch always does). The last line is
``speedup_vs_greenswitch: X`` for the detector path; ``speedup_full`` is printed too.
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
sys.path.insert(0, str(ROOT))

from fsworker.esl.parser import NEED_DATA, Parser, parse_all  # noqa: E402

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


def greenswitch_parse(data: bytes) -> int:
    from greenswitch import esl

    logging.getLogger().setLevel(logging.CRITICAL)

    class _Reply:
        def set(self, _value: object) -> None:
            pass

    proto = esl.ESLProtocol()
    proto.sock_file = io.BytesIO(data)
    proto.sock = io.BytesIO()  # receive_events closes it at EOF
    proto.connected = True
    proto._commands_sent = [_Reply() for _ in range(data.count(b"Content-Type: command/reply") + data.count(b"Content-Type: api/response"))]
    proto.receive_events()
    events = 0
    while not proto._esl_event_queue.empty():
        ev = proto._esl_event_queue.get()
        if "Event-Name" in ev.headers:
            events += 1
    return events


def timed(fn, *args) -> tuple[float, int]:
    best = float("inf")
    n = 0
    for _ in range(3):
        t0 = time.perf_counter()
        n = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10, help="repetitions for the long stream")
    args = ap.parse_args()

    data = TRACE.read_bytes()
    sizes = chunk_sizes()
    ratios_detector, ratios_full = [], []
    for label, stream in (("trace14", data), (f"trace14x{args.repeat}", build_long_stream(data, args.repeat))):
        mb = len(stream) / 1e6
        chunks = chunks_of(stream, sizes)
        t_gs, n_gs = timed(greenswitch_parse, stream)
        t_det, n_det = timed(fsworker_parse, chunks, "detector")
        t_full, n_full = timed(fsworker_parse, chunks, "full")
        assert n_gs == n_det == n_full, (n_gs, n_det, n_full)
        for name, t in (("greenswitch", t_gs), ("fsworker_detector", t_det), ("fsworker_full", t_full)):
            print(f"{label:14s} {name:18s} events={n_gs:6d} {n_gs / t:12,.0f} events/s {mb / t:8.1f} MB/s")
        ratios_detector.append(t_gs / t_det)
        ratios_full.append(t_gs / t_full)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max_rss_mb: {rss_mb:.0f}")
    print(f"speedup_full: {min(ratios_full):.1f}")
    print(f"speedup_vs_greenswitch: {min(ratios_detector):.1f}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
