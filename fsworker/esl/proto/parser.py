"""Sans-I/O ESL frame parser: bytes in with ``feed``, frames out with ``next_frame``.

Rules:
- No sockets, no clocks, no logging: the connection and the fake switch own the I/O.
- A frame is header lines up to a blank line; if the headers carry ``Content-Length: N``,
  exactly N **bytes** of body follow. Header values are URL-decoded one by one after
  the block is split into lines (never the whole block: a decoded ``%0A`` would forge
  a line).
- Size caps on the header block and the body: a peer cannot make us buffer without
  bound. Whenever ``next_frame`` returns ``NEED_DATA`` the parser holds at most
  ``max_header_bytes`` + 1 bytes of an unfinished header block or ``max_body_bytes`` of
  a body, plus under ``_COMPACT_AT`` consumed bytes awaiting compaction. Exceeding a
  cap raises ``FrameTooLargeError``; any other malformed input raises
  ``RemoteProtocolError``. After an error the stream cannot be re-synchronised (the
  next call raises the same error again): the caller drops the link.
- One exception to that: an event frame with more headers than ``max_event_headers``
  raises ``TooManyHeadersError`` *after* the whole frame was skipped, so the stream is
  still in sync and the next call returns the next frame. Real events carry a few
  hundred headers; a 16 MiB body of a million tiny ones would cost hundreds of MB to
  split, so it is refused here, counted in C without splitting, before anyone reads
  it. A body shorter than ``_MIN_HEADER_BYTES`` x the cap cannot be over it and is not
  counted (the price on ordinary events: one length comparison).
- ``next_frame`` returns ``NEED_DATA`` when the buffer holds no complete frame; it never
  blocks and never re-scans bytes it has already searched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from fsworker.esl.proto.errors import FrameTooLargeError, RemoteProtocolError, TooManyHeadersError
from fsworker.esl.proto.frames import (
    EVENT_JSON,
    EVENT_PLAIN,
    EVENT_TYPES,
    Frame,
    _content_length,
    _frame_event,
    _new_frame,
    parse_header_block,
)


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()

DEFAULT_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
# The largest event in the recorded traces carries ~300 headers.
DEFAULT_MAX_EVENT_HEADERS = 2000
# The fewest bytes one header takes: "a: \n" in plain, '"a":"",' in JSON, <a></a> in XML.
_MIN_HEADER_BYTES = 4
_COMPACT_AT = 256 * 1024
_EVENT_FRAME_HEAD = re.compile(
    rb"Content-Length: ([0-9]{1,12})\nContent-Type: (text/event-(?:plain|json|xml))\n\n"
)
_STRAY_NEWLINES = re.compile(rb"\n+")
# The matched Content-Type bytes -> the one str object for each (no decode per frame).
_EVENT_TYPES: Final = {t.encode(): t for t in ("text/event-plain", "text/event-json", "text/event-xml")}


class Parser:
    """Incremental ESL framer. One instance per connection direction."""

    __slots__ = (
        "_buf",
        "_pos",
        "_scan",
        "_pending",
        "_consumed",
        "max_header_bytes",
        "max_body_bytes",
        "max_event_headers",
        "_count_from",
        "closed",
    )

    def __init__(
        self,
        *,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_event_headers: int = DEFAULT_MAX_EVENT_HEADERS,
    ) -> None:
        self._buf = bytearray()
        self._pos = 0  # start of unconsumed data in _buf
        self._scan = 0  # where the next search for b"\n\n" may start
        self._pending: tuple[dict[str, str], int, int] | None = None  # headers, length, offset
        self._consumed = 0  # bytes dropped from the front of _buf (for stream offsets)
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.max_event_headers = max_event_headers
        self._count_from = max_event_headers * _MIN_HEADER_BYTES
        self.closed = False

    # -- input --------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        if data:
            self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as part of a frame."""
        return len(self._buf) - self._pos

    # -- output -------------------------------------------------------------------
    def next_frame(self) -> Frame | _NeedData:
        buf = self._buf
        if self._pending is None:
            pos = self._pos
            if _frame_event is not None:
                # The ordinary event frame, whole, in C: the frame and the next frame's
                # offset, or None for anything the lines below must look at.
                got = _frame_event(
                    buf, pos, self._consumed, self.max_header_bytes, self.max_body_bytes, self._count_from
                )
                if got is not None:
                    frame, end = got
                    self._pos = self._scan = end
                    if end >= _COMPACT_AT or end == len(buf):
                        self._compact()
                    return frame
            m = _EVENT_FRAME_HEAD.match(buf, pos)
            if m is not None and m.end() - pos - 2 <= self.max_header_bytes:
                return self._event_frame(buf, pos, m)
            got = self._header_block(buf, pos)
            if got is not None:
                return got
        return self._body()

    def _event_frame(self, buf: bytearray, pos: int, m: re.Match[bytes]) -> Frame | _NeedData:
        """The shape of nearly every frame in a busy stream: one C-level match instead
        of a search, a decode and a split of the block. The pattern holds no blank line
        before its end, so this is the frame's header block."""
        cl, ct = m.groups()
        length = int(cl)
        start = m.end()
        if length > self.max_body_bytes:
            raise FrameTooLargeError(
                f"Content-Length {length} exceeds the cap of {self.max_body_bytes} bytes",
                self._consumed + pos,
            )
        if len(buf) - start >= length:
            end = start + length
            if length > self._count_from:
                self._check_headers(_EVENT_TYPES[ct], start, end, self._consumed + pos)
            # One copy; the temporary view is released before the buffer can change.
            frame = _new_frame(
                {"Content-Length": cl.decode(), "Content-Type": _EVENT_TYPES[ct]},
                bytes(memoryview(buf)[start:end]),
                self._consumed + pos,
            )
            self._pos = self._scan = end
            if end >= _COMPACT_AT or end == len(buf):
                self._compact()
            return frame
        self._pos = self._scan = start
        self._pending = (
            {"Content-Length": cl.decode(), "Content-Type": _EVENT_TYPES[ct]},
            length,
            self._consumed + pos,
        )
        self._compact()
        return NEED_DATA

    def _header_block(self, buf: bytearray, pos: int) -> _NeedData | None:
        """Any other frame's header block: parsed into ``_pending`` (None), or NEED_DATA
        while its blank line has not arrived."""
        # FreeSWITCH never sends them, but libesl tolerates stray newlines between
        # frames; so do we.
        # Skipped in C: a Python loop per byte made a newline flood ~15x costlier
        # to drain than the same bytes of frames.
        stray = _STRAY_NEWLINES.match(buf, pos)
        if stray is not None:
            pos = stray.end()
        self._pos = pos
        end = buf.find(b"\n\n", max(pos, self._scan))
        if end < 0:
            # A block of exactly max_header_bytes may still be followed by the
            # blank line: its first "\n" can be the last byte buffered (cap + 1).
            if len(buf) - pos > self.max_header_bytes + 1:
                raise FrameTooLargeError(
                    f"header block exceeds {self.max_header_bytes} bytes without a blank line",
                    self._consumed + pos,
                )
            self._scan = max(pos, len(buf) - 1)
            self._compact()
            return NEED_DATA
        if end - pos > self.max_header_bytes:
            raise FrameTooLargeError(
                f"header block of {end - pos} bytes exceeds {self.max_header_bytes}",
                self._consumed + pos,
            )
        offset = self._consumed + pos
        try:
            text = bytes(buf[pos:end]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(f"frame headers are not UTF-8: {exc}", offset) from exc
        headers = dict(parse_header_block(text, strict=True))
        length = 0
        cl = headers.get("Content-Length")
        if cl is not None:
            length = _content_length(cl, offset)
            if length > self.max_body_bytes:
                raise FrameTooLargeError(
                    f"Content-Length {length} exceeds the cap of {self.max_body_bytes} bytes",
                    offset,
                )
        if "Content-Type" not in headers:
            raise RemoteProtocolError("frame without Content-Type", offset)
        self._pos = end + 2
        self._scan = self._pos
        self._pending = (headers, length, offset)
        return None

    def _body(self) -> Frame | _NeedData:
        """The body of the frame whose headers are in ``_pending``, once it is all here."""
        buf = self._buf
        headers, length, offset = self._pending  # type: ignore[misc]
        start = self._pos
        if len(buf) - start < length:
            self._compact()
            return NEED_DATA
        if length > self._count_from and headers["Content-Type"] in EVENT_TYPES:
            self._pending = None
            self._check_headers(headers["Content-Type"], start, start + length, offset)
        body = bytes(memoryview(buf)[start : start + length]) if length else b""
        self._pos = start + length
        self._scan = self._pos
        self._pending = None
        self._compact()
        return _new_frame(headers, body, offset)

    def _check_headers(self, content_type: str, start: int, end: int, offset: int) -> None:
        """Skip the event in ``_buf[start:end]`` and raise ``TooManyHeadersError`` if it
        holds more headers than the cap. Counted in C, never split: for JSON every key
        is followed by '":' (a quote inside a value is escaped, so the count can only
        be high); for XML every element has a closing tag."""
        buf = self._buf
        if content_type == EVENT_PLAIN:
            sep = buf.find(b"\n\n", start, end)
            count = buf.count(b"\n", start, end if sep < 0 else sep) + 1
        elif content_type == EVENT_JSON:
            count = buf.count(b'":', start, end)
        else:
            count = buf.count(b"</", start, end)
        if count <= self.max_event_headers:
            return
        self._pos = self._scan = end
        self._compact()
        raise TooManyHeadersError(count=count, limit=self.max_event_headers, size=end - start, offset=offset)

    def frames(self) -> Iterator[Frame]:
        """Every complete frame currently buffered."""
        while True:
            frame = self.next_frame()
            if frame is NEED_DATA:
                return
            assert isinstance(frame, Frame)
            yield frame

    def _compact(self) -> None:
        pos = self._pos
        if pos >= _COMPACT_AT or (pos and pos == len(self._buf)):
            del self._buf[:pos]
            self._consumed += pos
            self._scan -= pos
            if self._scan < 0:
                self._scan = 0
            self._pos = 0


def parse_all(data: bytes, **kwargs: int) -> list[Frame]:
    """Frame a whole recorded stream; raises if bytes are left over."""
    parser = Parser(**kwargs)
    parser.feed(data)
    frames = list(parser.frames())
    if parser.buffered:
        raise RemoteProtocolError(f"{parser.buffered} bytes left after the last frame")
    return frames
