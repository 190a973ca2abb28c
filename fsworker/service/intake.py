"""Intake: what the detector saw becomes a task, a recorded skip, or a cancellation.

Rules:
- Exactly once per call UUID across every worker process: the store's unique
  ``lost_calls.call_uuid`` decides who takes a call in; the loser records nothing.
- Every lost call is recorded, taken or skipped, and every skip has its reason
  (R9, R16, R18, no rule, already reached, invalid number, ignored).
- Decisions are made by the pure rule engine on one catalog snapshot; this module only
  gathers the facts it needs from the store and applies the decision.
- Contacts (R17) are applied in the order the detector yields them: a call answered
  and later lost in a transfer first cancels older tasks, then creates its own.
- What the switch reports is untrusted text: a NUL in it (an event's ``%00``) cannot be
  stored in a PostgreSQL text column, so it is replaced by U+FFFD before anything is
  recorded (the number stays undialable and is skipped as invalid_number, not lost).
- Numbers enter here: the caller's number, the DID and a contact's number become their
  identity under the configured NumberPlan (E.164 with a region) before anything is
  stored or compared, so one customer is one number whatever the trunk's spelling. A
  caller "number" that is no phone number is recorded as reported and skipped with its
  own reason (withheld_number, not_a_number, number_too_short, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Protocol

from fsworker.core.calls import Contact, LossPlace, LostCall, RungLeg, TransferPhase
from fsworker.core.catalog import Catalog
from fsworker.core.clock import Clock, SystemClock
from fsworker.core.errors import FsworkerError, InvalidNumberError
from fsworker.core.numbering import NO_REGION, NumberPlan, NumberProblem
from fsworker.core.outcomes import SkipReason, TaskEndReason
from fsworker.core.planner import ScheduleNeverOpensError, first_due
from fsworker.core.rules import Accept, IntakeFacts, Skip, decide
from fsworker.store.errors import StoreError
from fsworker.store.queue import TaskQueue

log = logging.getLogger(__name__)


_NUL = "\x00"


def _clean(value: object) -> object:
    return value.replace(_NUL, "\ufffd") if isinstance(value, str) and _NUL in value else value


def _storable(obj: LostCall | Contact | RungLeg | TransferPhase) -> object:
    """``obj`` with every NUL in its text replaced (see the module rules); itself when
    there is none, which is the normal case."""
    changes: dict[str, object] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, str):
            new = _clean(value)
        elif isinstance(value, (RungLeg, TransferPhase)):
            new = _storable(value)
        elif isinstance(value, tuple) and value and isinstance(value[0], RungLeg):
            new = tuple(_storable(leg) for leg in value)
        elif isinstance(value, dict):
            new = {_clean(k): _clean(v) for k, v in value.items()}
        else:
            continue
        if new != value:
            changes[f.name] = new
    return replace(obj, **changes) if changes else obj


def _identified(plan: NumberPlan, call: LostCall) -> tuple[LostCall, NumberProblem | None]:
    """``call`` with its numbers as identities, and what is wrong with the caller's."""
    number, problem = plan.check(call.customer_number)
    did = plan.normalize_or_keep(call.virtual_number)
    if number == call.customer_number and did == call.virtual_number:
        return call, problem
    return replace(call, customer_number=number, virtual_number=did), problem


class _Deferred:
    """Observer calls made inside the intake transaction, replayed after its commit (a
    webhook must not announce a task that a failed commit never created)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def __getattr__(self, name: str):  # noqa: ANN204
        return lambda *args: self.calls.append((name, args))

    def replay(self, observer: IntakeObserver) -> None:
        for name, args in self.calls:
            getattr(observer, name)(*args)


class IntakeInterruptedError(FsworkerError):
    """The database failed after the lost call was stored, before it was decided."""

    def __init__(self, call_uuid: str, cause: Exception) -> None:
        self.call_uuid = call_uuid
        super().__init__(f"call {call_uuid}: stored, not yet decided: {cause}")


class IntakeObserver(Protocol):
    """Metrics and webhooks hang off these (all optional, all non-blocking)."""

    def lost_call(self, call: LostCall) -> None: ...
    def skipped(self, call: LostCall, reason: SkipReason, detail: str) -> None: ...
    def task_created(self, call: LostCall, task_id: int, rule: str, due_at: datetime) -> None: ...
    def task_joined(self, call: LostCall, task_id: int, rule: str) -> None: ...
    def tasks_cancelled(self, contact: Contact, task_ids: list[int]) -> None: ...


class NullObserver:
    def lost_call(self, call: LostCall) -> None: ...
    def skipped(self, call: LostCall, reason: SkipReason, detail: str) -> None: ...
    def task_created(self, call: LostCall, task_id: int, rule: str, due_at: datetime) -> None: ...
    def task_joined(self, call: LostCall, task_id: int, rule: str) -> None: ...
    def tasks_cancelled(self, contact: Contact, task_ids: list[int]) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class IntakeResult:
    call_uuid: str
    task_id: int | None = None
    created: bool = False
    skip: SkipReason | None = None
    detail: str = ""
    #: the task's due time, when this call made it (or may have made it) claimable
    #: sooner; None: nothing a claimer could take changed (a skip, a plain D1 join)
    due_at: datetime | None = None


def only_rule(catalog: Catalog, name: str) -> Catalog:
    """``catalog`` whose only rule is ``name``, covering any place and time: a callback
    asked for under a named rule is not matched against the others. Disabled stays
    disabled; an unknown name leaves no rule (the call is skipped as no_rule)."""
    chosen = [r for r in catalog.rules if r.name == name]
    rules = tuple(r.evolve(place=LossPlace.ANY, place_value=None, applies_schedule=None, min_wait_s=0, position=0)
                  for r in chosen)
    return replace(catalog, rules=rules)


class Intake:
    def __init__(
        self,
        queue: TaskQueue,
        catalog: Callable[[], Catalog],
        *,
        clock: Clock | None = None,
        observer: IntakeObserver | None = None,
        numbers: NumberPlan = NO_REGION,
    ) -> None:
        self.queue = queue
        self.numbers = numbers
        self.catalog = catalog
        self.clock = clock or SystemClock()
        self.observer: IntakeObserver = observer or NullObserver()

    def lost_call(self, call: LostCall, *, recorded: bool = False, rule: str | None = None,
                  not_before: datetime | None = None) -> IntakeResult:
        """Take one lost call in, in ONE transaction: stored and decided (task created or
        joined, or the skip recorded), or — on a database failure, StoreError — nothing
        at all, and the caller retries it as new. Observers hear of it after the commit.
        ``recorded``: already stored by an earlier, interrupted intake; decide it now
        instead of skipping it as a duplicate. ``rule`` and ``not_before`` come from a
        requested callback: call back under that rule (every other check still holds)
        and not before that instant."""
        now = self.clock.now()
        call, number_problem = _identified(self.numbers, _storable(call))  # type: ignore[arg-type]
        obs = _Deferred()
        # Read before the transaction: the catalog comes through another connection,
        # which would wait for this transaction's lock on SQLite.
        catalog = self.catalog()
        if rule is not None:
            catalog = only_rule(catalog, rule)
        elif not recorded and not_before is None and number_problem is None and self.queue.is_postgresql:
            taken = self._take_in_at_once(call, now, catalog)
            if taken is not None:
                return taken
        with self.queue.transaction():
            facts = None
            if not recorded:
                won, facts = self.queue.record_lost_call_and_facts(call, now=now)
                if not won:
                    return IntakeResult(call_uuid=call.call_uuid, skip=SkipReason.DUPLICATE)
                obs.lost_call(call)
            result = self._decide(call, now, obs, catalog, not_before, number_problem, facts)
        obs.replay(self.observer)
        return result

    def _take_in_at_once(self, call: LostCall, now: datetime, catalog: Catalog) -> IntakeResult | None:
        """PostgreSQL, the usual case: decided as a new task (no open task, not reached
        since the loss) and taken in with one round trip (``take_in_new_task_pg``). When
        the store's facts say otherwise, the call is stored and decided again with them.
        None: not that case from the start; the caller takes the usual way."""
        decision = decide(catalog, call, IntakeFacts())
        if not isinstance(decision, Accept) or decision.join_task is not None or decision.rule is None:
            return None
        rule = decision.rule
        try:
            due = first_due(rule, catalog, call.lost_at)
            taken = self.queue.take_in_new_task_pg(call, rule_name=rule.name, due_at=due, now=now)
        except (ScheduleNeverOpensError, InvalidNumberError):
            return None  # the usual way records the skip with its reason
        if not taken.won:
            return IntakeResult(call_uuid=call.call_uuid, skip=SkipReason.DUPLICATE)
        self.observer.lost_call(call)  # stored and committed
        if taken.task_id is not None:
            log.info("call %s from %s lost at %s (%s, waited %.1fs): task %s under rule %r, first attempt %s",
                     call.call_uuid, call.customer_number, call.lost_at.isoformat(), call.place.value,
                     call.waited_s, taken.task_id, rule.name, due.isoformat())
            self.observer.task_created(call, taken.task_id, rule.name, due)
            return IntakeResult(call_uuid=call.call_uuid, task_id=taken.task_id, created=True, due_at=due)
        obs = _Deferred()
        try:
            with self.queue.transaction():
                result = self._decide(call, now, obs, catalog, facts=taken.facts)
        except StoreError as exc:  # stored, not decided: the caller retries as recorded
            raise IntakeInterruptedError(call.call_uuid, exc) from exc
        obs.replay(self.observer)
        return result

    def _decide(self, call: LostCall, now: datetime, obs: IntakeObserver, catalog: Catalog,
                not_before: datetime | None = None, number_problem: NumberProblem | None = None,
                facts: tuple[int | None, str | None, bool] | None = None) -> IntakeResult:
        """``facts``: intake_facts as read with the lost call's insert, if it was."""
        if number_problem is not None:  # no customer: nothing to look up
            return self._skip_decided(call, decide(catalog, call, IntakeFacts(number_problem=number_problem)), obs)
        open_id, open_rule, reached = facts or self.queue.intake_facts(call.customer_number, call.lost_at)
        facts = IntakeFacts(open_task=open_id, open_task_rule=open_rule, reached_since_loss=reached)
        decision = decide(catalog, call, facts)
        if isinstance(decision, Skip):
            return self._skip(call, decision.reason, decision.detail, obs)
        assert isinstance(decision, Accept)
        if decision.join_task is not None:
            task_id = self.queue.join_task(call.customer_number, call.call_uuid)
            if task_id is not None:
                rule = decision.rule.name if decision.rule else (open_rule or "")
                log.info("call %s from %s joined task %s (D1)", call.call_uuid, call.customer_number, task_id)
                obs.task_joined(call, task_id, rule)
                return IntakeResult(call_uuid=call.call_uuid, task_id=task_id)
            # The open task ended in between: decide again as a fresh call.
            decision = decide(catalog, call, IntakeFacts())
            if isinstance(decision, Skip):
                return self._skip(call, decision.reason, decision.detail, obs)
        rule = decision.rule
        assert rule is not None
        try:
            due = first_due(rule, catalog, call.lost_at)
            if not_before is not None and due < not_before:
                due = first_due(rule.evolve(intervals=(0,)), catalog, not_before)
        except ScheduleNeverOpensError as exc:
            return self._skip(call, SkipReason.NO_RULE, str(exc), obs)
        try:
            task_id, created = self.queue.create_or_join_task(
                customer_number=call.customer_number, rule_name=rule.name, due_at=due,
                lost_call_uuid=call.call_uuid, now=now,
            )
        except InvalidNumberError as exc:  # D5; a database failure is not a skip
            log.warning("call %s: task not created: %s", call.call_uuid, exc)
            return self._skip(call, SkipReason.INVALID_NUMBER, str(exc), obs)
        if created:
            log.info("call %s from %s lost at %s (%s, waited %.1fs): task %s under rule %r, first attempt %s",
                     call.call_uuid, call.customer_number, call.lost_at.isoformat(), call.place.value,
                     call.waited_s, task_id, rule.name, due.isoformat())
            obs.task_created(call, task_id, rule.name, due)
        else:
            obs.task_joined(call, task_id, rule.name)
        return IntakeResult(call_uuid=call.call_uuid, task_id=task_id, created=created, due_at=due)

    def _skip_decided(self, call: LostCall, decision: Accept | Skip, obs: IntakeObserver) -> IntakeResult:
        assert isinstance(decision, Skip)
        return self._skip(call, decision.reason, decision.detail, obs)

    def _skip(self, call: LostCall, reason: SkipReason, detail: str, obs: IntakeObserver) -> IntakeResult:
        self.queue.mark_lost_call_skipped(call.call_uuid, reason)
        log.info("call %s from %s skipped: %s %s", call.call_uuid, call.customer_number, reason.value, detail)
        obs.skipped(call, reason, detail)
        return IntakeResult(call_uuid=call.call_uuid, skip=reason, detail=detail)

    def contact(self, contact: Contact) -> list[int]:
        contact = _storable(contact)  # type: ignore[assignment]
        number = self.numbers.normalize_or_keep(contact.customer_number)
        if number != contact.customer_number:
            contact = replace(contact, customer_number=number)
        new, cancelled = self.queue.record_contact(contact)
        if new and cancelled:
            log.info("call %s: customer %s reached (%s); cancelled tasks %s (R17)",
                     contact.call_uuid, contact.customer_number, contact.kind.value, cancelled)
            self.observer.tasks_cancelled(contact, cancelled)
        return cancelled


__all__ = ["Intake", "IntakeInterruptedError", "IntakeObserver", "IntakeResult", "NullObserver", "TaskEndReason"]
