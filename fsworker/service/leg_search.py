"""Asking a switch which legs of a task are still up (the I/O half of recovery).

Rules: lists the channels and reads each one's tags; every reading and deciding is
fsworker.core.recovery's. A switch that does not answer raises RecoveryError, so the
task waits rather than risk ringing a customer twice.
"""

from __future__ import annotations

import logging

from fsworker.core.recovery import FoundLeg, RecoveryError, parse_channel_uuids, parse_dump
from fsworker.esl.connection import ESLConnection
from fsworker.esl.proto.errors import ESLError

log = logging.getLogger(__name__)


def find_task_legs(conn: ESLConnection, task_id: int, *, timeout: float = 10.0) -> list[FoundLeg]:
    """Every live leg on this switch tagged ``fsw_task_id=<task_id>``."""
    try:
        uuids = parse_channel_uuids(conn.api("show", "channels as json", timeout=timeout))
    except ESLError as exc:
        raise RecoveryError(f"task {task_id}: cannot list the switch's channels: {exc}") from exc
    found: list[FoundLeg] = []
    for uuid in uuids:
        try:
            leg = parse_dump(conn.api("uuid_dump", f"{uuid} json", timeout=timeout))
        except ESLError as exc:
            raise RecoveryError(f"task {task_id}: uuid_dump {uuid}: {exc}") from exc
        if leg is not None and leg.task_id == task_id:
            found.append(leg)
    log.info("task %s: %d live leg(s) of an earlier attempt on the switch%s", task_id, len(found),
             "".join(f"; {leg.role or 'leg'} {leg.uuid} {leg.endpoint}" + (" bridged" if leg.bridged_us else "")
                     for leg in found))
    return found
