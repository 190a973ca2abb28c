"""The accelerator's framing (``_speedups.frame_event``) makes the frames the pure-Python
parser makes: same headers, bodies, offsets and events, in any chunking and under any
caps, and declines (leaving the decision and the error to Python) everything else."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fsworker.esl.proto.frames as frames
import fsworker.esl.proto.parser as parser_module
from fsworker.esl.proto.errors import ProtocolError
from fsworker.esl.proto.parser import NEED_DATA, Parser
from tests.conftest import TRACES

C_FRAME = parser_module._frame_event
C_NAME = frames._name_of
pytestmark = pytest.mark.skipif(C_FRAME is None, reason="fsworker.esl.proto._speedups is not built")

TRACE_FILES = sorted(TRACES.glob("*.fs.bin"))


def _frames(data: bytes, chunk: int, use_c: bool, **caps: int) -> list[tuple]:
    """Every frame of ``data`` fed ``chunk`` bytes at a time, as comparable values; a
    raised protocol error ends the list with its type, message and offset."""
    saved = parser_module._frame_event, frames._name_of
    parser_module._frame_event = C_FRAME if use_c else None
    frames._name_of = C_NAME if use_c else None
    out: list[tuple] = []
    try:
        p = Parser(**caps)
        for i in range(0, len(data), chunk):
            p.feed(data[i : i + chunk])
            while True:
                try:
                    f = p.next_frame()
                except ProtocolError as exc:
                    out.append(("error", type(exc).__name__, str(exc), getattr(exc, "offset", None)))
                    return out
                if f is NEED_DATA:
                    break
                item = (type(f), dict(f.headers), f.body, f.offset, f.is_event)
                if f.is_event:
                    try:
                        ev = f.event
                        item += (ev.name, ev.get("Unique-ID"), ev.headers, ev.body)
                    except ProtocolError as exc:
                        item += ("event error", str(exc))
                out.append(item)
        out.append(("buffered", p.buffered))
        return out
    finally:
        parser_module._frame_event, frames._name_of = saved


@pytest.mark.parametrize("path", TRACE_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 30])
def test_recorded_traces_frame_alike(path, chunk: int) -> None:
    data = path.read_bytes()
    assert _frames(data, chunk, True) == _frames(data, chunk, False)


def test_c_path_is_taken_for_ordinary_event_frames() -> None:
    """Only the C path attaches the plain event while framing: if registration or the
    match broke silently, this fails (the pure path would still pass every other test)."""
    data = (TRACES / "03-lost-call-group-ring.fs.bin").read_bytes()
    p = Parser()
    p.feed(data)
    # Bodies over the header-count threshold take Python's path, which counts them.
    small = [f for f in p.frames() if f.is_event and len(f.body) <= p._count_from]
    assert len(small) > 10 and all(f._event is not None for f in small)


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: 123456789012\nContent-Type: text/event-plain\n\n",  # 12 digits: too large
        b"Content-Length: 1234567890123\nContent-Type: text/event-plain\n\n",  # 13: not the shape
        b"Content-Length: 00000000005\nContent-Type: text/event-plain\n\nab\n\n\n",
        b"Content-Length: 5\nContent-Type: text/event-plainx\n\nab\n\n\n",
        b"Content-Length: 5\nContent-Type: text/event-json\n\n{\"a\"}",
        b"Content-Length: 5\nContent-Type: text/event-xml\n\n<a/>\n",
        b"Content-Length: 3\nContent-Type: text/event-plain\n\nab\n",
        b"Content-Length: 0\nContent-Type: text/event-plain\n\n",
        b"Content-Length: \nContent-Type: text/event-plain\n\n",
        b"Content-Length: 5\nContent-Type: text/event-plain\n",
        b"\n\nContent-Length: 2\nContent-Type: text/event-plain\n\n\n\n",
        b"Content-Length: 2\r\nContent-Type: text/event-plain\n\n\n\n",
        b"Content-Length: 30\nContent-Type: text/event-plain\n\nEvent-Name: %41%\nA: b\n\n" + b"x" * 9,
        b"Content-Length: 27\nContent-Type: text/event-plain\n\nEvent-Name: \xff\xfe\nA: b\n\n",
    ],
)
@pytest.mark.parametrize("caps", [{}, {"max_header_bytes": 40}, {"max_body_bytes": 4}, {"max_event_headers": 1}])
def test_edge_heads_frame_alike(head: bytes, caps: dict[str, int]) -> None:
    for chunk in (1, 3, len(head)):
        assert _frames(head, chunk, True, **caps) == _frames(head, chunk, False, **caps)


_PIECES = [
    b"Content-Length: ", b"Content-Type: text/event-plain\n\n", b"Content-Type: text/event-json\n\n",
    b"Content-Type: command/reply\n", b"Reply-Text: +OK\n\n", b"Event-Name: HEARTBEAT\n", b"A: b\n",
    b"\n", b"0", b"5", b"12", b"99999", b"{}", b"%3A", b"\xff", b": ",
]


@settings(max_examples=1500, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.sampled_from(_PIECES), max_size=30),
    st.integers(1, 64),
    st.sampled_from([{}, {"max_header_bytes": 48}, {"max_body_bytes": 16}, {"max_event_headers": 2}]),
)
def test_generated_streams_frame_alike(pieces: list[bytes], chunk: int, caps: dict[str, int]) -> None:
    data = b"".join(pieces)
    assert _frames(data, chunk, True, **caps) == _frames(data, chunk, False, **caps)


def test_frame_event_rejects_what_is_not_a_bytearray() -> None:
    with pytest.raises(TypeError):
        C_FRAME(b"Content-Length: 0\nContent-Type: text/event-plain\n\n", 0, 0, 100, 100, 100)
    assert C_FRAME(bytearray(b"Content-Length: 0\n"), 5, 0, 100, 100, 100) is None
    assert C_FRAME(bytearray(b"x"), 7, 0, 100, 100, 100) is None  # past the end: declined
