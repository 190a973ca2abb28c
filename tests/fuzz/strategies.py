"""Generators for the ESL fuzz tests: valid frames of every type, hostile payloads, mutations.

Rules:
- Hypothesis draws a handful of parameters per example (a seed, a frame count, the
  mutations, the chunking); ``random.Random(seed)`` expands them into tens or hundreds of
  frames. Generating a million frames stays affordable, and every example still shrinks
  and replays from Hypothesis' own data (a smaller seed, fewer frames, fewer mutations).
- Every generated frame carries what the parser must return for it (outer headers,
  body, stream offset) and what its event must say, so a valid stream is checked
  against an oracle, not only against itself.
- Frames recorded from the real switch (``tests/data/esl-traces/*.fs.bin``) are mixed in
  byte for byte.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from xml.sax.saxutils import escape as xml_escape

from hypothesis import strategies as st

from fsworker.esl.proto.parser import parse_all
from fsworker.esl.proto.wire import build_frame, event_plain_frame, fs_url_encode
from tests.conftest import TRACES

# What Event.get must raise (a RemoteProtocolError) instead of returning values.
EVENT_ERROR = "event-error"

# -- text pools ------------------------------------------------------------------
HOSTILE_PIECES = [
    ",", "|", "}", "{", "'", '"', "\n", "\r", "%0A", "%0D", "%0a", "\x00", " ", "[", "]",
    "^", ";", ":", ": ", "%", "%%", "%Z", "%4", "\\", "\\x41", "$", "${x}", "=", "&", "+",
    "\t", "\u2028", "\u00a0", "_undef_", "\n\n", "Content-Length: 5", "%C2%B2", "²",
]
UNICODE_PIECES = ["Иван Петров", "Автоперезвон", "日本語", "😀", "é", "\u200b", "ß", "ﬁ", "٣", "\ufeff"]
ASCII_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./@+ "
NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
EVENT_NAMES = [
    "CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_BRIDGE", "BACKGROUND_JOB", "HEARTBEAT", "CUSTOM", "DTMF", "CHANNEL_EXECUTE",
]
HEADER_NAMES = [
    "Unique-ID", "Core-UUID", "Event-Sequence", "Event-Date-Timestamp", "Caller-Caller-ID-Number",
    "Caller-Caller-ID-Name", "Channel-Name", "variable_fsw_task_id", "variable_sip_from_user",
    "Event-Subclass", "Job-UUID", "Job-Command", "Hangup-Cause", "Answer-State",
]


def text(rng: random.Random, max_pieces: int = 8) -> str:
    """Mostly harmless text with hostile and non-ASCII pieces mixed in."""
    out = []
    for _ in range(rng.randint(0, max_pieces)):
        r = rng.random()
        if r < 0.55:
            out.append("".join(rng.choices(ASCII_ALPHABET, k=rng.randint(1, 12))))
        elif r < 0.85:
            out.append(rng.choice(HOSTILE_PIECES))
        else:
            out.append(rng.choice(UNICODE_PIECES))
    return "".join(out)


def _name(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice(HEADER_NAMES)
    return "".join(rng.choices(NAME_ALPHABET, k=rng.randint(1, 24)))


def _bytes(rng: random.Random, max_len: int) -> bytes:
    r = rng.random()
    n = rng.randint(0, max_len)
    if r < 0.4:
        return rng.randbytes(n)
    if r < 0.7:
        return text(rng, 12).encode("utf-8")
    # Bodies that look like frames: a body is counted, never parsed.
    return (b"Content-Type: text/event-plain\nContent-Length: 3\n\n\n\n" * rng.randint(1, 3))[:max_len + 60]


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# -- frames ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class GenFrame:
    """One generated frame and what parsing it must give."""

    data: bytes
    headers: tuple[tuple[str, str], ...]  # outer headers, decoded, in wire order
    body: bytes
    kind: str
    # None: not an event. EVENT_ERROR: reading the event must raise RemoteProtocolError.
    # Else (header pairs in wire order, own body) the event must report.
    event: tuple[tuple[tuple[str, str], ...], bytes] | str | None = None


_RAW_OUTER = frozenset({"Content-Type", "Content-Length"})


def _outer(rng: random.Random, content_type: str, body: bytes = b"", extra=()) -> GenFrame:
    """A non-event frame; extra header values are URL-encoded as the parser decodes them."""
    headers = [("Content-Type", content_type)]
    headers.extend(extra)
    if body or rng.random() < 0.1:
        headers.insert(rng.randint(0, len(headers)), ("Content-Length", str(len(body))))
    # Written raw when that is unambiguous (as FreeSWITCH does), URL-encoded otherwise.
    wire_lines = [f"{k}: {v if k in _RAW_OUTER or not ('%' in v or chr(10) in v) else fs_url_encode(v)}"
                  for k, v in headers]
    data = ("\n".join(wire_lines) + "\n\n").encode("utf-8") + body
    return GenFrame(data, tuple(headers), body, content_type)


def gen_auth_request(rng: random.Random) -> GenFrame:
    return _outer(rng, "auth/request")


REPLIES = ["+OK accepted", "-ERR invalid", "+OK bye", "+OK event listener enabled plain",
           "+OK Events Enabled", "-ERR command not found", "+OK filter added. [Event-Name]=[X]"]


def gen_command_reply(rng: random.Random) -> GenFrame:
    if rng.random() < 0.3:
        job = _uuid(rng)
        # Written raw, as FreeSWITCH does: a value holding ': ' (the outer header split
        # must go line by line).
        data = f"Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job}\nJob-UUID: {job}\n\n".encode()
        headers = (("Content-Type", "command/reply"), ("Reply-Text", f"+OK Job-UUID: {job}"), ("Job-UUID", job))
        return GenFrame(data, headers, b"", "command/reply")
    reply = rng.choice(REPLIES) if rng.random() < 0.7 else "+OK " + text(rng, 4)
    return _outer(rng, "command/reply", extra=[("Reply-Text", reply)])


def gen_api_response(rng: random.Random) -> GenFrame:
    body = _bytes(rng, 300) if rng.random() < 0.8 else b"-ERR no reply\n"
    return _outer(rng, "api/response", body)


def gen_disconnect_notice(rng: random.Random) -> GenFrame:
    body = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
    extra = []
    if rng.random() < 0.5:
        extra = [("Controlled-Session-UUID", _uuid(rng)), ("Content-Disposition", "linger"),
                 ("Channel-Name", "sofia/internal/" + text(rng, 2))]
    return _outer(rng, "text/disconnect-notice", body, extra)


def gen_rude_rejection(rng: random.Random) -> GenFrame:
    return _outer(rng, "text/rude-rejection", b"Access Denied, go away.\n")


def gen_log_data(rng: random.Random) -> GenFrame:
    body = f"2026-11-28 18:00:00.000000 [DEBUG] switch_core.c:123 {text(rng, 6)}\n".encode()
    extra = [("Log-Level", str(rng.randint(0, 7))), ("Text-Channel", "3"), ("Log-File", "switch_core.c"),
             ("Log-Func", "switch_core_thing"), ("Log-Line", str(rng.randint(1, 9999))),
             ("User-Data", text(rng, 3))]
    return _outer(rng, "log/data", body, extra)


def _event_pairs(rng: random.Random) -> list[tuple[str, str]]:
    pairs = [("Event-Name", rng.choice(EVENT_NAMES))]
    for _ in range(rng.randint(0, 14)):
        pairs.append((_name(rng), text(rng) if rng.random() < 0.9 else "_undef_"))
    if rng.random() < 0.1:
        pairs.append(("Event-Name", rng.choice(EVENT_NAMES)))  # repeated: the last one wins
    return [(k, v) for k, v in pairs if k not in ("Content-Length", "_body", "variable_array")]


def gen_event_plain(rng: random.Random) -> GenFrame:
    pairs = _event_pairs(rng)
    body = _bytes(rng, 200) if rng.random() < 0.25 else b""
    data = event_plain_frame(pairs, body)
    head_len = data.index(b"\n\n") + 2
    headers = (("Content-Length", str(len(data) - head_len)), ("Content-Type", "text/event-plain"))
    return GenFrame(data, headers, data[head_len:], "text/event-plain", (tuple(pairs), body))


def gen_event_json(rng: random.Random) -> GenFrame:
    obj: dict[str, object] = {}
    for k, v in _event_pairs(rng):
        obj[k] = v
    expect = list(obj.items())
    if rng.random() < 0.2:
        items = [text(rng, 2) for _ in range(rng.randint(1, 3))]
        obj["variable_array"] = items
        expect.append(("variable_array", "ARRAY::" + "|:".join(items)))
    body = text(rng, 6) if rng.random() < 0.3 else ""
    if body:
        obj["_body"] = body
    payload = json.dumps(obj, ensure_ascii=rng.random() < 0.5).encode("utf-8")
    frame = build_frame([("Content-Type", "text/event-json")], payload)
    headers = (("Content-Length", str(len(payload))), ("Content-Type", "text/event-json"))
    return GenFrame(frame, headers, payload, "text/event-json", (tuple(expect), body.encode("utf-8")))


def _xml_tag(rng: random.Random) -> str:
    return rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_") + "".join(
        rng.choices(NAME_ALPHABET, k=rng.randint(0, 20)))


def gen_event_xml(rng: random.Random) -> GenFrame:
    raw: dict[str, str] = {"Event-Name": rng.choice(EVENT_NAMES)}
    for _ in range(rng.randint(0, 10)):
        raw[_xml_tag(rng)] = text(rng)
    # Values travel URL-encoded, as FreeSWITCH writes them (XML cannot carry every
    # control character), and decode back to the original text.
    inner = "".join(f"<{k}>{xml_escape(fs_url_encode(v))}</{k}>" for k, v in raw.items())
    body = "".join(rng.choices(ASCII_ALPHABET, k=rng.randint(0, 40))) if rng.random() < 0.3 else ""
    xml = f"<event>\n  <headers>{inner}</headers>" + (f"<body>{xml_escape(body)}</body>" if body else "") + "</event>"
    payload = xml.encode("utf-8")
    frame = build_frame([("Content-Type", "text/event-xml")], payload)
    headers = (("Content-Length", str(len(payload))), ("Content-Type", "text/event-xml"))
    return GenFrame(frame, headers, payload, "text/event-xml", (tuple(raw.items()), body.encode()))


def _hostile_event_payload(rng: random.Random) -> tuple[str, bytes]:
    """Well-framed events whose payload is malformed: reading them must raise."""
    depth = rng.randint(1100, 20_000)  # past the interpreter's recursion limit (x5 inside an object)
    choices: list[tuple[str, bytes]] = [
        ("text/event-json", b"[" * depth),
        ("text/event-json", b'{"Event-Name": ' + b"[" * (depth * 5) + b"]" * (depth * 5) + b"}"),
        ("text/event-json", b"{not json"),
        ("text/event-json", b"[1, 2]"),
        ("text/event-json", rng.randbytes(rng.randint(1, 64)) + b"\xff"),
        ("text/event-xml", b"<event><headers>" + b"<a>" * rng.randint(1, 5000)),
        ("text/event-xml", b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
         + b"".join(b'<!ENTITY %c "%s">' % (98 + i, (b"&%c;" % (97 + i)) * 10) for i in range(7))
         + b"]><event><headers><x>&h;&h;</x></headers></event>"),
        ("text/event-plain", b"Event-Name: CUSTOM\nno separator here\nOther: 1\n\n"),
        ("text/event-plain", b"Event-Name: BACKGROUND_JOB\nContent-Length: 50\n\nshort"),
        ("text/event-plain", "Event-Name: X\nContent-Length: ²\n\nabc".encode()),
        ("text/event-plain", b"Event-Name: X\nContent-Length: " + b"9" * rng.randint(16, 6000) + b"\n\nabc"),
        ("text/event-plain", b"Event-Name: X\nContent-Length: -3\n\nabc"),
    ]
    return rng.choice(choices)


def gen_hostile_event(rng: random.Random) -> GenFrame:
    ct, payload = _hostile_event_payload(rng)
    data = f"Content-Length: {len(payload)}\nContent-Type: {ct}\n\n".encode() + payload
    headers = (("Content-Length", str(len(payload))), ("Content-Type", ct))
    return GenFrame(data, headers, payload, ct, EVENT_ERROR)


@lru_cache(maxsize=1)
def trace_frames() -> tuple[GenFrame, ...]:
    """Every frame of every recorded trace, byte for byte, with what the parser said."""
    out = []
    for path in sorted(TRACES.glob("*.fs.bin")):
        data = path.read_bytes()
        frames = parse_all(data)
        ends = [f.offset for f in frames[1:]] + [len(data)]
        for f, end in zip(frames, ends):
            out.append(GenFrame(data[f.offset:end], tuple(f.headers.items()), f.body, "trace:" + f.content_type))
    return tuple(out)


GENERATORS: dict[str, Callable[[random.Random], GenFrame]] = {
    "auth/request": gen_auth_request,
    "command/reply": gen_command_reply,
    "api/response": gen_api_response,
    "text/event-plain": gen_event_plain,
    "text/event-json": gen_event_json,
    "text/event-xml": gen_event_xml,
    "text/disconnect-notice": gen_disconnect_notice,
    "text/rude-rejection": gen_rude_rejection,
    "log/data": gen_log_data,
    "hostile-event": gen_hostile_event,
}
_KINDS = list(GENERATORS)
_WEIGHTS = [3, 10, 8, 14, 6, 4, 2, 1, 3, 1]


# Generating a frame costs ~0.3 ms of Python; most frames of a stream come from a
# memoised pool (frame i of a kind is always the same bytes: replays stay exact) and
# the rest are made fresh from the stream's own random generator.
POOL_SIZE = 2048
FRESH_PERCENT = 15
_POOL: dict[tuple[str, int], GenFrame] = {}


def _pooled(kind: str, index: int) -> GenFrame:
    frame = _POOL.get((kind, index))
    if frame is None:
        frame = _POOL[(kind, index)] = GENERATORS[kind](random.Random(f"{kind}/{index}"))
    return frame


@dataclass(slots=True)
class Stream:
    data: bytes
    frames: list[GenFrame]
    offsets: list[int]  # where each frame starts (after any stray newlines before it)


def gen_stream(seed: int, n_frames: int, trace_percent: int, stray_newlines: bool) -> Stream:
    rng = random.Random(seed)
    pool = trace_frames() if trace_percent else ()
    parts: list[bytes] = []
    frames: list[GenFrame] = []
    offsets: list[int] = []
    pos = 0
    for _ in range(n_frames):
        if pool and rng.randrange(100) < trace_percent:
            frame = rng.choice(pool)
        else:
            kind = rng.choices(_KINDS, _WEIGHTS)[0]
            if rng.randrange(100) < FRESH_PERCENT:
                frame = GENERATORS[kind](rng)
            else:
                frame = _pooled(kind, rng.randrange(POOL_SIZE))
        if stray_newlines and rng.random() < 0.1:
            nl = b"\n" * rng.randint(1, 3)  # libesl tolerates them between frames
            parts.append(nl)
            pos += len(nl)
        offsets.append(pos)
        parts.append(frame.data)
        frames.append(frame)
        pos += len(frame.data)
    return Stream(b"".join(parts), frames, offsets)


# -- mutations -------------------------------------------------------------------
INSERTS = [
    b"\n", b":", b"%", b"\n\n", b"%0A", b": ", b"\xff", b"\xc3", b"\x00", b"\r\n", b"\r",
    b"Content-Length: ", b"Content-Type: text/event-plain\n", b"Content-Length: 5\nContent-Type: api/response\n\n",
    b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"%FF", b"%C3%28", b"Event-Name: ",
]
BAD_LENGTHS = [
    b"-1", b"abc", b"1.5", "²".encode(), b"%C2%B2", "٣".encode(), b"99999999999999999999",
    b"9" * 5000, b"0" * 5000 + b"7", b"", b" 5", b"+5", b"0x10", b"1e3", b"4294967296", b"16777217",
    b"65537", b"1025", b"257", b"%35", b"0", b"00000000000000000000000000000000003",
]


@dataclass(frozen=True, slots=True)
class Mutation:
    op: str
    where: int  # 0..65535: a fraction of the stream length
    arg: int

    def apply(self, data: bytes) -> bytes:
        pos = self.where * len(data) // 65536
        arg = self.arg
        op = self.op
        if op == "flip":
            if not data:
                return data
            pos = min(pos, len(data) - 1)
            return data[:pos] + bytes([data[pos] ^ (arg % 255 + 1)]) + data[pos + 1:]
        if op == "truncate":
            return data[:pos]
        if op == "insert":
            return data[:pos] + INSERTS[arg % len(INSERTS)] + data[pos:]
        if op == "delete":
            return data[:pos] + data[pos + 1 + arg % 64:]
        if op == "duplicate":
            return data[:pos] + data[pos:pos + 1 + arg % 512] + data[pos:]
        if op == "random":
            return data[:pos] + random.Random(arg).randbytes(1 + arg % 32) + data[pos:]
        if op == "length":
            # Rewrite the value of the Content-Length header at or after pos.
            at = data.find(b"Content-Length: ", pos)
            if at < 0:
                at = data.find(b"Content-Length: ")
            if at < 0:
                return data
            start = at + len(b"Content-Length: ")
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end
            return data[:start] + BAD_LENGTHS[arg % len(BAD_LENGTHS)] + data[end:]
        if op == "content-type":
            at = data.find(b"Content-Type: ", pos)
            if at < 0:
                return data
            start = at + len(b"Content-Type: ")
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end
            new = [b"", b"text/event-plain", b"text/event-json", b"text/event-xml", b"x/unknown",
                   b"command/reply", b"api/response", b"text/event-plain%0A"][arg % 8]
            return data[:start] + new + data[end:]
        if op == "header-flood":
            # One long line, or many header lines, never a blank line: hits the header cap.
            size = 1024 * (1 + arg % 96)
            flood = b"X-Flood: " + b"A" * size if arg % 2 else b"X-Flood: v\n" * (size // 11)
            return data[:pos] + flood + data[pos:]
        if op == "newline-flood":
            return data[:pos] + b"\n" * (1 + arg % 70_000) + data[pos:]
        raise AssertionError(op)


MUTATION_OPS = ["flip", "truncate", "insert", "delete", "duplicate", "random", "length",
                "content-type", "header-flood", "newline-flood"]

mutations = st.lists(
    st.builds(Mutation, st.sampled_from(MUTATION_OPS), st.integers(0, 65535), st.integers(0, 2**16)),
    max_size=6,
)


@dataclass(frozen=True, slots=True)
class Chunking:
    """How a stream is cut into the pieces fed to the parser, reproducible from a seed."""

    mode: str  # whole | bytes | small | medium | recv | window
    seed: int

    def cut(self, data: bytes) -> list[bytes]:
        n = len(data)
        if self.mode == "whole" or n == 0:
            return [data]
        rng = random.Random(self.seed)
        if self.mode == "window":
            # Byte by byte across one region, large random pieces elsewhere.
            lo = rng.randrange(n)
            hi = min(n, lo + 2048)
            head = Chunking("medium", self.seed).cut(data[:lo]) if lo else []
            tail = Chunking("medium", self.seed + 1).cut(data[hi:]) if hi < n else []
            return head + [data[i:i + 1] for i in range(lo, hi)] + tail
        hi = {"bytes": 3, "small": 64, "medium": 4096, "recv": 65536}[self.mode]
        if self.mode == "bytes" and n > 20_000:
            hi = 64  # byte by byte over hundreds of KB is slow for no extra coverage
        if hi <= 256:
            sizes = [b % hi + 1 for b in rng.randbytes(n // ((hi + 1) // 2) + 16)]
        else:
            sizes = [rng.randint(1, hi) for _ in range(n // (hi // 2) + 16)]
        out = []
        pos = 0
        for size in sizes:
            out.append(data[pos:pos + size])
            pos += size
            if pos >= n:
                return out
        out.append(data[pos:])
        return out


chunkings = st.builds(
    Chunking, st.sampled_from(["whole", "bytes", "small", "medium", "recv", "window"]), st.integers(0, 2**32 - 1)
)

# (max_header_bytes, max_body_bytes); None: the parser's defaults. Small caps make the
# FrameTooLargeError paths reachable by ordinary frames.
caps = st.sampled_from([None, None, (4096, 65536), (600, 8192), (256, 1024), (64, 300)])


@dataclass(frozen=True, slots=True)
class Case:
    seed: int
    n_frames: int
    trace_percent: int
    stray_newlines: bool
    caps: tuple[int, int] | None
    mutations: list[Mutation] = field(default_factory=list)
    chunking: Chunking = Chunking("whole", 0)


def cases(min_frames: int = 20, max_frames: int = 200) -> st.SearchStrategy[Case]:
    return st.builds(
        Case,
        seed=st.integers(0, 2**32 - 1),
        # Uniform over the range when generating (st.integers favours small values),
        # shrinking towards min_frames.
        n_frames=st.sampled_from(range(min_frames, max_frames + 1)),
        trace_percent=st.sampled_from([0, 0, 3, 15]),
        stray_newlines=st.booleans(),
        caps=caps,
        mutations=mutations,
        chunking=chunkings,
    )
