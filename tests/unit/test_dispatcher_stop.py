"""What stops an attempt before its next phase (Dispatcher._stop_outcome), without a
switch: the store is a stand-in that answers or fails."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from fsworker.core.outcomes import AttemptOutcome
from fsworker.service.callflow import PHASE_CUSTOMER, PHASE_EMPLOYEE
from fsworker.service.dispatcher import Dispatcher, NodeSlot
from fsworker.store.claim import ClaimedTask
from fsworker.store.errors import StoreError
from tests import factories

T = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


class ContactLog:
    def __init__(self, *, reached: bool = False, fail: bool = False) -> None:
        self.reached = reached
        self.fail = fail

    def next_due_at(self, *args: object, **kwargs: object) -> None:  # the claimer's wake-up: not used here
        return None

    def contact_since(self, customer_number: str, since: datetime) -> bool:
        if self.fail:
            raise StoreError("database unreachable")
        return self.reached


def dispatcher(queue: ContactLog) -> Dispatcher:
    node = NodeSlot(name="fs1", flow=SimpleNamespace(), is_up=lambda: True)  # type: ignore[arg-type]
    return Dispatcher(queue=queue, catalog=factories.catalog, nodes=[node], worker_id="w1")  # type: ignore[arg-type]


def task(task_id: int = 42) -> ClaimedTask:
    return ClaimedTask(task_id=task_id, attempt_id=9, customer_number="79161234567", rule_id=1, rule_name="r",
                       attempt_no=1, due_at=T, created_at=T, lease_expires_at=T)


def test_nothing_in_the_way_goes_on() -> None:
    assert dispatcher(ContactLog())._stop_outcome(task(), factories.lost_call(), PHASE_EMPLOYEE) is None


def test_a_customer_reached_meanwhile_stops_the_attempt() -> None:
    got = dispatcher(ContactLog(reached=True))._stop_outcome(task(), factories.lost_call(), PHASE_CUSTOMER)
    assert got is AttemptOutcome.CONTACT_MADE


def test_a_cancelled_task_stops() -> None:
    d = dispatcher(ContactLog())
    d._cancelled.add(42)
    assert d._stop_outcome(task(), factories.lost_call(), PHASE_CUSTOMER) is AttemptOutcome.CANCELLED


def test_an_unreadable_contact_log_is_logged_with_the_task_and_the_attempt_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fsworker.service.dispatcher"):
        got = dispatcher(ContactLog(fail=True))._stop_outcome(task(), factories.lost_call(), PHASE_CUSTOMER)
    assert got is None
    [record] = [r for r in caplog.records if "database unreachable" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "task 42" in record.getMessage() and "customer" in record.getMessage()


def test_the_claim_batch_contact_check_stands_for_the_store_when_given() -> None:
    from fsworker.store.queue import AttemptInputs

    d = dispatcher(ContactLog(fail=True))  # the per-task read must not happen
    lost = factories.lost_call()
    reached = AttemptInputs(lost_calls=[lost], last_contact=lost.lost_at)
    assert d._stop_outcome(task(), lost, PHASE_EMPLOYEE, reached) is AttemptOutcome.CONTACT_MADE
    earlier = AttemptInputs(lost_calls=[lost], last_contact=lost.lost_at.replace(year=2020))
    assert d._stop_outcome(task(), lost, PHASE_EMPLOYEE, earlier) is None
