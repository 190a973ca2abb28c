"""Property tests of the pure command builders against hostile text (issue 7, injection).

For arbitrary text — the hostile alphabet ``, | } { ' " \\n \\r %0A %0D \\x00 space [ ] ^ ;``
and ``\\`` ``:_:`` ``^^:`` mixed with ordinary and non-ASCII text — every public builder of
``fsworker.esl.proto.commands`` (and ``numbers.validate_number``, ``prompts.speak_argument``)
either raises a ``ValidationError`` whose message starts with the field it names, or
returns output in which no value breaks out, checked the way the switch reads it
(``tests/fuzz/fsparse.py``):
- the bytes are exactly one ESL command: no CR, LF or NUL inside the command block,
  a body only with a matching content-length;
- space-split arguments (originate, uuid_*) split into exactly the tokens meant, each
  arriving exactly as given (no quote or escape rewritten by the switch);
- a ``{...}`` block yields exactly the variables given, values intact (',' escaped);
- the endpoints of a dial string are exactly those given: no extra ',', '|' or ':_:';
- a speak argument has exactly three '|' fields and a text with no line break,
  control character, '|', '$', '{', '}' or '\\'.
"""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fsworker.core.errors import InvalidNumberError, ValidationError
from fsworker.core.numbers import is_valid_number, validate_number
from fsworker.core.prompts.actions import speak_argument
from fsworker.esl.proto import commands as c
from fsworker.esl.proto.errors import LocalProtocolError
from tests.fuzz.fsparse import blank_split, bracket_vars, read_command

settings.register_profile(
    "fsworker-commands",
    max_examples=int(os.environ.get("FSWORKER_FUZZ_COMMAND_EXAMPLES", "300")),
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PROFILE = settings.get_profile("fsworker-commands")

HOSTILE = [
    ",", "|", "}", "{", "'", '"', "\n", "\r", "%0A", "%0D", "%0a", "\x00", " ", "[", "]", "^", ";",
    "\\", "=", "&", "(", ")", "$", "${", "\t", "\u2028", "\u0085", "\u00a0", ":", ":_:", "/", "@",
    "+", "^^:", "\\n", "\\s", "\\'", "\\,", "\r\n\r\n", "\n\nexit\n\n", "api ", "content-length: 3",
]
ORDINARY = [
    "user/101", "sofia/gateway/gw/", "sofia/internal/", "@127.0.0.1:5071", "79161234567", "+7916", "0",
    "abc", "x_y", "NORMAL_CLEARING", "park", "speak", "XML", "default", "Автоперезвон", "日本",
    "1aa7cb6e-a82a-4cd9-9995-35e7cfdc8f82", "flite", "kal",
]
texts = st.lists(
    st.one_of(st.sampled_from(HOSTILE), st.sampled_from(ORDINARY), st.text(max_size=6)), max_size=8
).map("".join)
digits = st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True)
numbers = st.one_of(digits, texts, st.from_regex(r"\+?[0-9]{1,24}[,|}{' \n]?[0-9]*", fullmatch=True))
var_names = st.one_of(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True), texts)
var_values = st.one_of(texts, st.integers(-(10**12), 10**12), st.booleans())
variables = st.one_of(
    st.dictionaries(var_names, var_values, max_size=5),
    st.lists(st.tuples(var_names, var_values), max_size=4),
)
endpoint_like = st.one_of(
    st.builds(lambda p, n: p + n, st.sampled_from(["user/", "sofia/gateway/gw/", "sofia/internal/"]), numbers),
    st.from_regex(r"[a-z]{1,8}(/[A-Za-z0-9_.+\-@:=;~]{1,12}){1,3}", fullmatch=True),
    texts,
)
endpoints = st.one_of(endpoint_like, st.lists(endpoint_like, max_size=4))
uuids = st.one_of(st.uuids().map(str), texts)
app_names = st.one_of(st.sampled_from(["park", "speak", "playback", "bridge", "answer"]), texts)


def _typed_error(exc: ValidationError) -> None:
    """The project's rule: the error names the field (first), the value and the limit."""
    assert isinstance(exc, ValidationError), type(exc)
    assert exc.field and str(exc).startswith(f"{exc.field}: "), str(exc)
    assert exc.limit


def _no_line_breaks(data: bytes) -> None:
    head = data.partition(b"\n\n")[0]
    assert b"\r" not in head and b"\x00" not in head


# -- numbers -----------------------------------------------------------------------
@PROFILE
@given(value=numbers)
@example(value="７９１６")  # full-width digits: str.isdigit() says yes, ASCII says no
@example(value="٣")
@example(value="+")
def test_validate_number(value: str) -> None:
    try:
        out = validate_number(value, "customer.number")
    except InvalidNumberError as exc:
        _typed_error(exc)
        assert exc.field == "customer.number"
        assert not is_valid_number(value)
        return
    assert out == value and is_valid_number(value)
    assert re.fullmatch(r"\+?[0-9]{1,20}", out, flags=re.ASCII)


@PROFILE
@given(prefix=st.sampled_from(["user/", "sofia/gateway/gw/", "sofia/internal/", "", "user/1,"]) | texts,
       number=numbers)
def test_number_endpoint(prefix: str, number: str) -> None:
    try:
        out = c.number_endpoint(prefix, number)
    except ValidationError as exc:
        _typed_error(exc)
        return
    assert is_valid_number(number)
    assert out == prefix + number
    assert not re.search(r"[,|{}\[\]'\"\\\s^]", out) and "/" in out


# -- channel variables / dial strings -----------------------------------------------
def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_block(block: str, items: list[tuple[str, object]]) -> None:
    """A ``{...}`` block read as the switch reads it gives back exactly ``items`` (a
    repeated name: the last value, as the switch keeps it)."""
    assert block.startswith("{") and block.endswith("}") and block.count("}") == 1
    parsed, rest = bracket_vars(block)
    assert rest == ""
    assert parsed == {name: _as_text(value) for name, value in items}
    inner = block[1:-1]
    # Nothing can end the block, open another, quote, start an argument or a new line:
    # the only backslash escapes a comma, and each top-level comma starts a new variable.
    assert not re.search(r"[{}\[\]'\"|^\x00-\x20\x7f]", inner), inner
    assert inner.replace("\\,", "").count("\\") == 0
    assert len(re.split(r"(?<!\\),", inner)) == len(items)


@PROFILE
@given(variables=variables)
@example(variables={"fsw_site": "a,b}{c=d"})
@example(variables={"fsw_site": "a\\,b"})
@example(variables={"x": "1 &park()"})
def test_channel_variables(variables) -> None:
    items = list(variables.items()) if isinstance(variables, dict) else list(variables)
    try:
        out = c.channel_variables(variables)
    except ValidationError as exc:
        _typed_error(exc)
        assert exc.field.startswith("variables")
        return
    if not items:
        assert out == ""
        return
    _check_block(out, items)


def _check_dial(dial: str, eps: list[str], items: list[tuple[str, object]], mode: str) -> None:
    _, rest = bracket_vars(dial)
    if items:
        _check_block(dial[: len(dial) - len(rest)], items)
    else:
        assert not dial.startswith("{")
    assert rest.split(mode) == eps
    other = "|" if mode == "," else ","
    assert other not in rest and ":_:" not in rest and not re.search(r"[{}\[\]'\"\\\s^]", rest), rest


@PROFILE
@given(endpoints=endpoints, variables=variables,
       mode=st.sampled_from([c.DialMode.SIMULTANEOUS, c.DialMode.SEQUENTIAL, ",", "|"]) | texts)
@example(endpoints=["user/1:_:sofia/gateway/x/900"], variables={}, mode=",")
@example(endpoints="user/101,sofia/gateway/x/900", variables={}, mode=",")
def test_dial_string(endpoints, variables, mode) -> None:
    try:
        out = c.dial_string(endpoints, variables, mode=mode)
    except ValidationError as exc:
        _typed_error(exc)
        return
    eps = [endpoints] if isinstance(endpoints, str) else list(endpoints)
    items = list(variables.items()) if isinstance(variables, dict) else list(variables)
    _check_dial(out, eps, items, c.DialMode(mode).value)


@st.composite
def targets(draw):
    kind = draw(st.sampled_from(["none", "park", "app", "extension"]))
    if kind == "none":
        return None
    if kind == "park":
        return c.Park()
    try:
        if kind == "app":
            return c.App(name=draw(app_names), arg=draw(st.one_of(texts, st.sampled_from(["", "user/101", "x::y"]))))
        return c.Extension(extension=draw(texts | st.just("1000")), dialplan=draw(st.just("XML") | texts),
                           context=draw(st.just("default") | texts))
    except ValidationError as exc:
        _typed_error(exc)
        return exc


@PROFILE
@given(endpoints=endpoints, variables=variables, target=targets(),
       mode=st.sampled_from([",", "|"]), job_uuid=st.none() | uuids)
def test_originate(endpoints, variables, target, mode, job_uuid) -> None:
    if isinstance(target, ValidationError):
        return  # the target itself was refused (checked in targets())
    try:
        data = c.originate(endpoints, variables=variables, target=target, mode=mode, job_uuid=job_uuid)
    except ValidationError as exc:
        _typed_error(exc)
        return
    line, headers, body = read_command(data)
    assert body == b""
    verb = "api" if job_uuid is None else "bgapi"
    assert line.startswith(f"{verb} originate ")
    if job_uuid is not None:
        assert headers == {"job-uuid": job_uuid}
    arg = line[len(f"{verb} originate "):]
    target = c.Park() if target is None else target
    rendered = target.render().split(" ")
    tokens = blank_split(arg, 10)
    # Exactly the dial string and the target's words, each as written (no quote or
    # escape rewritten by the switch's cleanup).
    assert len(tokens) == 1 + len(rendered), tokens
    assert tokens[1:] == rendered
    assert arg.split(" ") == tokens
    eps = [endpoints] if isinstance(endpoints, str) else list(endpoints)
    items = list(variables.items()) if isinstance(variables, dict) else list(variables)
    _check_dial(tokens[0], eps, items, mode)
    if isinstance(target, c.App):
        assert re.fullmatch(r"&[a-z0-9_]+\([^()\s'\\]*\)", tokens[1]), tokens[1]


# -- api / session commands --------------------------------------------------------
@PROFILE
@given(command=texts | st.sampled_from(["status", "show", "uuid_dump"]), arg=texts, job_uuid=st.none() | uuids)
def test_api_and_bgapi(command: str, arg: str, job_uuid: str | None) -> None:
    try:
        data = c.api(command, arg) if job_uuid is None else c.bgapi(command, arg, job_uuid=job_uuid)
    except ValidationError as exc:
        _typed_error(exc)
        return
    line, headers, body = read_command(data)
    verb = "api" if job_uuid is None else "bgapi"
    assert line == (f"{verb} {command} {arg}" if arg else f"{verb} {command}")
    assert re.fullmatch(r"[A-Za-z0-9_]{1,64}", command)
    assert headers == ({} if job_uuid is None else {"job-uuid": job_uuid}) and body == b""


@PROFILE
@given(password=texts | st.just("ClueCon"))
def test_auth_never_leaks_the_password(password: str) -> None:
    try:
        data = c.auth(password)
    except LocalProtocolError as exc:
        _typed_error(exc)
        if len(password) > 3:
            assert password not in str(exc) and password not in repr(exc.value)
        return
    line, headers, body = read_command(data)
    assert line == f"auth {password}" and headers == {} and body == b""
    assert " " not in password


@PROFILE
@given(names=st.lists(texts | st.sampled_from(["CHANNEL_CREATE", "CUSTOM", "sofia::register"]), max_size=4) | texts,
       fmt=st.sampled_from(["plain", "json", "xml", c.EventFormat.JSON]) | texts)
def test_event_subscriptions(names, fmt) -> None:
    for build, verb in ((lambda: c.event(names, fmt), "event"), (lambda: c.nixevent(names), "nixevent")):
        try:
            data = build()
        except ValidationError as exc:
            _typed_error(exc)
            continue
        line, headers, body = read_command(data)
        words = line.split(" ")
        assert words[0] == verb and headers == {} and body == b""
        wanted = names.split() if isinstance(names, str) else list(names)
        assert words[-len(wanted):] == wanted
        assert all(re.fullmatch(r"[A-Za-z0-9_:.\-]{1,128}", w) for w in words[1:])
    for data in (c.noevents(), c.exit_()):
        assert read_command(data)[0] in ("noevents", "exit")


@PROFILE
@given(header=texts | st.sampled_from(["Event-Name", "Unique-ID"]), value=st.none() | texts)
def test_filters(header: str, value: str | None) -> None:
    builds = [lambda: c.filter_delete(header, value)]
    if value is not None:
        builds.append(lambda: c.filter_add(header, value))
    for build in builds:
        try:
            data = build()
        except ValidationError as exc:
            _typed_error(exc)
            continue
        line, headers, body = read_command(data)
        assert headers == {} and body == b""
        assert re.fullmatch(r"filter (delete )?[A-Za-z0-9_\-]{1,128}( .+)?", line, flags=re.DOTALL), line
        if value is not None:
            assert line.endswith(f" {header} {value}") and value.strip()


# -- sendmsg -------------------------------------------------------------------------
@PROFILE
@given(uuid=uuids, app=app_names, arg=texts, loops=st.none() | st.integers(-2, 1002), event_lock=st.booleans())
def test_sendmsg_execute(uuid: str, app: str, arg: str, loops: int | None, event_lock: bool) -> None:
    try:
        data = c.sendmsg_execute(uuid, app, arg, event_lock=event_lock, loops=loops)
    except ValidationError as exc:
        _typed_error(exc)
        return
    line, headers, body = read_command(data)
    assert line == f"sendmsg {uuid}" and re.fullmatch(r"[A-Za-z0-9\-]{1,64}", uuid)
    assert headers.pop("call-command") == "execute"
    assert headers.pop("execute-app-name") == app
    if loops is not None:
        assert headers.pop("loops") == str(loops)
    if event_lock:
        assert headers.pop("event-lock") == "true"
    if arg:
        assert headers.pop("content-type") == "text/plain"
        assert headers.pop("content-length") == str(len(arg.encode("utf-8")))
    assert headers == {}
    # Free text travels only as the counted body, whole, and holds no line break.
    assert body == arg.encode("utf-8") and not re.search(r"[\r\n\x00]", arg)


@PROFILE
@given(uuid=uuids, cause=texts | st.sampled_from(["NORMAL_CLEARING", "USER_BUSY"]))
def test_sendmsg_hangup(uuid: str, cause: str) -> None:
    try:
        data = c.sendmsg_hangup(uuid, cause)
    except ValidationError as exc:
        _typed_error(exc)
        return
    line, headers, body = read_command(data)
    assert line == f"sendmsg {uuid}" and headers == {"call-command": "hangup", "hangup-cause": cause}
    assert body == b""


SPEAK_BAD = re.compile(r"[|${}\\\r\n\x00-\x1f\x7f\u0085\u2028\u2029]")


@PROFILE
@given(engine=st.sampled_from(["flite", "tts_commandline"]) | texts, voice=st.sampled_from(["kal", "slt"]) | texts,
       text=texts, uuid=st.uuids().map(str))
@example(engine="flite", voice="kal", text="Hello|flite|evil\n${system(rm -rf /)}%0A", uuid="1aa7cb6e-a82a-4cd9")
def test_speak_argument_through_sendmsg(engine: str, voice: str, text: str, uuid: str) -> None:
    try:
        arg = speak_argument(engine, voice, text)
    except ValidationError as exc:
        _typed_error(exc)
        return
    fields = arg.split("|")
    assert fields[:2] == [engine, voice] and len(fields) == 3
    spoken = fields[2]
    assert spoken and spoken == spoken.strip() and "  " not in spoken
    assert not SPEAK_BAD.search(spoken), spoken
    _, headers, body = read_command(c.sendmsg_execute(uuid, "speak", arg))
    assert headers["execute-app-name"] == "speak" and body == arg.encode("utf-8")


# -- uuid_* ----------------------------------------------------------------------------
@PROFILE
@given(uuid=uuids, other=uuids, cause=texts | st.just("NORMAL_CLEARING"))
def test_uuid_kill_bridge_exists(uuid: str, other: str, cause: str) -> None:
    for build, words in (
        (lambda: c.uuid_kill(uuid, cause), ["api", "uuid_kill", uuid, cause]),
        (lambda: c.uuid_bridge(uuid, other), ["api", "uuid_bridge", uuid, other]),
        (lambda: c.uuid_exists(uuid), ["api", "uuid_exists", uuid]),
    ):
        try:
            data = build()
        except ValidationError as exc:
            _typed_error(exc)
            continue
        line, headers, body = read_command(data)
        assert line.split(" ") == words and headers == {} and body == b""
        assert blank_split(" ".join(words[2:]), 4) == words[2:]


@PROFILE
@given(uuid=uuids, app=app_names, arg=texts | st.sampled_from(["", "/tmp/x.wav", "a'b", "a\\nb"]),
       leg=st.sampled_from(["aleg", "bleg", "both"]) | texts)
@example(uuid="1aa7cb6e", app="playback", arg="x'", leg="bleg")  # the quote swallowed the leg
@example(uuid="1aa7cb6e", app="playback", arg="a\\sb", leg="aleg")  # \s is a space to the switch
def test_uuid_broadcast(uuid: str, app: str, arg: str, leg: str) -> None:
    try:
        data = c.uuid_broadcast(uuid, app, arg, leg=leg)
    except ValidationError as exc:
        _typed_error(exc)
        return
    line, headers, body = read_command(data)
    assert headers == {} and body == b""
    path = f"{app}::{arg}" if arg else app
    assert line == f"api uuid_broadcast {uuid} {path} {leg}"
    # mod_commands: switch_separate_string(cmd, ' ', argv, 4)
    assert blank_split(f"{uuid} {path} {leg}", 4) == [uuid, path, leg]


@PROFILE
@given(uuid=uuids, name=var_names, value=st.none() | texts | st.sampled_from(["O'Brien", "a\\nb", "a b", ""]))
@example(uuid="1aa7cb6e", name="fsw_note", value="a\\nb")  # the switch read "\n" as a newline
def test_uuid_setvar(uuid: str, name: str, value: str | None) -> None:
    try:
        data = c.uuid_setvar(uuid, name, value)
    except ValidationError as exc:
        _typed_error(exc)
        return
    line, headers, body = read_command(data)
    assert headers == {} and body == b""
    arg = line[len("api uuid_setvar "):]
    assert line.startswith("api uuid_setvar ")
    tokens = blank_split(arg, 3)  # mod_commands: switch_separate_string(cmd, ' ', argv, 3)
    if value is None:
        assert tokens == [uuid, name]
    elif value.strip(" "):
        # The value arrives as given, apart from the switch trimming spaces at its ends.
        assert tokens == [uuid, name, value.strip(" ")]


@PROFILE
@given(uuid=uuids, extension=texts | st.just("1000"), dialplan=st.just("XML") | texts,
       context=st.just("default") | texts, bleg=st.booleans())
def test_uuid_transfer(uuid: str, extension: str, dialplan: str, context: str, bleg: bool) -> None:
    try:
        data = c.uuid_transfer(uuid, extension, dialplan, context, bleg=bleg)
    except ValidationError as exc:
        _typed_error(exc)
        return
    line, headers, body = read_command(data)
    words = [uuid] + (["-bleg"] if bleg else []) + [extension, dialplan, context]
    assert line == "api uuid_transfer " + " ".join(words) and headers == {} and body == b""
    assert blank_split(" ".join(words), 5) == words


# -- regressions ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "build",
    [
        lambda: c.event(["ALL"], "bogus"),  # was ValueError from the enum, field unnamed
        lambda: c.dial_string("user/1", mode=";"),  # likewise
        lambda: c.dial_string(["user/1:_:sofia/gateway/x/900"]),  # an enterprise-originate second leg
        lambda: c.App(name="bridge", arg="user/1\\nfoo"),  # '\n' after the switch's cleanup
        lambda: c.uuid_broadcast("1aa7cb6e", "playback", "x'", leg="bleg"),  # the leg swallowed
        lambda: c.uuid_broadcast("1aa7cb6e", "playback", "a\\sb"),
        lambda: c.uuid_setvar("1aa7cb6e", "fsw_note", "a\\nb"),
        lambda: c.uuid_setvar("1aa7cb6e", "fsw_note", "'x'"),
    ],
)
def test_builders_refuse_what_the_switch_would_rewrite(build) -> None:
    # ':_:' is now refused already by the model's endpoint check (a ValidationError).
    with pytest.raises((LocalProtocolError, ValidationError)) as info:
        build()
    _typed_error(info.value)
