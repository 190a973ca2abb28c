"""The per-event header cap (issue 13 item 1): an event with more headers than
``max_event_headers`` is skipped whole and refused with ``TooManyHeadersError``; the
stream stays in sync, so the next frame is read as if the event never came."""

from __future__ import annotations

import json

import pytest

from fsworker.esl.proto.errors import RemoteProtocolError, TooManyHeadersError
from fsworker.esl.proto.parser import DEFAULT_MAX_EVENT_HEADERS, NEED_DATA, Parser
from tests.conftest import TRACES, trace_bytes

HEARTBEAT = b"Event-Name: HEARTBEAT\nCore-UUID: c0\nEvent-Sequence: 7\n\n"


def event_frame(body: bytes, content_type: str = "text/event-plain", *, extra: bytes = b"") -> bytes:
    return b"Content-Length: %d\nContent-Type: %s\n%s\n" % (len(body), content_type.encode(), extra) + body


def plain_event(headers: int) -> bytes:
    lines = [b"Event-Name: CUSTOM"] + [b"a%d: " % i for i in range(headers - 1)]
    return b"\n".join(lines) + b"\n\n"


def read_all(parser: Parser) -> tuple[list[str], list[TooManyHeadersError]]:
    """Frames' event names and the refusals, reading on after each refusal."""
    names, refused = [], []
    while True:
        try:
            frame = parser.next_frame()
        except TooManyHeadersError as exc:
            refused.append(exc)
            continue
        if frame is NEED_DATA:
            return names, refused
        names.append(frame.event.name)


def test_default_cap_is_far_above_the_recorded_traces():
    most = 0
    for path in sorted(TRACES.glob("*.fs.bin")):
        parser = Parser()
        parser.feed(trace_bytes(path.name[: -len(".fs.bin")]))
        most = max([most, *(len(f.event.headers) for f in parser.frames() if f.is_event)])
    assert 100 < most < DEFAULT_MAX_EVENT_HEADERS / 4


@pytest.mark.parametrize("chunk", [1 << 20, 4096, 7])
def test_over_cap_plain_event_is_skipped_and_the_stream_stays_in_sync(chunk):
    parser = Parser(max_event_headers=50)
    data = event_frame(plain_event(50)) + event_frame(plain_event(51)) + event_frame(HEARTBEAT)
    names, refused = [], []
    for i in range(0, len(data), chunk):
        parser.feed(data[i : i + chunk])
        got, bad = read_all(parser)
        names += got
        refused += bad
    assert names == ["CUSTOM", "HEARTBEAT"]
    [exc] = refused
    assert (exc.count, exc.limit) == (51, 50)
    assert "51 headers" in str(exc) and "cap of 50" in str(exc)
    assert isinstance(exc, RemoteProtocolError)  # a caller unaware of it drops the link: safe
    assert parser.buffered == 0


def test_flood_of_tiny_headers_is_refused_without_splitting():
    """The reviewer's flood: ~1.5 M tiny headers in one event under the 16 MiB cap."""
    body = b"Event-Name: CUSTOM\n" + b"x: \n" * 1_500_000 + b"\n"
    parser = Parser()
    parser.feed(event_frame(body) + event_frame(HEARTBEAT))
    with pytest.raises(TooManyHeadersError) as ei:
        parser.next_frame()
    assert ei.value.count > 1_500_000 and ei.value.size == len(body)
    assert parser.next_frame().event.name == "HEARTBEAT"


def test_event_body_lines_are_not_headers():
    """A BACKGROUND_JOB's own body (``show channels``) may have many lines: only the
    header block before the blank line counts."""
    output = b"".join(b"line %d\n" % i for i in range(200))
    body = b"Event-Name: BACKGROUND_JOB\nContent-Length: %d\n\n" % len(output) + output
    parser = Parser(max_event_headers=20)
    parser.feed(event_frame(body))
    assert parser.next_frame().event.body == output


def test_json_and_xml_events_are_capped_too():
    over = json.dumps({"Event-Name": "CUSTOM", **{f"h{i}": "v" for i in range(60)}}).encode()
    under = json.dumps({"Event-Name": "HEARTBEAT", **{f"h{i}": "v" for i in range(30)}}).encode()
    xml = b"<event><headers>" + b"".join(b"<h%d>v</h%d>" % (i, i) for i in range(60)) + b"</headers></event>"
    parser = Parser(max_event_headers=50)
    parser.feed(event_frame(over, "text/event-json") + event_frame(xml, "text/event-xml")
                + event_frame(under, "text/event-json"))
    names, refused = read_all(parser)
    assert names == ["HEARTBEAT"] and len(refused) == 2


def test_over_cap_event_after_a_slow_header_block():
    """The general (non fast-path) header block, e.g. with an extra outer header."""
    parser = Parser(max_event_headers=10)
    parser.feed(event_frame(plain_event(11), extra=b"X-Extra: 1\n") + event_frame(HEARTBEAT, extra=b"X-Extra: 1\n"))
    names, refused = read_all(parser)
    assert names == ["HEARTBEAT"] and refused[0].count == 11
