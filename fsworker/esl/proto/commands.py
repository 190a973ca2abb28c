"""Pure ESL command builders: arguments in, the exact bytes to write out. No I/O.

Rules:
- Every builder validates every value it puts on the wire and raises
  ``LocalProtocolError`` (a ``ValidationError``: field, value, limit) otherwise; a dial
  number that is not digits with one optional leading '+' raises ``InvalidNumberError``
  (``fsworker.core.numbers.validate_number``). Nothing is "cleaned" silently.
- A command is one line ended by a blank line, so no value may carry CR, LF or NUL.
  Dial strings get stricter rules: ',' and '|' separate endpoints (and ':_:' separates
  enterprise-originate groups), '{' '}' '[' ']' open and close variable blocks, a space
  ends the originate argument. Endpoints come from ``fsworker.core.numbers.validate_endpoint``
  (and may not hold ':_:'); channel-variable values have ',' escaped as FreeSWITCH
  expects (``\\,``) and every other dial-string metacharacter rejected.
- Arguments the switch splits on spaces (``switch_separate_string``: originate,
  uuid_broadcast, uuid_setvar) read ``'`` as a quote and ``\\`` as an escape (``\\n`` is a
  newline, ``\\s`` a space), so untrusted parts of them may carry neither.
- Free text (a speak hint) travels only as a ``sendmsg`` body counted by Content-Length,
  never as a header value or an api argument.
- The password is never part of an error message, a log line or a repr.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from fsworker.core.errors import InvalidNumberError
from fsworker.core.numbers import validate_endpoint, validate_number
from fsworker.esl.proto.errors import LocalProtocolError

__all__ = [
    "App",
    "DialMode",
    "EventFormat",
    "Extension",
    "InvalidNumberError",
    "Park",
    "api",
    "auth",
    "bgapi",
    "channel_variables",
    "dial_string",
    "event",
    "exit_",
    "filter_add",
    "filter_delete",
    "nixevent",
    "noevents",
    "number_endpoint",
    "originate",
    "originate_arg",
    "sendmsg_execute",
    "sendmsg_hangup",
    "uuid_bridge",
    "uuid_broadcast",
    "uuid_exists",
    "uuid_kill",
    "uuid_setvar",
    "uuid_transfer",
]

_LINE_BREAKERS = re.compile(r"[\r\n\x00]")
_COMMAND_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_EVENT_NAME = re.compile(r"[A-Za-z0-9_:.\-]{1,128}")  # event names and CUSTOM subclasses
_HEADER_NAME = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_UUID = re.compile(r"[A-Za-z0-9\-]{1,64}")
_APP_NAME = re.compile(r"[a-z0-9_]{1,64}")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_CAUSE = re.compile(r"[A-Z_]{1,64}")
_TOKEN = re.compile(r"[A-Za-z0-9_.+*#@:\-]{1,128}")  # extension, context, dialplan
_ENTERPRISE_DELIM = ":_:"  # switch_ivr_enterprise_originate's separator
# A quote or an escape in a space-split argument (see the module rules).
_SPLIT_META = re.compile(r"['\\]")
# Inside {...} FreeSWITCH splits on ',' (escapable as '\,'); everything else that could
# end the block, open another one, quote, escape, or end the argument is refused.
_VAR_VALUE_FORBIDDEN = re.compile(r"[\x00-\x20\x7f{}\[\]'\"\\|^]")
MAX_VALUE_LEN = 1024
MAX_BODY_LEN = 64 * 1024
_E = TypeVar("_E", bound=enum.Enum)


class EventFormat(enum.StrEnum):
    """Serialization FreeSWITCH uses for the events it sends us."""

    PLAIN = "plain"  #: text/event-plain, URL-encoded header lines
    JSON = "json"  #: text/event-json, one JSON object per event
    XML = "xml"  #: text/event-xml (recognised, not used by fsworker)


class DialMode(enum.StrEnum):
    """How several endpoints of one dial string are rung."""

    SIMULTANEOUS = ","  #: all at once; the first to answer wins
    SEQUENTIAL = "|"  #: one after another


def _fail(field: str, value: object, limit: str) -> LocalProtocolError:
    return LocalProtocolError(field, value, limit)


def _member(field: str, cls: type[_E], value: object) -> _E:
    """An enum member from a member or its value; anything else is a LocalProtocolError
    (the enum's own ValueError would not name the field)."""
    try:
        return cls(value)
    except ValueError:
        raise _fail(field, value, "one of " + ", ".join(repr(m.value) for m in cls)) from None


def _line(field: str, value: object, *, allow_empty: bool = True) -> str:
    """A value that goes into a command line or header: no line breaks, bounded."""
    if not isinstance(value, str):
        raise _fail(field, value, "must be a string")
    if _LINE_BREAKERS.search(value):
        raise _fail(field, value, "must not contain CR, LF or NUL")
    if not allow_empty and not value.strip():
        raise _fail(field, value, "must not be empty")
    if len(value) > MAX_VALUE_LEN:
        raise _fail(field, value, f"at most {MAX_VALUE_LEN} characters")
    return value


def _match(field: str, value: object, pattern: re.Pattern[str], limit: str) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise _fail(field, value, limit)
    return value


def _uuid(value: object, field: str = "uuid") -> str:
    return _match(field, value, _UUID, "letters, digits and '-', 1..64 characters")


def _frame(line: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b"") -> bytes:
    parts = [line]
    parts.extend(f"{k}: {v}" for k, v in headers)
    if body:
        parts.append(f"content-length: {len(body)}")
    return ("\n".join(parts) + "\n\n").encode("utf-8") + body


# -- session ---------------------------------------------------------------------
def auth(password: str) -> bytes:
    """``auth <password>``. The password never appears in an error."""
    if not isinstance(password, str) or not password or _LINE_BREAKERS.search(password) or " " in password:
        raise _fail("password", "<redacted>", "a non-empty string without spaces or line breaks")
    return _frame(f"auth {password}")


def _event_names(field: str, names: Iterable[str]) -> list[str]:
    if isinstance(names, str):
        names = names.split()
    out = [_match(field, n, _EVENT_NAME, "an event name or CUSTOM subclass") for n in names]
    if not out:
        raise _fail(field, out, "at least one event name")
    return out


def event(names: Iterable[str], fmt: EventFormat | str = EventFormat.PLAIN) -> bytes:
    """``event plain|json|xml NAME ...`` (CUSTOM subclasses follow the word CUSTOM)."""
    fmt = _member("format", EventFormat, fmt)
    return _frame(f"event {fmt.value} " + " ".join(_event_names("events", names)))


def nixevent(names: Iterable[str]) -> bytes:
    return _frame("nixevent " + " ".join(_event_names("events", names)))


def noevents() -> bytes:
    return _frame("noevents")


def exit_() -> bytes:
    return _frame("exit")


def filter_add(header: str, value: str) -> bytes:
    """``filter <header> <value>``: only events whose header has that value pass."""
    _match("filter.header", header, _HEADER_NAME, "a header name (letters, digits, '-', '_')")
    _line("filter.value", value, allow_empty=False)
    return _frame(f"filter {header} {value}")


def filter_delete(header: str, value: str | None = None) -> bytes:
    _match("filter.header", header, _HEADER_NAME, "a header name (letters, digits, '-', '_')")
    if value is None:
        return _frame(f"filter delete {header}")
    _line("filter.value", value, allow_empty=False)
    return _frame(f"filter delete {header} {value}")


# -- api / bgapi -----------------------------------------------------------------
def _api_line(verb: str, command: str, arg: str) -> str:
    _match("api.command", command, _COMMAND_NAME, "letters, digits and '_' only")
    _line("api.arg", arg)
    return f"{verb} {command} {arg}" if arg else f"{verb} {command}"


def api(command: str, arg: str = "") -> bytes:
    """``api <command> [arg]``: blocks the switch's reader for this connection."""
    return _frame(_api_line("api", command, arg))


def bgapi(command: str, arg: str = "", *, job_uuid: str) -> bytes:
    """``bgapi`` with our own Job-UUID so the BACKGROUND_JOB can be matched before the
    reply arrives."""
    return _frame(_api_line("bgapi", command, arg), [("Job-UUID", _uuid(job_uuid, "job_uuid"))])


# -- sendmsg ---------------------------------------------------------------------
def sendmsg_execute(
    uuid: str,
    app: str,
    arg: str = "",
    *,
    event_lock: bool = False,
    loops: int | None = None,
) -> bytes:
    """Execute a dialplan application on a channel; ``arg`` travels as the body."""
    headers = [("call-command", "execute"), ("execute-app-name", _match("app", app, _APP_NAME, "lower-case letters, digits, '_'"))]
    if loops is not None:
        if not isinstance(loops, int) or isinstance(loops, bool) or not 1 <= loops <= 1000:
            raise _fail("loops", loops, "an integer 1..1000")
        headers.append(("loops", str(loops)))
    if event_lock:
        headers.append(("event-lock", "true"))
    if not isinstance(arg, str) or _LINE_BREAKERS.search(arg):
        # The body is length-counted so a newline could not break framing, but
        # FreeSWITCH applications take one line; a newline here is hostile input.
        raise _fail("app.arg", arg, "a string without CR, LF or NUL")
    body = arg.encode("utf-8")
    if len(body) > MAX_BODY_LEN:
        raise _fail("app.arg", arg[:40] + "...", f"at most {MAX_BODY_LEN} bytes")
    if body:
        headers.append(("content-type", "text/plain"))
    return _frame(f"sendmsg {_uuid(uuid)}", headers, body)


def sendmsg_hangup(uuid: str, cause: str = "NORMAL_CLEARING") -> bytes:
    _match("cause", cause, _CAUSE, "an upper-case hangup cause such as NORMAL_CLEARING")
    return _frame(f"sendmsg {_uuid(uuid)}", [("call-command", "hangup"), ("hangup-cause", cause)])


# -- dial strings / originate ---------------------------------------------------
def number_endpoint(prefix: str, number: str) -> str:
    """``prefix`` + a validated number, e.g. ``number_endpoint("sofia/gateway/gw/", n)``."""
    validate_number(number, "number")
    return validate_endpoint(prefix + number, "endpoint")


def _var_value(name: str, value: object) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise _fail(f"variables.{name}", value, "a string, int or bool")
    if _LINE_BREAKERS.search(value):
        raise _fail(f"variables.{name}", value, "must not contain CR, LF or NUL")
    bad = _VAR_VALUE_FORBIDDEN.search(value)
    if bad is not None:
        raise _fail(
            f"variables.{name}",
            value,
            "no spaces, control characters, braces, brackets, quotes, '\\', '|' or '^'",
        )
    if len(value) > MAX_VALUE_LEN:
        raise _fail(f"variables.{name}", value, f"at most {MAX_VALUE_LEN} characters")
    return value.replace(",", "\\,")


def channel_variables(variables: Mapping[str, object] | Sequence[tuple[str, object]]) -> str:
    """``{a=b,c=d}`` (empty string for no variables), values escaped or refused."""
    items = list(variables.items()) if isinstance(variables, Mapping) else list(variables)
    if not items:
        return ""
    parts = []
    for name, value in items:
        _match("variables", name, _VAR_NAME, "a channel variable name (letters, digits, '_')")
        parts.append(f"{name}={_var_value(name, value)}")
    return "{" + ",".join(parts) + "}"


def dial_string(
    endpoints: str | Sequence[str],
    variables: Mapping[str, object] | Sequence[tuple[str, object]] = (),
    *,
    mode: DialMode = DialMode.SIMULTANEOUS,
) -> str:
    """``{vars}ep1,ep2`` (or ``|`` for sequential) from validated endpoints."""
    if isinstance(endpoints, str):
        endpoints = [endpoints]
    if not endpoints:
        raise _fail("endpoints", endpoints, "at least one endpoint")
    eps = [validate_endpoint(ep, f"endpoints[{i}]") for i, ep in enumerate(endpoints)]
    for i, ep in enumerate(eps):
        if _ENTERPRISE_DELIM in ep:
            raise _fail(f"endpoints[{i}]", ep, "must not contain ':_:' (FreeSWITCH's enterprise-originate separator)")
    return channel_variables(variables) + _member("mode", DialMode, mode).value.join(eps)


@dataclass(frozen=True, kw_only=True, slots=True)
class Park:
    """Park the answered leg (``&park()``): the worker drives it with sendmsg."""

    def render(self) -> str:
        return "&park()"


@dataclass(frozen=True, kw_only=True, slots=True)
class App:
    """Run one application on answer: ``&name(arg)``."""

    name: str
    arg: str = ""

    def __post_init__(self) -> None:
        _match("app", self.name, _APP_NAME, "lower-case letters, digits, '_'")
        _line("app.arg", self.arg)
        if re.search(r"[\s()'\\]", self.arg):
            raise _fail("app.arg", self.arg, "no spaces, parentheses, quotes or '\\' in an inline app argument")

    def render(self) -> str:
        return f"&{self.name}({self.arg})"


@dataclass(frozen=True, kw_only=True, slots=True)
class Extension:
    """Send the answered leg into the dialplan: ``<extension> <dialplan> <context>``."""

    extension: str
    dialplan: str = "XML"
    context: str = "default"

    def __post_init__(self) -> None:
        for field in ("extension", "dialplan", "context"):
            _match(f"extension.{field}", getattr(self, field), _TOKEN, "letters, digits and _ . + * # @ : - only")

    def render(self) -> str:
        return f"{self.extension} {self.dialplan} {self.context}"


def originate_arg(
    endpoints: str | Sequence[str],
    *,
    variables: Mapping[str, object] | Sequence[tuple[str, object]] = (),
    target: Park | App | Extension | None = None,
    mode: DialMode = DialMode.SIMULTANEOUS,
) -> str:
    """The argument of ``originate``: ``{vars}endpoint(s) &park()``."""
    target = Park() if target is None else target
    if not isinstance(target, (Park, App, Extension)):
        raise _fail("target", target, "Park(), App(...) or Extension(...)")
    return f"{dial_string(endpoints, variables, mode=mode)} {target.render()}"


def originate(
    endpoints: str | Sequence[str],
    *,
    variables: Mapping[str, object] | Sequence[tuple[str, object]] = (),
    target: Park | App | Extension | None = None,
    mode: DialMode = DialMode.SIMULTANEOUS,
    job_uuid: str | None = None,
) -> bytes:
    """``bgapi originate ...`` with ``job_uuid``, else ``api originate ...``."""
    arg = originate_arg(endpoints, variables=variables, target=target, mode=mode)
    if job_uuid is None:
        return api("originate", arg)
    return bgapi("originate", arg, job_uuid=job_uuid)


# -- uuid_* ----------------------------------------------------------------------
def uuid_kill(uuid: str, cause: str = "NORMAL_CLEARING") -> bytes:
    _match("cause", cause, _CAUSE, "an upper-case hangup cause such as NORMAL_CLEARING")
    return api("uuid_kill", f"{_uuid(uuid)} {cause}")


def uuid_bridge(uuid: str, other: str) -> bytes:
    return api("uuid_bridge", f"{_uuid(uuid)} {_uuid(other, 'other')}")


def uuid_exists(uuid: str) -> bytes:
    return api("uuid_exists", _uuid(uuid))


def uuid_broadcast(uuid: str, app: str, arg: str = "", *, leg: str = "aleg") -> bytes:
    """``uuid_broadcast <uuid> app::arg <leg>``; the switch splits on spaces, so none
    are allowed in ``arg`` (use sendmsg for free text)."""
    _match("app", app, _APP_NAME, "lower-case letters, digits, '_'")
    if leg not in ("aleg", "bleg", "both"):
        raise _fail("leg", leg, "aleg, bleg or both")
    _line("app.arg", arg)
    if re.search(r"\s", arg):
        raise _fail("app.arg", arg, "no whitespace (uuid_broadcast splits its argument on spaces)")
    if _SPLIT_META.search(arg):
        # A quote would swallow the leg argument; an escape would turn into a newline.
        raise _fail("app.arg", arg, "no quote or '\\' (uuid_broadcast splits its argument on spaces)")
    path = f"{app}::{arg}" if arg else app
    return api("uuid_broadcast", f"{_uuid(uuid)} {path} {leg}")


def uuid_transfer(
    uuid: str, extension: str, dialplan: str = "XML", context: str = "default", *, bleg: bool = False
) -> bytes:
    dest = Extension(extension=extension, dialplan=dialplan, context=context).render()
    flag = "-bleg " if bleg else ""
    return api("uuid_transfer", f"{_uuid(uuid)} {flag}{dest}")


def uuid_setvar(uuid: str, name: str, value: str | None = None) -> bytes:
    """Set (or, with ``value=None``, unset) a channel variable."""
    _match("variable", name, _VAR_NAME, "a channel variable name (letters, digits, '_')")
    if value is None:
        return api("uuid_setvar", f"{_uuid(uuid)} {name}")
    _line(f"variables.{name}", value)
    if _SPLIT_META.search(value):
        # The switch strips paired quotes and reads escapes: the value would not arrive as given.
        raise _fail(f"variables.{name}", value, "no quote or '\\' (uuid_setvar's argument is split on spaces)")
    return api("uuid_setvar", f"{_uuid(uuid)} {name} {value}")
