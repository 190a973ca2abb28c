"""Fuzzing the sans-I/O ESL parser (issue 7, hostile input).

Properties, for any bytes in any chunking:
- the parser only returns frames or raises ``RemoteProtocolError`` (``FrameTooLargeError``
  included); reading a returned event only raises ``RemoteProtocolError`` too. Never
  IndexError, ValueError, UnicodeDecodeError, KeyError, RecursionError...;
- a valid stream, cut anywhere, gives exactly the generated frames (headers, body,
  offset, event contents); a mutated stream cut anywhere gives the same frames and
  the same error (class and offset) as the same bytes fed whole;
- whenever it returns NEED_DATA the parser holds at most its documented caps
  (``max_header_bytes`` + 1 for an unfinished header block, ``max_body_bytes`` for a
  body) plus less than one compaction step of consumed bytes;
- after an error nothing more comes out (the module rules: the stream cannot be
  re-synchronised, the caller drops the link): the same error is raised again;
- no example hangs: a SIGALRM watchdog fails any example that runs past the limit.

The frame budget comes from ``FSWORKER_FUZZ_FRAMES`` (default 20000, a few seconds);
``FSWORKER_FUZZ_FRAMES=1000000 pytest -s tests/fuzz/test_fuzz_parser.py`` keeps drawing
examples until a million generated frames went through the parser, then prints frames,
examples, frames/s, errors by class and memory peaks (and writes them as JSON to
``FSWORKER_FUZZ_REPORT`` when set). A failure notes the case (seed, frame count,
mutations, chunking) and writes the exact bytes fed to a file named in the report.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import resource
import signal
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from fsworker.esl.proto import parser as parser_module
from fsworker.esl.proto.errors import FrameTooLargeError, RemoteProtocolError
from fsworker.esl.proto.frames import UNDEF, Event, Frame, _unquote
from fsworker.esl.proto.parser import NEED_DATA, Parser
from tests.conftest import TRACES
from tests.fuzz.strategies import EVENT_ERROR, Case, Stream, caps, cases, chunkings, gen_stream, mutations

FRAMES_TARGET = int(os.environ.get("FSWORKER_FUZZ_FRAMES", "20000"))
WATCHDOG_S = float(os.environ.get("FSWORKER_FUZZ_WATCHDOG", "2.0"))
REPORT = os.environ.get("FSWORKER_FUZZ_REPORT")
MEMORY_SAMPLE_EVERY = 25  # run one example in this many under tracemalloc
COMPACT_AT = parser_module._COMPACT_AT
REPRO_DIR = Path(tempfile.gettempdir()) / "fsworker-fuzz"
COMMON = {
    "deadline": None,  # the watchdog below bounds each example instead
    "database": None,
    "print_blob": True,
    "suppress_health_check": list(HealthCheck),
}


class Hang(AssertionError):
    """An example ran past the watchdog."""


@contextmanager
def watchdog(seconds: float = WATCHDOG_S) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise Hang(f"example still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- statistics ------------------------------------------------------------------
@dataclass
class Stats:
    examples: int = 0
    frames_fed: int = 0  # generated frames delivered to the parser (valid pass)
    frames_parsed: int = 0  # frames next_frame returned (all passes)
    bytes_fed: int = 0
    mutated_streams: int = 0
    errors: Counter = field(default_factory=Counter)  # parser errors by class
    event_errors: Counter = field(default_factory=Counter)  # errors reading events
    slowest_s: float = 0.0
    tracemalloc_peak: int = 0  # largest sampled per-example peak
    seconds: float = 0.0


STATS = Stats()


# -- running the parser ----------------------------------------------------------
@dataclass
class Outcome:
    frames: list[Frame]
    error: RemoteProtocolError | None
    buffered: int

    def signature(self) -> tuple:
        frames = [(f.offset, tuple(f.headers.items()), f.body) for f in self.frames]
        if self.error is None:
            return frames, None, self.buffered
        # After an error the bytes fed differ (a cut stream stops at the error).
        return frames, (type(self.error), self.error.offset), None


def _check_memory(parser: Parser) -> None:
    cap = max(parser.max_header_bytes + 1, parser.max_body_bytes)
    assert parser.buffered <= cap, f"{parser.buffered} bytes buffered, caps allow {cap}"
    # White-box: consumed bytes still held before the next compaction.
    held = len(parser._buf) - parser.buffered
    assert held < COMPACT_AT, f"{held} consumed bytes still held (compaction at {COMPACT_AT})"


def _touch(frame: Frame, stats: Stats) -> None:
    """Read everything a consumer may read; only RemoteProtocolError may come out."""
    _ = (frame.content_type, frame.ok, frame.text, frame.linger, frame.reply_text, repr(frame))
    if not frame.is_event:
        return
    try:
        ev = frame.event
        _ = (ev.name, ev.headers, ev.body, ev.body_text, ev.uuid, ev.job_uuid, ev.subclass,
             ev.timestamp_us, ev.sequence, list(ev.keys()), ev.get_all("Event-Name"),
             ev.variable("fsw_task_id"), ev.raw("Unique-ID"), "Unique-ID" in ev, repr(ev))
    except RemoteProtocolError as exc:
        stats.event_errors[type(exc).__name__] += 1


def run_parser(chunks: list[bytes], caps: tuple[int, int] | None, stats: Stats, *, touch: bool = True) -> Outcome:
    parser = Parser() if caps is None else Parser(max_header_bytes=caps[0], max_body_bytes=caps[1])
    frames: list[Frame] = []
    for chunk in chunks:
        parser.feed(chunk)
        while True:
            try:
                frame = parser.next_frame()
            except RemoteProtocolError as exc:
                _check_sticky(parser, exc)
                stats.frames_parsed += len(frames)
                return Outcome(frames, exc, parser.buffered)
            if frame is NEED_DATA:
                _check_memory(parser)
                break
            assert isinstance(frame, Frame)
            frames.append(frame)
            if touch:
                _touch(frame, stats)
    stats.frames_parsed += len(frames)
    return Outcome(frames, None, parser.buffered)


def _check_sticky(parser: Parser, exc: RemoteProtocolError) -> None:
    """No re-synchronisation: more bytes, even a whole valid frame, give the same error."""
    parser.feed(b"\n\nContent-Type: auth/request\n\n")
    try:
        frame = parser.next_frame()
    except RemoteProtocolError as again:
        assert type(again) is type(exc) and again.offset == exc.offset, (exc, again)
    else:
        raise AssertionError(f"parser produced {frame!r} after {exc!r}")


# -- the oracle for valid streams ------------------------------------------------
def _expected_error_at(stream: Stream, caps: tuple[int, int] | None) -> int | None:
    """Index of the first frame the caps refuse (FrameTooLargeError), if any."""
    if caps is None:
        return None
    max_header, max_body = caps
    for i, gen in enumerate(stream.frames):
        if gen.data.index(b"\n\n") > max_header or len(gen.body) > max_body:
            return i
    return None


def _check_event(frame: Frame, gen) -> None:
    if gen.event is None:
        return
    if gen.event == EVENT_ERROR:
        with pytest.raises(RemoteProtocolError):
            ev = frame.event
            _ = (ev.headers, ev.body)
        return
    pairs, body = gen.event
    ev = frame.event
    last = dict(pairs)
    for name, value in last.items():
        assert ev.get(name) == (None if value == UNDEF else value), name
    assert ev.body == body
    assert ev.name == last["Event-Name"]
    if frame.content_type == "text/event-plain":
        for name in last:
            assert ev.get_all(name) == [v for k, v in pairs if k == name and v != UNDEF], name


def check_valid(stream: Stream, case: Case, stats: Stats) -> None:
    out = run_parser(case.chunking.cut(stream.data), case.caps, stats, touch=False)
    refused = _expected_error_at(stream, case.caps)
    expected = stream.frames if refused is None else stream.frames[:refused]
    stats.frames_fed += len(stream.frames) if refused is None else refused + 1
    got = out.frames
    assert len(got) == len(expected), (len(got), len(expected), out.error)
    for frame, gen, offset in zip(got, expected, stream.offsets):
        assert frame.offset == offset
        assert tuple(frame.headers.items()) == gen.headers
        assert frame.body == gen.body
        _check_event(frame, gen)
        _touch(frame, stats)
    if refused is None:
        assert out.error is None, out.error
        assert out.buffered == 0
    else:
        assert isinstance(out.error, FrameTooLargeError), out.error
        assert out.error.offset == stream.offsets[refused]
        stats.errors[type(out.error).__name__] += 1


def check_mutated(data: bytes, case: Case, stats: Stats) -> None:
    chunks = case.chunking.cut(data)
    _note_repro("mutated", data, case)
    cut = run_parser(chunks, case.caps, stats)
    whole = run_parser([data], case.caps, stats, touch=False)
    assert cut.signature() == whole.signature()
    stats.mutated_streams += 1
    if cut.error is not None:
        stats.errors[type(cut.error).__name__] += 1


def _note_repro(label: str, data: bytes, case: Case) -> None:
    """On the final (shrunk) failing run, keep the exact bytes and cuts for a replay."""
    try:
        from hypothesis.control import current_build_context

        final = current_build_context().is_final
    except Exception:  # noqa: BLE001 - outside a hypothesis run, or internals moved
        final = False
    if not final:
        return
    chunks = case.chunking.cut(data)
    REPRO_DIR.mkdir(exist_ok=True)
    path = REPRO_DIR / f"{label}-{hashlib.sha1(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    path.with_suffix(".chunks.json").write_text(json.dumps([len(c) for c in chunks]))
    note(f"{label} stream: {len(data)} bytes in {len(chunks)} chunks -> {path} (+ .chunks.json)")
    note(f"{label} stream starts {data[:400]!r}")


def _check_case_once(case: Case, stats: Stats) -> None:
    stream = gen_stream(case.seed, case.n_frames, case.trace_percent, case.stray_newlines)
    stats.bytes_fed += len(stream.data)
    _note_repro("valid", stream.data, case)
    check_valid(stream, case, stats)
    if case.mutations:
        data = stream.data
        for m in case.mutations:
            data = m.apply(data)
        stats.bytes_fed += len(data)
        check_mutated(data, case, stats)


def check_case(case: Case, stats: Stats = STATS) -> None:
    started = time.perf_counter()
    with watchdog():
        _check_case_once(case, stats)
    stats.slowest_s = max(stats.slowest_s, time.perf_counter() - started)
    stats.examples += 1
    if stats.examples % MEMORY_SAMPLE_EVERY == 0:
        # Again under tracemalloc (several times slower, so apart from the timing):
        # the peak of a whole example, stream and frames included.
        scratch = Stats()
        with watchdog(WATCHDOG_S * 10):
            tracemalloc.start()
            try:
                _check_case_once(case, scratch)
                stats.tracemalloc_peak = max(stats.tracemalloc_peak, tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()


def _run_batch(max_examples: int) -> None:
    @settings(max_examples=max_examples, phases=(Phase.explicit, Phase.generate, Phase.shrink), **COMMON)
    @given(case=cases())
    def batch(case: Case) -> None:
        check_case(case)

    batch()


def test_fuzz_parser_streams() -> None:
    """Valid and mutated streams until FSWORKER_FUZZ_FRAMES generated frames were fed."""
    started = time.perf_counter()
    frames0 = STATS.frames_fed
    while STATS.frames_fed - frames0 < FRAMES_TARGET:
        left = FRAMES_TARGET - (STATS.frames_fed - frames0)
        _run_batch(min(1000, max(10, math.ceil(left / 90))))
    STATS.seconds = time.perf_counter() - started
    _report(STATS)
    assert STATS.slowest_s < WATCHDOG_S


TRACE_FILES = sorted(TRACES.glob("*.fs.bin"))


@settings(max_examples=int(os.environ.get("FSWORKER_FUZZ_TRACE_EXAMPLES", "40")), **COMMON)
@given(index=st.sampled_from(range(len(TRACE_FILES))), muts=mutations, chunking=chunkings, caps=caps)
def test_fuzz_recorded_traces_mutated(index: int, muts: list, chunking, caps, split_path: str) -> None:
    """Whole recorded sessions, mutated and cut: typed errors only, cut == whole (with
    and without the C accelerator)."""
    data = TRACE_FILES[index].read_bytes()
    for m in muts:
        data = m.apply(data)
    case = Case(seed=0, n_frames=0, trace_percent=0, stray_newlines=False, caps=caps, mutations=muts,
                chunking=chunking)
    with watchdog(WATCHDOG_S * 5):  # the load trace alone is 4.4 MB, fed twice
        check_mutated(data, case, Stats())


def _report(stats: Stats) -> None:
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = {
        "frames_fed": stats.frames_fed,
        "frames_parsed": stats.frames_parsed,
        "examples": stats.examples,
        "mutated_streams": stats.mutated_streams,
        "bytes_fed": stats.bytes_fed,
        "seconds": round(stats.seconds, 1),
        "frames_per_s": round(stats.frames_fed / stats.seconds) if stats.seconds else None,
        "slowest_example_ms": round(stats.slowest_s * 1000, 1),
        "parser_errors": dict(stats.errors),
        "event_errors": dict(stats.event_errors),
        "tracemalloc_peak_per_example_bytes": stats.tracemalloc_peak,
        "ru_maxrss_kib": rss_kib,
    }
    print("\nESL parser fuzz:", json.dumps(summary, indent=1))
    if REPORT:
        Path(REPORT).write_text(json.dumps(summary, indent=1) + "\n")


# -- memory under floods ---------------------------------------------------------
FLOOD_KINDS = ["long-line", "header-lines", "newlines", "api-frames", "events", "max-body", "huge-length"]


def _flood(kind: str, caps: tuple[int, int], chunk: int) -> Iterator[bytes]:
    """Endless chunks of one hostile pattern, made lazily (the stream is never held)."""
    max_header, max_body = caps
    if kind == "long-line":
        yield b"Content-Type: command/reply\nX-Long: "
        while True:
            yield b"A" * chunk
    unit = {
        "header-lines": b"X-Header: value\n",
        "newlines": b"\n",
        # Frames back to back, many per chunk (consumed bytes wait for compaction).
        "api-frames": b"Content-Type: api/response\nContent-Length: 600\n\n" + b"R" * 600,
        "events": b"Content-Length: 424\nContent-Type: text/event-plain\n\nEvent-Name: HEARTBEAT\n"
        + b"X: " + b"v" * 397 + b"\n\n",
    }.get(kind)
    if unit is not None:
        # The unit repeated without end, cut every `chunk` bytes: pieces end mid-frame
        # (a piece ending on a frame boundary would empty the buffer by itself).
        big = unit * (chunk // len(unit) + 2)
        offset = 0
        while True:
            start = offset % len(unit)
            yield big[start:start + chunk]
            offset += chunk
    if kind == "max-body":
        while True:  # frames with the largest body the caps allow, back to back
            yield b"Content-Type: api/response\nContent-Length: %d\n\n" % max_body
            left = max_body
            while left:
                n = min(chunk, left)
                yield b"B" * n
                left -= n
    if kind == "huge-length":
        yield b"Content-Type: api/response\nContent-Length: %d\n\n" % (max_body * 1000 + 1)
        while True:
            yield b"C" * chunk
    raise AssertionError(kind)


FRAME_FLOODS = ("api-frames", "events", "max-body")  # many frames: costlier per byte


@pytest.mark.parametrize("caps", [(256, 1024), (4096, 65536), (65536, 262144)], ids=str)
@pytest.mark.parametrize("kind", FLOOD_KINDS)
def test_memory_stays_within_the_caps_under_floods(kind: str, caps: tuple[int, int]) -> None:
    """Megabytes of one hostile pattern: tracemalloc's peak follows the caps, not the input."""
    chunk = 4096 if kind in FRAME_FLOODS else 65536
    parser = Parser(max_header_bytes=caps[0], max_body_bytes=caps[1])
    retained = COMPACT_AT + max(caps[0] + 1, caps[1]) + chunk  # _check_memory's bounds
    bound = 2 * retained + 256 * 1024  # bytearray over-allocation, one body copy, slack
    total = 3 * bound  # an unbounded buffer would show
    source = _flood(kind, caps, chunk)
    fed = 0
    with watchdog(30.0):
        tracemalloc.start()
        try:
            try:
                while fed < total:
                    data = next(source)
                    fed += len(data)
                    parser.feed(data)
                    del data
                    while (frame := parser.next_frame()) is not NEED_DATA:
                        del frame
                    _check_memory(parser)
            except FrameTooLargeError as exc:
                assert kind in ("long-line", "header-lines", "huge-length"), exc
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    STATS.tracemalloc_peak = max(STATS.tracemalloc_peak, peak)
    assert peak <= bound, f"{kind}: traced peak {peak} bytes after {fed} fed; bound {bound}"
    if kind in ("newlines", "api-frames", "events", "max-body"):
        assert fed >= total  # valid (or tolerated) input never hits a cap


# -- the fast URL decoder against the standard library ----------------------------
@settings(max_examples=3000, **COMMON)
@given(st.text(alphabet=st.sampled_from(list("%%%%0123456789ABCDEFabcdefxXzZ\\ +:\n") + ["é", "Ж", "😀"]),
               max_size=40))
def test_fast_unquote_matches_urllib(value: str) -> None:
    assert _unquote(value) == unquote(value)


# -- regressions found by the fuzzer -----------------------------------------------
@pytest.mark.parametrize(
    "length",
    [
        "²".encode(),  # str.isdigit() is true, int() raised ValueError
        b"%C2%B2",  # the same after URL-decoding
        "٣".encode(),  # Arabic-Indic three: int() read it as 3
        b"9" * 5000,  # int() raised ValueError past 4300 digits
    ],
)
def test_content_length_must_be_ascii_digits_of_sane_length(length: bytes) -> None:
    p = Parser()
    p.feed(b"Content-Type: api/response\nContent-Length: " + length + b"\n\nabc")
    with pytest.raises(RemoteProtocolError):
        p.next_frame()
    ev = Event.from_plain(b"Event-Name: BACKGROUND_JOB\nContent-Length: " + length + b"\n\nabc")
    with pytest.raises(RemoteProtocolError):
        _ = ev.body


def test_leading_zeros_in_content_length_are_still_a_length() -> None:
    p = Parser()
    p.feed(b"Content-Type: api/response\nContent-Length: " + b"0" * 5000 + b"3\n\nabc")
    frame = p.next_frame()
    assert isinstance(frame, Frame) and frame.body == b"abc"


def test_deeply_nested_json_event_is_a_protocol_error() -> None:
    # json.loads raised RecursionError, which escaped the connection's read loop.
    frame = Frame({"Content-Type": "text/event-json"}, b"[" * 100_000)
    with pytest.raises(RemoteProtocolError):
        _ = frame.event


@pytest.mark.parametrize("depth", [100, 500, 900, 990, 1200])
def test_json_nested_near_the_recursion_limit_parses_or_is_refused(depth: int) -> None:
    # Near the limit json.loads may succeed and str() of the value recurse too deep.
    payload = b'{"Event-Name": "X", "a": ' + b"[" * depth + b"]" * depth + b"}"
    frame = Frame({"Content-Type": "text/event-json"}, payload)
    try:
        ev = frame.event
    except RemoteProtocolError:
        return
    assert ev.name == "X" and ev.get("a", "").startswith("ARRAY::")


def test_header_block_of_exactly_the_cap_in_pieces() -> None:
    # The block's first "\n" arrived as byte cap + 1: the parser refused a block the
    # whole-stream path accepts.
    block = b"Content-Type: command/reply\nReply-Text: +OK " + b"x" * 50
    p = Parser(max_header_bytes=len(block))
    p.feed(block + b"\n")
    assert p.next_frame() is NEED_DATA
    p.feed(b"\n")
    frame = p.next_frame()
    assert isinstance(frame, Frame) and frame.reply_text.startswith("+OK")
    q = Parser(max_header_bytes=len(block) - 1)
    q.feed(block)
    assert q.next_frame() is NEED_DATA
    q.feed(b"\n")  # cap + 2 bytes and no blank line: this block cannot fit any more
    with pytest.raises(FrameTooLargeError):
        q.next_frame()
