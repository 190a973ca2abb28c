"""Pure ESL command builders: exact bytes, and hostile input refused."""

from __future__ import annotations

import pytest

from fsworker.core.errors import InvalidNumberError, ValidationError
from fsworker.esl.proto import commands as c
from fsworker.esl.proto.errors import LocalProtocolError
from tests.conftest import TRACES

JOB = "5a0c1e6e-0b1d-4c8e-9d39-000000000202"
LEG = "1aa7cb6e-a82a-4cd9-9995-35e7cfdc8f82"

HOSTILE = [
    "79161234567,sofia/gateway/x/900",
    "}",
    "{",
    "1\n\nexit",
    "1|2",
    "1 2",
    "",
    "++7916",
    "7916+",
    "7" * 21,
    "７９１６",  # full-width digits are not ASCII digits
    "1\r",
]


def test_trace_02_commands_byte_for_byte():
    client = (TRACES / "02-commands.client.bin").read_bytes()
    built = b"".join([
        c.auth("ClueCon"),
        c.api("status"),
        c.uuid_exists("00000000-0000-0000-0000-000000000000"),
        c.api("nosuchcommand"),
        c.bgapi("status", job_uuid="5a0c1e6e-0b1d-4c8e-9d39-000000000201"),
        c.event(["CHANNEL_CREATE", "BACKGROUND_JOB"]),
        c.filter_add("Event-Name", "BACKGROUND_JOB"),
        c.bgapi("status", job_uuid=JOB),
        c.api("show", "channels as json"),
        c.noevents(),
        c.exit_(),
    ])
    assert built == client


def test_trace_08_originate_byte_for_byte():
    client = (TRACES / "08-callback-success.client.bin").read_bytes()
    cmd = c.originate(
        "sofia/internal/101@127.0.0.1:5071",
        variables={
            "origination_uuid": LEG,
            "fsw_task_id": 17,
            "fsw_attempt": 1,
            "origination_caller_id_number": "79161234567",
            "origination_caller_id_name": "Callback",
            "originate_timeout": 15,
            "ignore_early_media": True,
        },
        job_uuid="c54c3d29-c23d-4908-a0bb-f4ff52e6d387",
    )
    assert cmd in client
    assert c.uuid_bridge(LEG, "b38ff880-7cc1-450e-90d5-42ee3084892a") in client
    assert c.uuid_kill("b38ff880-7cc1-450e-90d5-42ee3084892a").replace(b" NORMAL_CLEARING", b"") in client


def test_event_formats_and_custom():
    assert c.event("ALL") == b"event plain ALL\n\n"
    assert c.event(["CHANNEL_CREATE", "CUSTOM", "callcenter::info"], "json") == (
        b"event json CHANNEL_CREATE CUSTOM callcenter::info\n\n"
    )
    assert c.nixevent(["CHANNEL_CREATE"]) == b"nixevent CHANNEL_CREATE\n\n"
    assert c.filter_delete("Event-Name", "HEARTBEAT") == b"filter delete Event-Name HEARTBEAT\n\n"
    with pytest.raises(LocalProtocolError):
        c.event([])
    with pytest.raises(LocalProtocolError):
        c.event(["CHANNEL_CREATE\n\nexit"])
    with pytest.raises(ValueError):
        c.event(["ALL"], "yaml")


def test_sendmsg_execute_sends_the_argument_as_a_counted_body():
    arg = "flite|kal|Перезвон клиенту, сайт shop.example.com"
    data = c.sendmsg_execute(LEG, "speak", arg, event_lock=True, loops=2)
    head, _, body = data.partition(b"\n\n")
    assert head.split(b"\n") == [
        f"sendmsg {LEG}".encode(),
        b"call-command: execute",
        b"execute-app-name: speak",
        b"loops: 2",
        b"event-lock: true",
        b"content-type: text/plain",
        b"content-length: %d" % len(arg.encode()),
    ]
    assert body == arg.encode()
    assert c.sendmsg_execute(LEG, "answer") == (
        f"sendmsg {LEG}\ncall-command: execute\nexecute-app-name: answer\n\n".encode()
    )


def test_sendmsg_hangup():
    assert c.sendmsg_hangup(LEG, "USER_BUSY") == (
        f"sendmsg {LEG}\ncall-command: hangup\nhangup-cause: USER_BUSY\n\n".encode()
    )


@pytest.mark.parametrize("arg", ["a\nb", "a\r", "x\x00"])
def test_sendmsg_refuses_line_breaks(arg):
    with pytest.raises(LocalProtocolError):
        c.sendmsg_execute(LEG, "speak", arg)


@pytest.mark.parametrize("app", ["Speak", "speak now", "speak\n", "", "a;b"])
def test_sendmsg_refuses_bad_app_names(app):
    with pytest.raises(LocalProtocolError):
        c.sendmsg_execute(LEG, app, "x")


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_numbers_never_reach_a_dial_string(value):
    with pytest.raises(InvalidNumberError):
        c.number_endpoint("sofia/gateway/gw/", value)


@pytest.mark.parametrize("value", [v for v in HOSTILE if any(ch in v for ch in ",{}|\r\n ")])
def test_hostile_endpoints_refused(value):
    with pytest.raises(ValidationError):
        c.originate("sofia/gateway/gw/" + value, job_uuid=JOB)


def test_number_endpoint_ok():
    assert c.number_endpoint("sofia/gateway/gw/", "+79161234567") == "sofia/gateway/gw/+79161234567"


@pytest.mark.parametrize(
    "value",
    ["}", "{", "a}b", "x\ny", "1\n\nexit", "a b", "'q'", '"q"', "a\\,b", "[x]", "a|b", "^^:", "\t"],
)
def test_hostile_variable_values_refused(value):
    with pytest.raises(LocalProtocolError):
        c.channel_variables({"origination_caller_id_name": value})


def test_commas_in_variable_values_are_escaped():
    assert c.channel_variables({"fsw_site": "a,b"}) == "{fsw_site=a\\,b}"
    assert c.channel_variables({"fsw_site": "79161234567,sofia/gateway/x/900"}) == (
        "{fsw_site=79161234567\\,sofia/gateway/x/900}"
    )


def test_non_ascii_variable_values_pass_as_in_trace_16():
    assert c.channel_variables({"origination_caller_id_name": "Автоперезвон"}) == (
        "{origination_caller_id_name=Автоперезвон}"
    )


@pytest.mark.parametrize("name", ["a b", "a=b", "1abc", "a,b", "", "a}"])
def test_bad_variable_names_refused(name):
    with pytest.raises(LocalProtocolError):
        c.channel_variables({name: "x"})


def test_dial_modes_and_targets():
    eps = ["user/101", "user/102"]
    assert c.originate_arg(eps) == "user/101,user/102 &park()"
    assert c.originate_arg(eps, mode=c.DialMode.SEQUENTIAL) == "user/101|user/102 &park()"
    assert c.originate_arg("user/101", target=c.Extension(extension="74950000001", context="default")) == (
        "user/101 74950000001 XML default"
    )
    assert c.originate_arg("user/101", target=c.App(name="playback", arg="/tmp/x.wav")) == (
        "user/101 &playback(/tmp/x.wav)"
    )
    assert c.originate("user/101") == b"api originate user/101 &park()\n\n"
    with pytest.raises(ValidationError):
        c.App(name="playback", arg="x) &bridge(user/1")
    with pytest.raises(ValidationError):
        c.Extension(extension="1 XML evil")
    with pytest.raises(ValidationError):
        c.originate_arg([])


def test_uuid_helpers():
    assert c.uuid_kill(LEG) == f"api uuid_kill {LEG} NORMAL_CLEARING\n\n".encode()
    assert c.uuid_kill(LEG, "USER_BUSY").endswith(b"USER_BUSY\n\n")
    assert c.uuid_exists(LEG) == f"api uuid_exists {LEG}\n\n".encode()
    assert c.uuid_broadcast(LEG, "playback", "/tmp/hint.wav", leg="both") == (
        f"api uuid_broadcast {LEG} playback::/tmp/hint.wav both\n\n".encode()
    )
    assert c.uuid_transfer(LEG, "74950000005") == f"api uuid_transfer {LEG} 74950000005 XML default\n\n".encode()
    assert c.uuid_transfer(LEG, "105", bleg=True) == f"api uuid_transfer {LEG} -bleg 105 XML default\n\n".encode()
    assert c.uuid_setvar(LEG, "fsw_attempt", "2") == f"api uuid_setvar {LEG} fsw_attempt 2\n\n".encode()
    assert c.uuid_setvar(LEG, "fsw_attempt") == f"api uuid_setvar {LEG} fsw_attempt\n\n".encode()


@pytest.mark.parametrize(
    "call",
    [
        lambda: c.uuid_kill("x y"),
        lambda: c.uuid_kill(LEG + "\n\nexit"),
        lambda: c.uuid_kill(LEG, "normal clearing"),
        lambda: c.uuid_bridge(LEG, "}"),
        lambda: c.uuid_broadcast(LEG, "speak", "hello world"),
        lambda: c.uuid_broadcast(LEG, "playback", "x", leg="cleg"),
        lambda: c.uuid_setvar(LEG, "x", "1\n\nexit"),
        lambda: c.uuid_setvar(LEG, "bad name", "1"),
        lambda: c.api("status\n\nexit"),
        lambda: c.api("status", "1\n\nexit"),
        lambda: c.api("sta tus"),
        lambda: c.bgapi("status", job_uuid="x\ny"),
        lambda: c.filter_add("Event Name", "x"),
        lambda: c.filter_add("Event-Name", "x\n\nexit"),
        lambda: c.sendmsg_execute("1\n\nexit", "answer"),
    ],
)
def test_hostile_command_arguments_refused(call):
    with pytest.raises(LocalProtocolError):
        call()


def test_password_never_in_errors():
    for bad in ["pass word", "pw\n\nexit", ""]:
        with pytest.raises(LocalProtocolError) as info:
            c.auth(bad)
        if bad:
            assert bad not in str(info.value) and bad not in repr(info.value.value)


def test_built_commands_contain_exactly_one_command_block():
    data = c.originate(
        ["user/101", "sofia/gateway/gw/79160000000"],
        variables={"fsw_site": "a,b", "fsw_task_id": 3},
        job_uuid=JOB,
    )
    assert data.count(b"\n\n") == 1 and data.endswith(b"\n\n")
    assert data.split(b"\n")[0] == (
        b"bgapi originate {fsw_site=a\\,b,fsw_task_id=3}user/101,sofia/gateway/gw/79160000000 &park()"
    )
