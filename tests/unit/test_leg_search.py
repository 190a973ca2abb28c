"""Asking a switch for a task's legs: what is sent, and a listed uuid never sent back unvalidated."""

from __future__ import annotations

import json
import logging

import pytest

from fsworker.core.recovery import RecoveryError
from fsworker.esl.proto.errors import CommandTimeoutError
from fsworker.service.leg_search import find_task_legs

GOOD = "b38ff880-7cc1-450e-90d5-42ee3084892a"


class RecordingSwitch:
    """Answers ``api`` like a switch with the given channels; records every command."""

    def __init__(self, uuids: list[str], *, fail: bool = False) -> None:
        self.uuids = uuids
        self.fail = fail
        self.sent: list[tuple[str, str]] = []

    def api(self, command: str, arg: str = "", *, timeout: float | None = None) -> str:
        self.sent.append((command, arg))
        if self.fail:
            raise CommandTimeoutError(f"api {command}: no reply")
        if command == "show":
            return json.dumps({"row_count": len(self.uuids), "rows": [{"uuid": u} for u in self.uuids]})
        uuid = arg.split()[0]
        return json.dumps({"Unique-ID": uuid, "Channel-Name": f"sofia/internal/{uuid}", "variable_fsw_task_id": "7",
                           "variable_fsw_role": "employee", "Caller-Channel-Hangup-Time": "0"})


def test_channels_are_listed_then_each_dumped_through_the_builders() -> None:
    switch = RecordingSwitch([GOOD])
    legs = find_task_legs(switch, 7)  # type: ignore[arg-type]
    assert [leg.uuid for leg in legs] == [GOOD]
    assert switch.sent == [("show", "channels as json"), ("uuid_dump", f"{GOOD} json")]


@pytest.mark.parametrize("hostile", [f"{GOOD} json; hupall", "x y", "'", "a\\nb", "a{b}", "a" * 65])
def test_a_listed_uuid_that_is_not_a_uuid_is_never_sent_back(hostile: str, caplog: pytest.LogCaptureFixture) -> None:
    switch = RecordingSwitch([hostile, GOOD])
    with caplog.at_level(logging.WARNING, logger="fsworker.service.leg_search"):
        legs = find_task_legs(switch, 7)  # type: ignore[arg-type]
    assert [leg.uuid for leg in legs] == [GOOD]
    assert all(hostile not in arg for _, arg in switch.sent)
    assert "task 7" in caplog.text and "not a channel uuid" in caplog.text


def test_a_switch_that_does_not_answer_is_a_recovery_error() -> None:
    with pytest.raises(RecoveryError, match="task 7: cannot list"):
        find_task_legs(RecordingSwitch([], fail=True), 7)  # type: ignore[arg-type]
