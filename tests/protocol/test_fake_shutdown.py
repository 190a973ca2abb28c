"""The fake switch stopping as `freeswitch -stop` does with calls up (issue 18.4, seen on
the real switch; tests/data/esl-traces/NOTES.md): calls end SYSTEM_SHUTDOWN at once, the
Event Socket still answers for a moment but an originate fails DESTINATION_OUT_OF_ORDER,
then the shutdown notice and the close."""

from __future__ import annotations

import gevent

from fsworker.core.clock import ManualClock
from fsworker.testing.fakeswitch.directory import Behaviour
from fsworker.testing.fakeswitch.pbx import FakePBX
from fsworker.testing.fakeswitch.server import FakeSwitchServer
from fsworker.testing.fakeswitch.session import SHUTDOWN_TEXT
from tests.protocol.conftest import RawClient


def test_shutdown_hangs_up_calls_refuses_originates_then_says_so_and_closes() -> None:
    clock = ManualClock(1000.0)
    server = FakeSwitchServer(clock=clock)
    pbx = FakePBX(server.bus, clock=clock)
    server.backend = pbx
    server.start()
    try:
        pbx.directory.set("user/101", Behaviour.answers(after=1))
        pbx.api_async("originate", "{origination_uuid=up1}user/101 &park()", lambda _: None)
        pbx.advance(2)
        assert pbx.api("uuid_exists", "up1") == "true"

        client = RawClient(server.port)
        assert client.frame().content_type == "auth/request"
        assert client.command(b"auth ClueCon\n\n").reply_text == "+OK accepted"
        assert client.command(b"event plain CHANNEL_HANGUP_COMPLETE\n\n").reply_text.startswith("+OK")

        stopping = gevent.spawn(server.shutdown, 0.5)
        gevent.sleep(0.05)
        pbx.advance(0.5)
        hangup = client.frame()
        assert hangup.content_type == "text/event-plain"
        event = dict(line.split(": ", 1) for line in hangup.body.decode().split("\n\n")[0].splitlines())
        assert (event["Unique-ID"], event["Hangup-Cause"]) == ("up1", "SYSTEM_SHUTDOWN")

        # still answering, but nothing can be dialled
        reply = client.command(b"api originate {originate_timeout=5}user/101 &park()\n\n")
        assert reply.body == b"-ERR DESTINATION_OUT_OF_ORDER\n"
        assert client.command(b"api status\n\n").content_type == "api/response"

        notice = client.frame(timeout=3)
        assert notice.content_type == "text/disconnect-notice"
        assert notice.body == SHUTDOWN_TEXT
        assert client.closed()
        stopping.join(timeout=3)
        assert pbx.api("uuid_exists", "up1") == "false"
    finally:
        server.stop()
