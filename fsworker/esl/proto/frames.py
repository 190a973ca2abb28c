"""Frames and events: the values the ESL parser produces. No I/O here.

Rules:
- A ``Frame`` is one ESL message: its outer headers (already URL-decoded, one value at a
  time) and its raw body bytes.
- An ``Event`` is the payload of a ``text/event-*`` frame. Its header values are kept
  raw and URL-decoded one by one on first access (decoding ~150 headers per event that
  nobody reads is the single biggest cost of naive parsers). The event's own body (a
  BACKGROUND_JOB's output, for instance) is kept apart from its headers, as bytes.
- A repeated header keeps its last value for ``get`` (as FreeSWITCH's own event
  serializer lets the last one win); ``get_all`` returns every value in wire order.
- ``_undef_`` is FreeSWITCH's spelling of "no value": ``get`` treats it as absent.
- On first read a plain event's whole block is split and checked. A block of
  FreeSWITCH's own shape (ASCII, every line one ``Name: value`` with no other ':' or
  ' ', one blank line at the end: proved in C, without an object per line) is split
  as bytes and only the values read are decoded; any other block takes the general
  text split, which raises for a line without separator. Both give the same names and
  values (``tests/unit/test_parser_lazy.py``).
- ``get`` on a plain event first asks the optional C accelerator
  (``fsworker/esl/proto/_speedups.c``, built when a compiler is there) for an index of the
  block: offsets only, no object per line. It accepts a subset of what the bytes split
  accepts and declines the rest (Content-Length, any other shape), so the values are
  the same with or without it; the other accessors split as before.
"""

from __future__ import annotations

import json
import re
from codecs import escape_decode as _escape_decode  # type: ignore[attr-defined]
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote
from xml.etree import ElementTree

from fsworker.esl.proto.errors import FrameTooLargeError, RemoteProtocolError

try:
    from fsworker.esl.proto._speedups import event_name as _name_of
    from fsworker.esl.proto._speedups import frame_event as _frame_event
    from fsworker.esl.proto._speedups import index_block as _index_block
    from fsworker.esl.proto._speedups import register_frame_types as _register_frame_types
except ImportError:  # installed without a C compiler: the pure-Python split serves
    _index_block = _name_of = _frame_event = _register_frame_types = None

UNDEF = "_undef_"
_UNDEF_BYTES = b"_undef_"
# More significant digits than this is above every size cap (and int() refuses more
# than 4300 digits with a ValueError, which must not escape the parser).
_MAX_LENGTH_DIGITS = 15

# One header line: "Name: value". Keys never contain ':' or a newline.
_HEADER_LINE = re.compile(r"([^:\n]+): ?([^\n]*)")
# translate() deletes these: what is left of a block is its shape, b": \n" per line.
_NOT_SHAPE = bytes(c for c in range(256) if c not in b": \n")
_LINE_SHAPE = b": \n"
# Header names as the bytes keys of a split plain event (bounded: names are few).
_KEYS: dict[str, bytes] = {}
_MAX_KEYS = 4096


def _unquote(value: str) -> str:
    """``urllib.parse.unquote`` (UTF-8, errors replaced), with the common case in C.

    For an ASCII value, turning each ``%`` into ``\\x`` (after doubling any backslash)
    makes a bytes escape that ``codecs.escape_decode`` decodes exactly as ``unquote``
    would; a malformed escape (``%ZZ``, a trailing ``%``) makes it raise, and then
    ``unquote`` itself decides. ~4x faster than ``unquote`` on typical values.
    """
    if value.isascii():
        data = value.encode("ascii")
        if b"\\" in data:
            data = data.replace(b"\\", b"\\\\")
        try:
            return _escape_decode(data.replace(b"%", b"\\x"))[0].decode("utf-8", "replace")
        except ValueError:
            pass
    return unquote(value)


def _key(name: str) -> bytes | None:
    """``name`` as a key of a bytes-split event; None if no key can equal it."""
    try:
        key = name.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no decoded header name holds one
        return None
    if len(_KEYS) < _MAX_KEYS:
        _KEYS[name] = key
    return key


def _decode(value: str) -> str:
    return _unquote(value) if "%" in value else value


def parse_header_block(text: str, *, decode: bool = True, strict: bool = False) -> list[tuple[str, str]]:
    """Split a header block into (name, value) pairs, decoding each value separately.

    Raises ``RemoteProtocolError`` for a line that is not ``Name: value``. ``strict``
    checks every line (outer frame headers: a few lines). Without it, an event's block
    takes the fast split, which catches a line without separator unless another line in
    the same block carries an extra unencoded ': ' — something FreeSWITCH's encoder
    never writes; the price of checking each line is doubling the cost of every event.
    """
    if strict:
        pairs = _split_lines(text) if text else []
        return [(k, _decode(v)) for k, v in pairs] if decode else pairs
    parts = _split_parts(text)
    pairs = list(zip(parts[::2], parts[1::2])) if parts is not None else _split_lines(text)
    if decode:
        return [(k, _decode(v)) for k, v in pairs]
    return pairs


def _split_parts(text: str) -> list[str] | None:
    """Names and values alternating, all split in C; None when the fast split is unsafe.

    In URL-encoded blocks ': ' only ever separates a name from its value, so splitting
    on both separators alternates names and values. When a value holds ': ' itself
    (outer headers such as "Reply-Text: +OK Job-UUID: ...") the count is off and the
    caller splits line by line instead.
    """
    if not text:
        return []
    parts = text.replace("\n", ": ").split(": ")
    if len(parts) == 2 * (text.count("\n") + 1):
        return parts
    return None


def _split_lines(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.split("\n"):
        m = _HEADER_LINE.fullmatch(line)
        if m is None:
            raise RemoteProtocolError(f"header line is not 'Name: value': {line[:80]!r}")
        pairs.append((m.group(1), m.group(2)))
    return pairs


class Event:
    """One FreeSWITCH event (plain, JSON or XML on the wire).

    ``get`` returns decoded values; ``raw`` the values as they were on the wire.
    """

    __slots__ = ("content_type", "_body", "_data", "_raw", "_braw", "_index", "_pairs", "_cache", "_encoded")

    def __init__(
        self,
        raw: dict[str, str] | None,
        body: bytes = b"",
        *,
        content_type: str = "text/event-plain",
        pairs: list[tuple[str, str]] | None = None,
        encoded: bool = True,
    ) -> None:
        self.content_type = content_type
        # raw is None: ``body`` is a whole plain-event body, split on first use.
        self._data = body if raw is None else b""
        self._body = body if raw is not None else b""
        self._raw = raw
        # A plain event split as bytes (see _split): raw names -> raw values.
        self._braw: dict[bytes, bytes] | None = None
        # The C accelerator's index of ``_data`` (raw values by name), when it took the block.
        self._index = None
        # Only kept when a header repeats: most events have no repeats. Pairs of bytes
        # when the event was split as bytes.
        self._pairs: list[tuple[str, str]] | list[tuple[bytes, bytes]] | None = pairs
        self._cache: dict[str, str] | None = None  # decoded values that held a '%'
        self._encoded = encoded

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_plain(cls, data: bytes) -> Event:
        """A ``text/event-plain`` body: headers, blank line, optional own body.

        Splitting the header block is deferred to the first header read other than
        Event-Name, so events a consumer skips by name cost almost nothing."""
        return cls(None, data)

    def _split(self) -> None:
        """Split ``_data``: sets ``_braw`` (the common shape) or ``_raw`` (any other)."""
        data = self._data
        if data.endswith(b"\n\n") and data.isascii():
            # FreeSWITCH's shape: every line "Name: value", names and URL-encoded values
            # free of ':', ' ' and newlines, the block ending with the only blank line.
            # One translate() (C, no object per line) proves it: what is left is
            # b": \n" per line and the final b"\n". No earlier blank line, no own body.
            shape = data.translate(None, _NOT_SHAPE)
            lines = (len(shape) - 1) // 3
            if shape == _LINE_SHAPE * lines + b"\n":
                # The final b"\n\n" becomes two empty parts, dropped (cheaper than
                # copying the block without it).
                parts = data.replace(b"\n", b": ").split(b": ")
                del parts[-2:]
                # Each line holds one ':' and one ' '; exactly `lines` separators means
                # they are adjacent in every line ("a:b c" takes the general split).
                if len(parts) == 2 * lines:
                    it = iter(parts)
                    braw = dict(zip(it, it))  # built in C; a repeated name keeps its last value
                    if len(braw) != lines:
                        self._pairs = list(zip(parts[::2], parts[1::2]))
                    length = braw.get(b"Content-Length")
                    if length is not None:
                        n = _content_length(length.decode("ascii"))
                        if n:
                            raise RemoteProtocolError(f"event body shorter than its Content-Length {n} (have 0)")
                    self._body = b""
                    self._data = b""
                    self._braw = braw
                    return
        self._split_text(data)

    def _split_text(self, data: bytes) -> None:
        n = len(data)
        # Most events have no body of their own: the block ends with the only blank line.
        # A reverse search for an earlier one is cheaper than a forward search for the
        # first (every header line ends in a newline).
        if data.endswith(b"\n\n") and data.rfind(b"\n\n", 0, n - 1) < 0:
            head, rest = data[: n - 2], b""
        else:
            sep = data.find(b"\n\n")
            if sep < 0:
                head, rest = data.rstrip(b"\n"), b""
            else:
                head, rest = data[:sep], data[sep + 2 :]
        text = head.decode("utf-8", "replace")
        parts = _split_parts(text)
        if parts is not None:
            it = iter(parts)
            raw = dict(zip(it, it))  # built in C; a repeated name keeps its last value
            if 2 * len(raw) != len(parts):
                self._pairs = list(zip(parts[::2], parts[1::2]))
        else:
            pairs = _split_lines(text)
            raw = dict(pairs)
            if len(raw) != len(pairs):
                self._pairs = pairs
        body = b""
        length = raw.get("Content-Length")
        if length is not None:
            n = _content_length(length)
            if n > len(rest):
                raise RemoteProtocolError(
                    f"event body shorter than its Content-Length {n} (have {len(rest)})"
                )
            body = rest[:n]
        self._body = body
        self._data = b""
        self._raw = raw

    def _text_raw(self) -> dict[str, str]:
        """Every raw value by name, as text (for the accessors off the hot path)."""
        raw = self._raw
        if raw is not None:
            return raw
        braw = self._braw
        if braw is None:
            self._split()
            return self._text_raw()
        # Only ASCII blocks are split as bytes: decoding cannot fail.
        return {k.decode("ascii"): v.decode("ascii") for k, v in braw.items()}

    @classmethod
    def from_json(cls, data: bytes) -> Event:
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError) as exc:
            # RecursionError: "[[[[..." nested deeper than the interpreter's limit.
            raise RemoteProtocolError(f"text/event-json body is not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise RemoteProtocolError("text/event-json body is not a JSON object")
        body = obj.pop("_body", "")
        raw: dict[str, str] = {}
        pairs: list[tuple[str, str]] | None = None
        try:
            for k, v in obj.items():
                if isinstance(v, list):
                    # FreeSWITCH serializes array headers as JSON arrays; plain would say
                    # ARRAY::a|:b, which is what get() returns for parity.
                    pairs = pairs if pairs is not None else []
                    pairs.extend((k, str(x)) for x in v)
                    raw[k] = "ARRAY::" + "|:".join(str(x) for x in v)
                else:
                    raw[k] = str(v)
        except RecursionError as exc:
            # str() of a value nested nearly as deep as json.loads allowed.
            raise RemoteProtocolError(f"text/event-json value nested too deeply: {exc}") from exc
        if pairs is not None:
            pairs = [(k, v) for k, v in raw.items() if not raw[k].startswith("ARRAY::")] + pairs
        return cls(
            raw,
            body.encode("utf-8") if isinstance(body, str) else b"",
            content_type="text/event-json",
            pairs=pairs,
            encoded=False,
        )

    @classmethod
    def from_xml(cls, data: bytes) -> Event:
        if b"<!DOCTYPE" in data:
            # FreeSWITCH's XML events carry no DTD; with one, entity expansion costs
            # ~0.2 s of CPU per 400-byte event before expat's amplification limit trips.
            raise RemoteProtocolError("text/event-xml body declares a DTD")
        try:
            root = ElementTree.fromstring(data)
        except ElementTree.ParseError as exc:
            raise RemoteProtocolError(f"text/event-xml body is not XML: {exc}") from exc
        headers = root.find("headers")
        raw: dict[str, str] = {}
        if headers is not None:
            for child in headers:
                raw[child.tag] = child.text or ""
        body_el = root.find("body")
        body = (body_el.text or "").encode("utf-8") if body_el is not None else b""
        return cls(raw, body, content_type="text/event-xml", encoded=True)

    # -- access -------------------------------------------------------------------
    def get(self, name: str, default: str | None = None) -> str | None:
        index = self._index
        if index is not None:
            value = index.get(name)
            if value is None or value == UNDEF:
                return default
            return self._decoded(name, value) if "%" in value else value
        braw = self._braw
        if braw is None:
            raw = self._raw
            if raw is None:
                if _index_block is not None:
                    self._index = _index_block(self._data)
                    if self._index is not None:
                        return self.get(name, default)
                self._split()
                return self.get(name, default)
            value = raw.get(name)
            if value is None or value == UNDEF:
                return default
            if self._encoded and "%" in value:
                cache = self._cache
                if cache is None:
                    cache = self._cache = {}
                decoded = cache.get(name)
                if decoded is None:
                    decoded = cache[name] = _unquote(value)
                return decoded
            return value
        key = _KEYS.get(name)
        if key is None:
            key = _key(name)
            if key is None:
                return default
        bvalue = braw.get(key)
        if bvalue is None or bvalue == _UNDEF_BYTES:
            return default
        # ASCII (only ASCII blocks are split as bytes); decode() without arguments is
        # the fastest call, and '%' is cheaper to find in the str than in the bytes.
        value = bvalue.decode()
        if "%" in value:
            cache = self._cache
            if cache is None:
                cache = self._cache = {}
            decoded = cache.get(name)
            if decoded is None:
                decoded = cache[name] = _unquote(value)
            return decoded
        return value

    def _decoded(self, name: str, value: str) -> str:
        cache = self._cache
        if cache is None:
            cache = self._cache = {}
        decoded = cache.get(name)
        if decoded is None:
            decoded = cache[name] = _unquote(value)
        return decoded

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def raw(self, name: str) -> str | None:
        if self._raw is None and self._braw is None:
            self._split()
        braw = self._braw
        if braw is None:
            return self._raw.get(name)  # type: ignore[union-attr]
        key = _KEYS.get(name) or _key(name)
        value = braw.get(key) if key is not None else None
        return None if value is None else value.decode("ascii")

    def get_all(self, name: str) -> list[str]:
        if self._raw is None and self._braw is None:
            self._split()
        pairs = self._pairs
        if pairs is None:
            v = self.get(name)
            return [] if v is None else [v]
        if self._braw is not None:
            pairs = [(k.decode("ascii"), v.decode("ascii")) for k, v in pairs]  # type: ignore[union-attr]
        out = [v for k, v in pairs if k == name and v != UNDEF]
        return [_unquote(v) for v in out] if self._encoded else out  # type: ignore[misc]

    def variable(self, name: str, default: str | None = None) -> str | None:
        return self.get("variable_" + name, default)

    @property
    def headers(self) -> dict[str, str]:
        """Every header, decoded (materialises all values: not for hot paths)."""
        if self._raw is None and self._braw is None:
            # Every value is wanted: one decode of the block and a split of the text is
            # cheaper than decoding names and values one by one.
            self._split_text(self._data)
        braw = self._braw
        if braw is not None:
            # ASCII only (see _split): decode() without arguments cannot fail.
            return {
                k.decode(): _unquote(v) if "%" in v else v
                for k, v in zip(braw, map(bytes.decode, braw.values()))
                if v != UNDEF
            }
        raw = self._raw
        assert raw is not None
        if not self._encoded:
            return {k: v for k, v in raw.items() if v != UNDEF}
        return {k: _unquote(v) if "%" in v else v for k, v in raw.items() if v != UNDEF}

    def keys(self) -> Iterator[str]:
        return iter(self._text_raw())

    @property
    def name(self) -> str:
        if self._raw is None and self._braw is None:
            # FreeSWITCH writes Event-Name first; read it without splitting the block.
            # A repeated Event-Name (07b: COMMAND then PRIVATE_COMMAND) must take the
            # last value, as get() does: only trust the first line when no other line
            # starts "Event-Name:" (the general split also takes "Name:value") and its
            # value holds no ':' (FreeSWITCH encodes it; a hostile ': ' there can shift
            # the general split's pairs).
            data = self._data
            if _name_of is not None:
                value = _name_of(data)  # the same test in C (memchr, memmem), and the slice
                if value is not None:
                    return "" if value == UNDEF else _unquote(value) if "%" in value else value
                end = -1
            elif data.startswith(b"Event-Name: "):
                end = data.find(b"\n", 12)
                # (rfind: the reverse search is ~2.5x faster here than find.)
                if end > 0 and (data.rfind(b"\nEvent-Name:", end) >= 0 or data.find(b":", 12, end) >= 0):
                    end = -1
            else:
                end = -1
            if end > 0:
                value = data[12:end].decode("utf-8", "replace")
                return "" if value == UNDEF else _decode(value)
        return self.get("Event-Name", "") or ""

    @property
    def subclass(self) -> str | None:
        return self.get("Event-Subclass")

    @property
    def uuid(self) -> str | None:
        return self.get("Unique-ID")

    @property
    def job_uuid(self) -> str | None:
        return self.get("Job-UUID")

    @property
    def timestamp_us(self) -> int:
        """Event-Date-Timestamp: the switch's clock, microseconds since the epoch."""
        return _int(self.get("Event-Date-Timestamp"))

    @property
    def sequence(self) -> int:
        return _int(self.get("Event-Sequence"))

    @property
    def body(self) -> bytes:
        """The event's own body (e.g. BACKGROUND_JOB output), apart from its headers."""
        if self._raw is None and self._braw is None:
            self._split()
        return self._body

    @property
    def body_text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"<Event {self.name} uuid={self.uuid} seq={self.get('Event-Sequence')}>"


def _int(value: str | None) -> int:
    try:
        return int(value) if value else 0
    except ValueError:
        return 0


def _content_length(value: str, offset: int | None = None) -> int:
    """A Content-Length value: ASCII digits only.

    ``str.isdigit`` alone admits '²' (which ``int`` refuses with a ValueError) and other
    scripts' digits (which ``int`` reads); a run of digits longer than ``int`` accepts
    is refused as too large before it is converted."""
    if not (value.isascii() and value.isdigit()):
        raise RemoteProtocolError(f"Content-Length is not a non-negative integer: {value[:40]!r}", offset)
    digits = value.lstrip("0")
    if len(digits) > _MAX_LENGTH_DIGITS:
        raise FrameTooLargeError(f"Content-Length of {len(digits)} digits exceeds every size cap", offset)
    return int(digits or "0")


# Content types FreeSWITCH sends on an inbound connection.
AUTH_REQUEST = "auth/request"
COMMAND_REPLY = "command/reply"
API_RESPONSE = "api/response"
EVENT_PLAIN = "text/event-plain"
EVENT_JSON = "text/event-json"
EVENT_XML = "text/event-xml"
DISCONNECT_NOTICE = "text/disconnect-notice"
RUDE_REJECTION = "text/rude-rejection"
LOG_DATA = "log/data"

EVENT_TYPES = frozenset({EVENT_PLAIN, EVENT_JSON, EVENT_XML})
KNOWN_TYPES = frozenset(
    {AUTH_REQUEST, COMMAND_REPLY, API_RESPONSE, DISCONNECT_NOTICE, RUDE_REJECTION, LOG_DATA}
    | EVENT_TYPES
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One ESL message as framed on the wire."""

    headers: Mapping[str, str]
    body: bytes = b""
    # Byte offset of the frame's first byte in the stream (for error messages, replay).
    offset: int = 0
    _event: Event | None = field(default=None, repr=False, compare=False)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def reply_text(self) -> str:
        """The reply of a command/reply frame (``+OK ...`` / ``-ERR ...``)."""
        return self.headers.get("Reply-Text", "")

    @property
    def ok(self) -> bool:
        if self.content_type == COMMAND_REPLY:
            return self.reply_text.startswith("+OK")
        if self.content_type == API_RESPONSE:
            return not self.body.startswith(b"-ERR")
        return True

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def is_event(self) -> bool:
        return self.headers.get("Content-Type", "") in EVENT_TYPES

    @property
    def linger(self) -> bool:
        return self.headers.get("Content-Disposition") == "linger"

    @property
    def event(self) -> Event:
        """The event carried by a text/event-* frame (parsed once, on first use)."""
        cached = self._event
        if cached is not None:
            return cached
        ct = self.headers.get("Content-Type", "")
        if ct == EVENT_PLAIN:
            ev = Event(None, self.body)
        elif ct == EVENT_JSON:
            ev = Event.from_json(self.body)
        elif ct == EVENT_XML:
            ev = Event.from_xml(self.body)
        else:
            raise TypeError(f"frame of type {ct!r} carries no event")
        _set_event(self, ev)  # a cache, not part of the value: the frame stays frozen
        return ev


# A Frame built without the dataclass __init__ (which sets each frozen field through
# object.__setattr__): the parser makes one per frame, this is ~4x cheaper.
_new_object = object.__new__
_set_headers = Frame.headers.__set__  # type: ignore[attr-defined]
_set_body = Frame.body.__set__  # type: ignore[attr-defined]
_set_offset = Frame.offset.__set__  # type: ignore[attr-defined]
_set_event = Frame._event.__set__  # type: ignore[attr-defined]


def _new_frame(headers: Mapping[str, str], body: bytes, offset: int) -> Frame:
    frame = _new_object(Frame)
    _set_headers(frame, headers)
    _set_body(frame, body)
    _set_offset(frame, offset)
    _set_event(frame, None)
    return frame


if _register_frame_types is not None:
    # The accelerator's framing builds these classes' objects slot by slot (as
    # _new_frame and Event(None, body) do); it fails here, at import, if a slot is gone.
    _register_frame_types(Frame, Event, EVENT_PLAIN, EVENT_JSON, EVENT_XML)
