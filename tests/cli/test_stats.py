"""``fsworker stats``: the funnel of a period, from the database."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from fsworker.core.calls import LossPlace, LostCall
from fsworker.core.outcomes import AttemptOutcome, SkipReason, TaskEndReason
from fsworker.store.queue import TaskQueue
from tests.cli.conftest import Run

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _lost(queue: TaskQueue, uuid: str, number: str, at: datetime, place: LossPlace = LossPlace.NUMBER,
          skip: SkipReason | None = None) -> None:
    queue.record_lost_call(LostCall(call_uuid=uuid, customer_number=number, virtual_number="+74950000000",
                                    place=place, lost_at=at, waited_s=10), skip_reason=skip, now=at)


def _fill(url: str) -> None:
    """Day 1: 4 lost calls (1 blacklisted, 1 joining), 2 tasks; one called back 120 s
    after its loss, one exhausted after two no-answers. Day 2: one lost call, no rule."""
    q = TaskQueue(url)
    _lost(q, "a", "+79160000001", T0)
    _lost(q, "b", "+79160000002", T0 + timedelta(minutes=1), LossPlace.SCENARIO)
    _lost(q, "c", "+79160000002", T0 + timedelta(minutes=2), LossPlace.SCENARIO)
    _lost(q, "d", "+79990000000", T0 + timedelta(minutes=3), skip=SkipReason.BLACKLISTED)
    a = q.create_task(customer_number="+79160000001", rule_name="day", due_at=T0, lost_call_uuid="a", now=T0)
    b = q.create_task(customer_number="+79160000002", rule_name="night", due_at=T0, lost_call_uuid="b", now=T0)
    assert a and b and q.join_task("+79160000002", "c") == b
    assert len(q.claim_due("w", now=T0 + timedelta(seconds=60), limit=2)) == 2
    q.finish_attempt(a, "w", outcome=AttemptOutcome.SUCCESS, end_reason=TaskEndReason.SUCCESS, talk_s=30,
                     now=T0 + timedelta(seconds=120))
    q.finish_attempt(b, "w", outcome=AttemptOutcome.CUSTOMER_NO_ANSWER, next_due=T0 + timedelta(minutes=10),
                     now=T0 + timedelta(seconds=100))
    assert q.claim_due("w", now=T0 + timedelta(minutes=11))
    q.finish_attempt(b, "w", outcome=AttemptOutcome.CUSTOMER_NO_ANSWER, end_reason=TaskEndReason.ATTEMPTS_EXHAUSTED,
                     now=T0 + timedelta(minutes=12))
    _lost(q, "e", "+79160000003", T0 + timedelta(days=1), skip=SkipReason.NO_RULE)
    q.close()


def _row(out: str, label: str) -> str:
    m = re.search(rf"^{re.escape(label)} +(\S.*)$", out, re.M)
    assert m, f"no row {label!r} in:\n{out}"
    return m.group(1).strip()


def test_the_funnel_of_a_period(seeded: Run, sqlite_url: str) -> None:
    _fill(sqlite_url)
    r = seeded("--utc", "stats", "--since", "2026-12-01", "--until", "2026-12-02")
    assert r.code == 0, r.err
    out = r.out
    assert "since 2026-12-01T00:00:00+00:00 until 2026-12-02T00:00:00+00:00" in out
    assert _row(out, "lost calls") == "4"
    assert _row(out, "  at: number") == "2" and _row(out, "  at: scenario") == "2"
    assert _row(out, "  skipped: blacklisted") == "1" and "no_rule" not in out
    assert _row(out, "tasks created") == "2"
    assert _row(out, "  lost calls joining an open task") == "1"
    assert _row(out, "callback attempts") == "3"
    assert _row(out, "  outcome: success") == "1" and _row(out, "  outcome: customer_no_answer") == "2"
    assert _row(out, "tasks ended") == "2"
    assert _row(out, "  ended: success") == "1" and _row(out, "  ended: attempts_exhausted") == "1"
    assert _row(out, "loss -> successful callback p50") == "2m 00s"
    assert _row(out, "loss -> successful callback p90") == "2m 00s"

    doc = json.loads(seeded("stats", "--since", "all", "--json").out)
    assert doc["lost_calls"] == {"total": 5, "by_place": {"number": 3, "scenario": 2}}
    assert doc["skipped"]["by_reason"] == {"blacklisted": 1, "no_rule": 1}
    assert doc["tasks_created"] == 2 and doc["tasks_joined"] == 1
    assert doc["attempts"]["by_outcome"] == {"success": 1, "customer_no_answer": 2}
    assert doc["loss_to_success_s"] == {"count": 1, "p50": 120.0, "p90": 120.0}
    # day 2 alone
    doc = json.loads(seeded("stats", "--since", "2026-12-02T00:00Z", "--json").out)
    assert doc["lost_calls"]["total"] == 1 and doc["tasks_created"] == 0 and doc["loss_to_success_s"]["p50"] is None


def test_stats_refuses_a_bad_period(run: Run) -> None:
    r = run("stats", "--since", "last week")
    assert r.code == 1 and "since: 'last week' is invalid" in r.err
    r = run("stats")  # default: the last 24 hours of an empty database
    assert r.code == 0 and re.search(r"^lost calls +0$", r.out, re.M), r.out
