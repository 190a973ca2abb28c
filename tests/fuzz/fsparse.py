"""How FreeSWITCH 1.10 reads what the command builders write: a test oracle, no I/O.

Rules: models of the switch's own code, kept to the behaviour the builders rely on.
- ``read_command``: mod_event_socket's framing of one client command (lines up to a
  blank line, the first is the command, the rest ``name: value`` headers, then
  ``content-length`` bytes of body).
- ``blank_split`` / ``char_split``: ``switch_separate_string`` (src/switch_utils.c) with a
  space or another delimiter, including its quote (``'``) and escape (``\\``) handling
  and ``cleanup_separated_string``, which strips quotes and reads ``\\n`` ``\\r`` ``\\t``
  ``\\s`` and escaped quotes, delimiters and backslashes.
- ``bracket_vars``: the ``{name=value,...}`` block of a dial string
  (``switch_event_create_brackets``: the block ends at the first ``}``, split on ``,``).
"""

from __future__ import annotations

_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "s": " "}


def read_command(data: bytes) -> tuple[str, dict[str, str], bytes]:
    """Exactly one command: its line, its headers (names lower-cased), its body."""
    head, sep, rest = data.partition(b"\n\n")
    assert sep, "no blank line ends the command"
    assert b"\r" not in head and b"\x00" not in head, head
    lines = head.decode("utf-8").split("\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(": ")
        assert colon and name and name.lower() not in headers, line
        headers[name.lower()] = value
    length = int(headers.get("content-length", "0"))
    assert len(rest) == length, f"{len(rest)} bytes after the headers, content-length {length}"
    return lines[0], headers, rest


def _cleanup(token: str, delim: str | None) -> str:
    i = 0
    while i < len(token) and token[i] == " ":
        i += 1
    dest: list[str] = []
    end: int | None = None
    inside = False
    while i < len(token):
        c = token[i]
        escaped = False
        if c == "\\" and i + 1 < len(token):
            e = token[i + 1]
            if e in ("'", '"', "\\") or (delim is not None and e == delim) or e in _UNESCAPE:
                i += 1
                dest.append(_UNESCAPE.get(e, e))
                end = len(dest)
                escaped = True
        if not escaped:
            if c == "'" and (inside or "'" in token[i + 1:]):
                inside = not inside
                if inside:
                    end = len(dest)
            else:
                dest.append(c)
                if c != " " or inside:
                    end = len(dest)
        i += 1
    return "".join(dest if end is None else dest[:end])


def blank_split(buf: str, limit: int) -> list[str]:
    """``switch_separate_string(buf, ' ', argv, limit)`` (no ``^^`` delimiter override)."""
    assert not buf.startswith("^^"), "a leading ^^X would change the delimiter"
    spans: list[list[int]] = []
    state = "start"
    inside = False
    i = 0
    n = len(buf)
    # As in C: the loop stops as soon as the limit-th token starts, which then runs to
    # the end of the string.
    while i < n and len(spans) < limit:
        if state == "start":
            spans.append([i, n])
            state = "skip-initial"
        elif state == "skip-initial":
            if buf[i] == " ":
                i += 1
            else:
                state = "find"
        elif state == "find":
            c = buf[i]
            if c == "\\":
                i += 1
            elif c == "'":
                inside = not inside
            elif c == " " and not inside:
                spans[-1][1] = i
                state = "skip-ending"
            i += 1
        else:  # skip-ending
            if buf[i] == " ":
                i += 1
            else:
                state = "start"
    return [_cleanup(buf[a:b], None) for a, b in spans]


def char_split(buf: str, delim: str, limit: int = 1024) -> list[str]:
    """``switch_separate_string(buf, delim, argv, limit)`` for a delimiter that is not a space."""
    assert not buf.startswith("^^"), "a leading ^^X would change the delimiter"
    spans: list[list[int]] = []
    start = True
    inside = False
    i = 0
    n = len(buf)
    while i < n and len(spans) < limit:
        if start:
            spans.append([i, n])
            start = False
            continue
        c = buf[i]
        if c == "\\":
            i += 1
        elif c == "'" and (inside or "'" in buf[i + 1:]):
            inside = not inside
        elif c == delim and not inside:
            spans[-1][1] = i
            start = True
        i += 1
    return [_cleanup(buf[a:b], delim) for a, b in spans]


def bracket_vars(dial: str) -> tuple[dict[str, str], str]:
    """The variables of a leading ``{...}`` block and the rest of the dial string."""
    if not dial.startswith("{"):
        return {}, dial
    end = dial.index("}")
    out: dict[str, str] = {}
    for item in char_split(dial[1:end], ","):
        name, eq, value = item.partition("=")
        assert eq, item
        out[name] = value
    return out, dial[end + 1:]
