"""The sans-I/O parser against the recorded FreeSWITCH 1.10.12 traces and hostile input."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest

from fsworker.esl.proto.errors import FrameTooLargeError, RemoteProtocolError
from fsworker.esl.proto.frames import Event, Frame
from fsworker.esl.proto.parser import NEED_DATA, Parser, parse_all
from tests.conftest import TRACES

# Every test here runs with and without the C accelerator (tests/speedups.py).
pytestmark = pytest.mark.usefixtures("split_path")

TRACE_NAMES = sorted(p.name[: -len(".fs.bin")] for p in TRACES.glob("*.fs.bin"))


def _expected_counts() -> dict[str, tuple[int, int, Counter, Counter]]:
    """The README's "Frames and events per trace" table."""
    out = {}
    for line in (TRACES / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[0] not in TRACE_NAMES:
            continue
        name, size, frames, by_type, events = cells
        types = Counter({t: int(n) for t, n in re.findall(r"([\w/-]+) (\d+)", by_type)})
        total, _, detail = events.partition(":")
        ev = Counter({e: int(n) for e, n in re.findall(r"([A-Z_]+) (\d+)", detail)})
        assert sum(ev.values()) == int(total)
        out[name] = (int(size), int(frames), types, ev)
    return out


EXPECTED = _expected_counts()


def _signature(frames: list[Frame]) -> list[tuple]:
    return [(f.offset, tuple(f.headers.items()), f.body) for f in frames]


def _feed_chunks(chunks) -> list[Frame]:
    parser = Parser()
    frames: list[Frame] = []
    for chunk in chunks:
        parser.feed(chunk)
        while (frame := parser.next_frame()) is not NEED_DATA:
            frames.append(frame)
    assert parser.buffered == 0
    return frames


def test_readme_table_covers_every_trace():
    assert sorted(EXPECTED) == TRACE_NAMES
    assert len(TRACE_NAMES) == 19


@pytest.mark.parametrize("name", TRACE_NAMES)
def test_trace_frame_and_event_counts(name):
    data = (TRACES / f"{name}.fs.bin").read_bytes()
    size, n_frames, types, events = EXPECTED[name]
    assert len(data) == size
    frames = parse_all(data)
    assert len(frames) == n_frames
    assert Counter(f.content_type for f in frames) == types
    assert Counter(f.event.name for f in frames if f.is_event) == events


@pytest.mark.parametrize("name", TRACE_NAMES)
def test_random_splits_and_recorded_chunking_give_the_same_frames(name):
    data = (TRACES / f"{name}.fs.bin").read_bytes()
    whole = _signature(parse_all(data))
    rng = random.Random(name)
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, 400)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    assert _signature(_feed_chunks(pieces)) == whole
    # The trace's own recv() chunking from its timeline.
    recorded = []
    for line in (TRACES / f"{name}.timeline.tsv").read_text().splitlines()[1:]:
        _, direction, offset, length = line.split("\t")
        if direction == "fs":
            recorded.append(data[int(offset) : int(offset) + int(length)])
    assert b"".join(recorded) == data
    assert _signature(_feed_chunks(recorded)) == whole


@pytest.mark.parametrize("name", [n for n in TRACE_NAMES if (TRACES / f"{n}.fs.bin").stat().st_size < 130_000])
def test_byte_by_byte_feed(name):
    data = (TRACES / f"{name}.fs.bin").read_bytes()
    whole = _signature(parse_all(data))
    assert _signature(_feed_chunks(data[i : i + 1] for i in range(len(data)))) == whole


def test_need_data_on_incomplete_frames_never_blocks():
    p = Parser()
    assert p.next_frame() is NEED_DATA
    p.feed(b"Content-Type: api/response\nContent-Length: 10\n\n12345")
    assert p.next_frame() is NEED_DATA
    p.feed(b"67890")
    frame = p.next_frame()
    assert frame.body == b"1234567890"
    assert p.next_frame() is NEED_DATA


def test_non_ascii_trace_16():
    frames = parse_all((TRACES / "16-non-ascii.fs.bin").read_bytes())
    events = [f.event for f in frames if f.is_event]
    creates = [e for e in events if e.name == "CHANNEL_CREATE"]
    assert any(e.get("Caller-Caller-ID-Name") == "Иван Петров" for e in creates)
    assert any(e.raw("Caller-Caller-ID-Name", ).startswith("%D0%98%D0%B2") for e in creates
               if e.raw("Caller-Caller-ID-Name"))
    jobs = [e for e in events if e.name == "BACKGROUND_JOB"]
    assert any("Автоперезвон" in e.body_text for e in jobs)
    apis = [f for f in frames if f.content_type == "api/response"]
    raw = [f for f in apis if "Автоперезвон".encode() in f.body]
    assert raw, "api/response carries raw UTF-8"
    assert int(raw[0].headers["Content-Length"]) == len(raw[0].body)
    assert len("Автоперезвон".encode()) == 24


def test_repeated_headers_07b():
    frames = parse_all((TRACES / "07b-lost-during-attended-transfer.fs.bin").read_bytes())
    events = [f.event for f in frames if f.is_event]
    dup = [e for e in events if len(e.get_all("Event-Name")) > 1]
    assert dup
    e = dup[0]
    assert e.get("Event-Name") == "PRIVATE_COMMAND"
    assert e.name == "PRIVATE_COMMAND"
    assert e.get_all("Event-Name") == ["COMMAND", "PRIVATE_COMMAND"]


def test_undef_is_absent():
    # The traces hold no _undef_ value; FreeSWITCH writes it for an unset variable.
    ev = Event.from_plain(b"Event-Name: CHANNEL_STATE\nvariable_x: _undef_\nOther: 1\n\n")
    assert ev.raw("variable_x") == "_undef_"
    assert ev.get("variable_x") is None
    assert ev.variable("x", "dflt") == "dflt"
    assert "variable_x" not in ev
    assert ev.get_all("variable_x") == []


def test_background_job_body_kept_apart_from_headers():
    frames = parse_all((TRACES / "02-commands.fs.bin").read_bytes())
    (ev,) = [f.event for f in frames if f.is_event]
    assert ev.name == "BACKGROUND_JOB"
    assert ev.job_uuid == "5a0c1e6e-0b1d-4c8e-9d39-000000000202"
    assert ev.get("Job-Command") == "status"
    assert ev.get("Content-Length") == "373"
    assert len(ev.body) == 373
    assert ev.body.startswith(b"UP 0 years") and ev.body.endswith(b"8192K\n")
    assert "UP 0 years" not in "".join(ev.keys())
    # Outer reply of the bgapi: a Job-UUID header beside Reply-Text.
    reply = [f for f in frames if f.reply_text.startswith("+OK Job-UUID")][1]
    assert reply.headers["Job-UUID"] == "5a0c1e6e-0b1d-4c8e-9d39-000000000202"
    false = [f for f in frames if f.body == b"false"]
    assert false and false[0].headers["Content-Length"] == "5"


def test_json_events_trace_13():
    frames = parse_all((TRACES / "13-json-events.fs.bin").read_bytes())
    events = [f.event for f in frames if f.is_event]
    assert len(events) == 12
    assert all(e.content_type == "text/event-json" for e in events)
    jobs = [e for e in events if e.name == "BACKGROUND_JOB"]
    assert len(jobs) == 2
    assert all(e.body_text.startswith("+OK ") for e in jobs)
    assert all(isinstance(e.get("Event-Sequence"), str) for e in events)
    assert jobs[0].get("Job-Command-Arg").startswith("{origination_uuid=")


# -- malformed input -------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        b"Content-Type: api/response\nContent-Length: abc\n\n",
        b"Content-Type: api/response\nContent-Length: -1\n\n",
        b"Content-Type: api/response\nContent-Length: 1.5\n\n",
        b"Content-Type: command/reply\nthis line has no separator\n\n",
        b"Reply-Text: +OK\n\n",  # no Content-Type
        b"Content-Type: command/reply\nReply-Text: \xff\xfe\n\n",  # not UTF-8
    ],
)
def test_malformed_frames_raise_typed_errors(data):
    p = Parser()
    p.feed(data)
    with pytest.raises(RemoteProtocolError):
        p.next_frame()


def test_huge_body_is_refused_before_buffering():
    p = Parser(max_body_bytes=1000)
    p.feed(b"Content-Type: api/response\nContent-Length: 1001\n\n")
    with pytest.raises(FrameTooLargeError):
        p.next_frame()


def test_header_block_without_blank_line_hits_the_cap():
    p = Parser(max_header_bytes=1024)
    p.feed(b"Content-Type: command/reply\n")
    assert p.next_frame() is NEED_DATA  # not yet an error, never a hang
    for _ in range(100):
        p.feed(b"X-Header: value\n")
    with pytest.raises(FrameTooLargeError):
        p.next_frame()


def test_header_block_over_cap_with_blank_line():
    p = Parser(max_header_bytes=100)
    p.feed(b"Content-Type: command/reply\nReply-Text: " + b"x" * 200 + b"\n\n")
    with pytest.raises(FrameTooLargeError):
        p.next_frame()


def test_malformed_event_raises_lazily():
    body = b"Event-Name: CUSTOM\nno separator here\n\n"
    frame_bytes = b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body
    (frame,) = parse_all(frame_bytes)
    ev = frame.event
    assert ev.name == "CUSTOM"  # the fast path needs no split
    with pytest.raises(RemoteProtocolError):
        ev.get("Unique-ID")


def test_event_body_shorter_than_its_content_length():
    body = b"Event-Name: BACKGROUND_JOB\nContent-Length: 50\n\nshort"
    ev = Event.from_plain(body)
    with pytest.raises(RemoteProtocolError):
        _ = ev.body


def test_bad_json_event():
    data = b"{not json"
    frame_bytes = b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(data) + data
    (frame,) = parse_all(frame_bytes)
    with pytest.raises(RemoteProtocolError):
        _ = frame.event


def test_url_encoded_newline_cannot_forge_a_header():
    body = b"Event-Name: CUSTOM\nX-Evil: a%0AUnique-ID: forged\n\n"
    ev = Event.from_plain(body)
    assert ev.get("X-Evil") == "a\nUnique-ID: forged"
    assert ev.get("Unique-ID") is None


def test_traces_dir_is_the_project_copy():
    assert Path(TRACES).is_dir() and (TRACES / "README.md").exists()


def test_outer_headers_are_checked_line_by_line() -> None:
    """A line without 'Name: value' cannot hide behind a line with an extra ': '."""
    import pytest

    from fsworker.esl.proto.errors import RemoteProtocolError
    from fsworker.esl.proto.parser import Parser

    p = Parser()
    p.feed(b"Content-Type: command/reply\nbogus\nReply-Text: +OK Job-UUID: 1\n\n")
    with pytest.raises(RemoteProtocolError):
        p.next_frame()
