"""Serializing ESL frames and events the way FreeSWITCH 1.10 does. No I/O.

Rules: used by the fake switch and by tests to produce bytes that a real switch would
send. Header values of plain events are URL-encoded with FreeSWITCH's own unsafe set
(``switch_url_encode``: control characters, non-ASCII and ``\\r\\n "#%&+:;<=>?@[\\]^`{|}``),
which is what the recorded traces show. Outer frame headers are written as given.
"""

from __future__ import annotations

from collections.abc import Iterable

_UNSAFE = frozenset(b'\r\n "#%&+:;<=>?@[\\]^`{|}')
_ENCODE_TABLE = [
    f"%{b:02X}" if (b < 32 or b >= 127 or b in _UNSAFE) else chr(b) for b in range(256)
]


def fs_url_encode(value: str) -> str:
    """URL-encode a header value as FreeSWITCH's switch_url_encode does."""
    if value.isascii() and value.isalnum():
        return value
    table = _ENCODE_TABLE
    return "".join(table[b] for b in value.encode("utf-8"))


def build_frame(headers: Iterable[tuple[str, str]], body: bytes = b"") -> bytes:
    """One outer frame: header lines, blank line, body (Content-Length added first)."""
    lines = []
    if body:
        lines.append(f"Content-Length: {len(body)}")
    lines.extend(f"{k}: {v}" for k, v in headers)
    return ("\n".join(lines) + "\n\n").encode("utf-8") + body


#: encoded header lines by (name, value): a channel's ~100 headers repeat in each of its
#: events, and encoding them was most of the fake switch's CPU (~2 ms per call)
_LINES: dict[tuple[str, str], str] = {}
_LINES_MAX = 100_000


def plain_event_body(headers: Iterable[tuple[str, str]], body: bytes = b"") -> bytes:
    """The body of a text/event-plain frame: encoded headers, blank line, own body.

    FreeSWITCH puts the own body's Content-Length as the last header; a body-less
    event ends with the blank line after its last header."""
    lines = _LINES
    parts = []
    for k, v in headers:
        line = lines.get((k, v))
        if line is None:
            if len(lines) >= _LINES_MAX:
                lines.clear()
            line = lines[(k, v)] = f"{k}: {fs_url_encode(v)}\n"
        parts.append(line)
    text = "".join(parts)
    if body:
        return (text + f"Content-Length: {len(body)}\n\n").encode("utf-8") + body
    return (text + "\n").encode("utf-8")


def event_plain_frame(headers: Iterable[tuple[str, str]], body: bytes = b"") -> bytes:
    data = plain_event_body(headers, body)
    # FreeSWITCH writes Content-Length before Content-Type on event frames.
    return f"Content-Length: {len(data)}\nContent-Type: text/event-plain\n\n".encode() + data
