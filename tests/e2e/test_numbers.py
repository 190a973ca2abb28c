"""One customer, one number, end to end (issue 12): with ``[numbers] region = "RU"``
the switch's spellings of a caller are one identity, and numbers go back to the
switch as ``dial_number_format`` writes them — asserted from the fake switch's side."""

from __future__ import annotations

import dataclasses

from fsworker.config.settings import NumbersConfig
from fsworker.core.model import BlacklistEntry
from fsworker.core.numbering import DialNumberFormat
from fsworker.core.outcomes import AttemptOutcome, SkipReason, TaskEndReason, TaskStatus
from fsworker.testing.fakeswitch.directory import Behaviour
from tests.e2e.harness import callback_legs, hostile_inbound_call, replace_callback


def _region(h, region: str = "RU") -> None:  # noqa: ANN001
    h.config = dataclasses.replace(h.config, numbers=NumbersConfig(region=region))


def _skip_reason(h, uuid: str) -> SkipReason | None:  # noqa: ANN001
    def recorded() -> bool:
        try:
            return h.service.queue.lost_call_skip_reason(uuid) is not None
        except Exception:  # noqa: BLE001 - not recorded yet
            return False

    assert h.run_until(recorded, max_sim_s=60), f"lost call {uuid} was not recorded with a skip: {h.tasks()}"
    return h.service.queue.lost_call_skip_reason(uuid)


def test_blacklisted_as_plus7_calling_as_8_is_skipped(harness) -> None:  # noqa: ANN001
    h = harness
    _region(h)
    h.add_staff()
    h.add_rule(name="any", strategy="last_attempted", intervals=(0,))
    h.repo.add_blacklist(BlacklistEntry(number="+79160000001"))
    h.start()
    uuids = [h.lost_call("89160000001", ring=[["user/101"]], hangs_up_after=8),
             h.lost_call("79160000001", ring=[["user/101"]], hangs_up_after=8),
             hostile_inbound_call(h.pbx, "+7 916 000-00-01", "74950000001", ring=["user/101"], hangs_up_after=8)]
    for uuid in uuids:
        assert _skip_reason(h, uuid) is SkipReason.BLACKLISTED
    h.run_until(lambda: False, max_sim_s=20, step_s=2)
    assert not h.tasks()
    assert not callback_legs(h.pbx)
    assert h.service.observer.funnel.get("skipped:blacklisted") == 3


def test_two_spellings_join_one_task_and_are_dialled_as_configured(harness) -> None:  # noqa: ANN001
    """89161234567 then +79161234567: one task (D1), stored as E.164; the callback
    dials 8916... (national) and shows the DID and the customer as the gateway wants."""
    h = harness
    _region(h)
    replace_callback(h, dial_number_format=DialNumberFormat.NATIONAL)
    h.add_staff()
    h.add_rule(name="sales group", strategy="group", target="sales", intervals=(120,))
    h.start()
    pbx = h.pbx
    h.lost_call("89161234567", "74950000001", hangs_up_after=12)
    assert h.run_until(lambda: len(h.tasks()) == 1, max_sim_s=30)
    second = h.lost_call("+79161234567", "+74950000001", hangs_up_after=12)
    assert h.run_until(lambda: len(h.service.queue.get_task(h.tasks()[0].task_id).lost_call_uuids) == 2,
                       max_sim_s=30), "the second spelling did not join the task"
    [task] = h.tasks()
    assert task.customer_number == "+79161234567" and second in task.lost_call_uuids

    pbx.directory.set("user/102", Behaviour.answers(after=2))
    pbx.directory.set("sofia/gateway/pstn/89161234567", Behaviour.answers(after=3, hangup_after=20))
    assert h.run_until(lambda: h.task(task.task_id).status is TaskStatus.DONE, max_sim_s=300)
    done = h.task(task.task_id)
    assert done.end_reason is TaskEndReason.SUCCESS, done
    assert [a.outcome for a in done.attempts] == [AttemptOutcome.SUCCESS]
    [customer] = callback_legs(pbx, task.task_id, "customer")
    assert customer.endpoint == "sofia/gateway/pstn/89161234567"
    assert customer.caller_id_number == "84950000001"
    assert {leg.caller_id_number for leg in callback_legs(pbx, task.task_id, "employee")} == {"89161234567"}


def test_callers_that_are_no_numbers_get_their_own_skip(harness) -> None:  # noqa: ANN001
    h = harness
    _region(h)
    h.add_staff()
    h.add_rule(name="any", strategy="last_attempted", intervals=(0,))
    h.start()
    expected = {"anonymous": SkipReason.WITHHELD_NUMBER, "": SkipReason.WITHHELD_NUMBER,
                "reception": SkipReason.NOT_A_NUMBER, "5555": SkipReason.NUMBER_TOO_SHORT,
                "8916123456789": SkipReason.NUMBER_TOO_LONG, "79161234567,user/666": SkipReason.NOT_A_NUMBER}
    uuids = {hostile_inbound_call(h.pbx, caller, "74950000001", ring=["user/102"], hangs_up_after=4): caller
             for caller in expected}
    for uuid, caller in uuids.items():
        assert _skip_reason(h, uuid) is expected[caller], repr(caller)
        assert h.service.queue.get_lost_call(uuid).customer_number == caller  # recorded as reported
    assert not h.tasks()
    assert not callback_legs(h.pbx)
    funnel = h.service.observer.funnel
    assert funnel.get("skipped:withheld_number") == 2 and funnel.get("skipped:number_too_short") == 1
