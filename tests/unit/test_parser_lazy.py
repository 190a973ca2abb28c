"""The bytes split of plain events (``Event._split``) against the general text split.

``Event._split`` takes a C-level path for blocks of FreeSWITCH's own shape and the
general split (``Event._split_text``, which checks line by line when the fast count
check fails) for everything else. Whichever path a block takes, every accessor must
say the same thing the general split says, and a malformed block must raise
``RemoteProtocolError`` from both. Every test runs with and without the C accelerator,
whose index serves ``get`` and ``name`` when they are an event's first reads.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsworker.esl.proto.errors import RemoteProtocolError
from fsworker.esl.proto.frames import Event
from fsworker.esl.proto.parser import parse_all
from tests.conftest import TRACES

pytestmark = pytest.mark.usefixtures("split_path")

NAMES = ["Event-Name", "Unique-ID", "Content-Length", "variable_x", "A", "a:b", "", "Имя", "x y"]
PIECES = [
    "v", "0a1b", "%20", "%3A", "%0A", "%", "%ZZ", "_undef_", ":", " ", ": ", "\n", "\n\n",
    "é", "\xff", "7", "0", "abc", "Content-Length: 3",
]
ASKED = [*NAMES, "Other", "variable_", "\ud800", "Event-Name: X"]


def _observe(ev: Event, extra_names: list[str]) -> object:
    """Everything a consumer can read, or the error class when reading raises."""
    try:
        keys = list(ev.keys())
        names = sorted(set(keys) | set(extra_names))
        return (
            ev.body,
            keys,
            ev.headers,
            ev.name,
            [(n, ev.get(n), ev.raw(n), ev.get_all(n), n in ev) for n in names],
        )
    except RemoteProtocolError as exc:
        return type(exc)


def _first_reads(ev: Event) -> object:
    """``name`` and ``get`` as an event's first reads (the accelerator's index, when it
    takes the block), or the error class."""
    try:
        return [ev.name, *(ev.get(n) for n in ASKED)]
    except RemoteProtocolError as exc:
        return type(exc)


def _both(data: bytes) -> tuple[object, object]:
    fast = Event.from_plain(data)  # takes the bytes split when the block allows it
    general = Event.from_plain(data)
    try:
        general._split_text(data)
    except RemoteProtocolError as exc:
        general_seen: object = type(exc)
        general_first: object = type(exc)
    else:
        general_seen = _observe(general, ASKED)
        general_first = _first_reads(general)
    return (_first_reads(Event.from_plain(data)), _observe(fast, ASKED)), (general_first, general_seen)


CLEAN_NAMES = ["Event-Name", "Unique-ID", "Content-Length", "variable_x", "A", "a-b_c", "Event-Name"]
CLEAN_PIECES = ["v", "0a1b", "%20", "%3A", "%0A", "%", "%ZZ", "%C3%A9", "_undef_", "7", "0", ""]


def _block(rng: random.Random) -> bytes:
    """Half the blocks in FreeSWITCH's shape (the bytes split), some of them with one
    defect; the rest anything (the general split)."""
    clean = rng.random() < 0.6
    lines = []
    for _ in range(rng.randint(0, 8)):
        if clean:
            name = rng.choice(CLEAN_NAMES)
            value = "".join(rng.choices(CLEAN_PIECES, k=rng.randint(0, 3)))
            sep = ": "
        else:
            name = rng.choice(NAMES) if rng.random() < 0.7 else "".join(rng.choices("abXY-_:", k=rng.randint(0, 6)))
            value = "".join(rng.choices(PIECES, k=rng.randint(0, 4)))
            sep = rng.choice([": ", ": ", ": ", ":", " : ", ""])
        lines.append(f"{name}{sep}{value}")
    text = "\n".join(lines)
    tail = "\n\n" if clean else rng.choice(["\n\n", "\n\n", "\n", "", "\n\n\n", "\n\nbody", "\n\nabc"])
    data = (text + tail).encode("utf-8")
    if clean and rng.random() < 0.4:
        # One defect anywhere: a separator, a newline, a non-ASCII or invalid byte...
        at = rng.randrange(len(data) + 1)
        data = data[:at] + rng.choice([b":", b" ", b"\n", b": ", b"\n\n", b"\xc3\xa9", b"\xff", b""]) + data[at:]
    elif not clean and rng.random() < 0.1:
        data += b"\xff"
    return data


@settings(max_examples=3000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**32 - 1))
def test_bytes_split_says_what_the_text_split_says(seed: int) -> None:
    fast, general = _both(_block(random.Random(seed)))
    assert fast == general


@settings(max_examples=1000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=200))
def test_arbitrary_bytes_agree(data: bytes) -> None:
    fast, general = _both(data)
    assert fast == general


@pytest.mark.parametrize(
    "data",
    [
        b"Event-Name: CUSTOM\nUnique-ID: 1\n\n",  # FreeSWITCH's shape
        b"Event-Name: CUSTOM\nA: x%20y\nA: _undef_\nA: z\n\n",  # repeated name
        b"Event-Name: CUSTOM\nContent-Length: 0\n\n",
        b"Event-Name: CUSTOM\nContent-Length: 3\n\n",  # body missing: must raise
        b"Event-Name: CUSTOM\nContent-Length: x\n\n",  # bad length: must raise
        b"Event-Name: CUSTOM\nno separator here\nOther: 1\n\n",  # must raise
        b"Event-Name: CUSTOM\nno separator here\nOther: a: b\n\n",  # counts balance
        b"Event-Name: CUSTOM\na:b c\n\n",  # ':' and ' ' not adjacent
        b"Event-Name: CUSTOM\n: empty name\n\n",
        b"Event-Name: CUSTOM\nA: 1\n\nB: 2\n\n",  # an own body without Content-Length
        b"Event-Name: CUSTOM\nA: 1\n\n\n",
        b"Event-Name: %3A0\n\n",  # name decodes as get() does
        b"A: 1\nEvent-Name: X\nEvent-Name: Y\n\n",  # the last Event-Name wins
        b"Event-Name: X\nB: \nC: caf\xc3\xa9\n\n",  # an empty value; not ASCII
        b"Event-Name: X\nB:  two spaces\n\n",
        b"Event-Name: X\nB: 1:\n\n",
        b"Event-Name: X\nB: 1 \n\n",
        b"Event-Name: X\n B: 1\n\n",
        b"Event-Name: X\nB: %41%ZZ_undef_\nC: _undef_\n\n",
        b"Event-Name: X\r\nB: 1\n\n",
        b"Event-Name: X\nB: 1\n",  # no blank line
        b"Event-Name: X\nB: 1\n\n\n\n",
        b"\n\n",
        b"Event-Name: X\n" + b"".join(b"Header-%d: value %d\n" % (i, i) for i in range(300)) + b"\n",
        b"Event-Name: X\n" + b"".join(b"Header-%d: v%d\n" % (i, i) for i in range(300)) + b"\n",
        b"Event-Name: X\n" + b"".join(b"variable_sip_h_%d: v%d\n" % (i % 40, i) for i in range(300)) + b"\n",
    ],
)
def test_edge_blocks_agree(data: bytes) -> None:
    fast, general = _both(data)
    assert fast == general


def test_fast_path_taken_for_recorded_events_and_values_match(split_path: str) -> None:
    """The recorded switch output takes the fast path (the accelerator's index, or the
    bytes split without it), with the general split's values."""
    taken = 0
    for path in sorted(TRACES.glob("*.fs.bin")):
        for frame in parse_all(path.read_bytes()):
            if frame.content_type != "text/event-plain":
                continue
            fast = Event.from_plain(frame.body)
            fast.get("Unique-ID")
            taken += (fast._index if split_path == "c" else fast._braw) is not None
            fast_seen, general_seen = _both(frame.body)
            assert fast_seen == general_seen
    assert taken > 1000


def test_malformed_block_raises_on_first_read() -> None:
    ev = Event.from_plain(b"Event-Name: CUSTOM\nno separator here\n\n")
    with pytest.raises(RemoteProtocolError):
        ev.get("Unique-ID")
