"""One callback attempt on one switch: employee first, hint, then customer, bridge (R1).

Rules:
- The outcome comes from the switch's answers and events (BACKGROUND_JOB results,
  CHANNEL_* events of our own legs), never from guessing or from the worker's clock:
  talk time is measured between switch timestamps. What a failed customer leg's cause
  means is fsworker.core.attempt's table; this module only acts on it.
- An attempt runs as phases (employees, hint, customer, bridge and talk); each ends the
  attempt with its result or lets the next start. Every command goes through
  fsworker.esl.proto.commands; every leg's variables come from ``originate_variables``.
- Every leg we originate carries ``fsw_task_id`` / ``fsw_attempt`` so the detector
  never mistakes it for a customer's call and a restarted worker can find it.
- Nothing untrusted reaches a command unvalidated: numbers pass ``validate_number``,
  endpoints ``validate_endpoint`` (inside the command builders), the hint is a
  sanitized ``speak`` argument sent as a sendmsg body.
- The customer is dialled only after the hint finished and only if the customer was
  not reached otherwise meanwhile (R17): ``cancelled()`` is asked right before; it
  answers None to go on, or the outcome to stop with (contact made, task cancelled).
- Whatever happens, no leg of ours is left up when ``run`` returns, with one
  exception: a bridged call interrupted by shutdown (``LeaveBridgedUp``) keeps talking,
  and the next worker adopts it (recovery.py). Legs whose originate result was lost
  with the link are hung up by their ``fsw_attempt_id`` tag once the link is back.
- A link that drops with ``uuid_bridge`` in flight does not end the attempt: the
  customer may have answered. Once the link is back both legs are looked at on the
  switch (``uuid_dump``): bridged already, the call is followed; both up, they are
  bridged again; a leg gone, the attempt ends as before.
- ``adopt`` follows a bridged call a lost worker left up: it dials nothing.
"""

from __future__ import annotations

import logging
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent

from fsworker.core.attempt import SWITCH_GOING_AWAY_CAUSES, customer_failure_outcome, originate_failure_cause
from fsworker.core.errors import FsworkerError, ValidationError
from fsworker.core.numbers import validate_number
from fsworker.core.outcomes import AttemptOutcome
from fsworker.core.prompts import PromptAction
from fsworker.core.recovery import AfterCut, FoundLeg, after_cut, parse_dump
from fsworker.core.strategies import DialPlan, DialStep
from fsworker.esl.connection import ESLConnection
from fsworker.esl.proto import commands
from fsworker.esl.proto.errors import ConnectionLostError, ESLError, NotConnectedError
from fsworker.service.legs import LOST_WITH_LINK, AttemptLegs, LegState, LegWatcher

log = logging.getLogger(__name__)

@dataclass(frozen=True, kw_only=True, slots=True)
class FlowSettings:
    min_talk_s: float = 5.0  #: bridged talk shorter than this is not a success (voicemail)
    customer_ring_timeout_s: int = 40
    employee_caller_id_name: str = "Автоперезвон"
    hint_timeout_s: float = 120.0  #: longest a hint may play
    max_call_s: float = 4 * 3600.0  #: a bridged call longer than this is cut
    command_timeout_s: float = 10.0
    job_grace_s: float = 15.0  #: wait for BACKGROUND_JOB this long past the ring timeout
    max_cleanup_wait_s: float = 300.0  #: how long legs wait for a dropped link to hang them up
    relink_wait_s: float = 30.0  #: how long a bridge cut with the link waits for it to come back
    #: after an employee originate failed as a switch shutting down fails it, how long the
    #: link is watched for the drop that proves it (the real switch: about 1.8 s)
    going_away_wait_s: float = 5.0


class LeaveBridgedUp(gevent.GreenletExit):
    """Raised into an attempt at shutdown: a bridged call is left talking for the next
    worker to adopt; every other leg is hung up."""


#: ``cancelled(phase)`` is asked before each employee step and before the customer.
PHASE_EMPLOYEE = "employee"
PHASE_CUSTOMER = "customer"


@dataclass(frozen=True, kw_only=True, slots=True)
class AttemptRequest:
    task_id: int
    attempt: int
    attempt_id: int | None = None  #: the store's attempt row: tags every leg (fsw_attempt_id)
    customer_number: str
    customer_endpoint: str  #: dial string of the customer, built from a validated number
    customer_caller_id: str  #: what the customer sees: the number they dialled (D2)
    #: what the employee sees: the customer's number as dial_number_format writes it
    #: (default: customer_number as stored)
    employee_caller_id: str = ""
    plan: DialPlan
    prompt: PromptAction


@dataclass(frozen=True, kw_only=True, slots=True)
class AttemptResult:
    outcome: AttemptOutcome
    detail: str = ""
    employee_endpoint: str | None = None
    employee_uuid: str | None = None
    customer_uuid: str | None = None
    talk_s: float = 0.0
    rung: tuple[tuple[str, ...], ...] = ()  #: endpoints per step actually rung
    causes: tuple[str, ...] = field(default_factory=tuple)
    #: the switch stopped answering mid-attempt: a leg of it may still be up unseen
    legs_uncertain: bool = False
    #: the switch went away before anyone answered: not the customer's try, so the
    #: dispatcher gives the task back uncounted instead of recording this result
    released: bool = False


@dataclass(slots=True)
class _Attempt:
    """One attempt in flight: what its phases share, and what every result carries."""

    req: AttemptRequest
    legs: AttemptLegs
    ours: list[str]  #: legs we originated, in order: hung up when the attempt ends
    cancelled: Callable[[str], AttemptOutcome | None]
    bridged: Callable[[], None]
    tag: str
    rung: list[tuple[str, ...]] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    emp: LegState | None = None
    employee_endpoint: str | None = None  #: as seen when the employee answered
    cust: LegState | None = None

    @property
    def employee(self) -> LegState:
        assert self.emp is not None, "phases after the employee's run only once one answered"
        return self.emp

    @property
    def customer(self) -> LegState:
        assert self.cust is not None, "phases after the customer's run only once it was dialled"
        return self.cust

    def result(self, outcome: AttemptOutcome, detail: str = "", **extra: Any) -> AttemptResult:
        return AttemptResult(
            outcome=outcome, detail=detail, rung=tuple(self.rung), causes=tuple(self.causes),
            employee_uuid=self.emp.uuid if self.emp else None, employee_endpoint=self.employee_endpoint,
            customer_uuid=self.cust.uuid if self.cust else None, **extra,
        )


def originate_variables(
    req: AttemptRequest, *, role: str, caller_id_number: str, caller_id_name: str, ring_timeout_s: int,
    uuid: str | None = None,
) -> list[tuple[str, str]]:
    """The channel variables of every leg an attempt originates: its tags (the detector
    and recovery read them), what the called party sees, and how long it rings."""
    return [
        *([("origination_uuid", uuid)] if uuid is not None else []),
        ("fsw_task_id", str(req.task_id)),
        ("fsw_attempt", str(req.attempt)),
        ("fsw_role", role),
        *([("fsw_attempt_id", str(req.attempt_id))] if req.attempt_id is not None else []),
        ("origination_caller_id_number", caller_id_number),
        ("origination_caller_id_name", caller_id_name),
        ("originate_timeout", str(ring_timeout_s)),
        ("ignore_early_media", "true"),
    ]


#: the cause given to an adopted leg that had ended before it could be followed
LEG_ENDED_UNSEEN = "ENDED_BEFORE_ADOPTION"


class CallFlow:
    """Runs attempts over one ESL connection (one switch)."""

    def __init__(
        self,
        conn: ESLConnection,
        watcher: LegWatcher,
        settings: FlowSettings | None = None,
        *,
        node: str = "default",
    ) -> None:
        self.conn = conn
        self.watcher = watcher
        self.settings = settings or FlowSettings()
        self.node = node

    # -- the attempt ---------------------------------------------------------------
    def run(self, req: AttemptRequest,
            cancelled: Callable[[str], AttemptOutcome | None] = lambda phase: None,
            bridged: Callable[[], None] = lambda: None) -> AttemptResult:
        """``cancelled(phase)`` is asked before each employee step and before the
        customer; ``bridged()`` is called once the customer is bridged (to record it)."""
        legs = AttemptLegs(req.task_id, req.attempt)
        self.watcher.register(legs)
        ours: list[str] = []
        tag = f"task {req.task_id} attempt {req.attempt}"
        clean = False
        keep_bridged = False
        try:
            try:
                validate_number(req.customer_number, "customer_number")
                validate_number(req.customer_caller_id, "customer_caller_id")
                if req.employee_caller_id:
                    validate_number(req.employee_caller_id, "employee_caller_id")
            except ValidationError as exc:
                log.warning("%s: not dialling: %s", tag, exc)
                clean = True
                return AttemptResult(outcome=AttemptOutcome.INVALID_NUMBER, detail=str(exc))
            result = self._run(req, legs, ours, cancelled, bridged, tag)
            # A released attempt is not swept by its attempt id once the link is back:
            # its store row is deleted and the id may come back with the task's next
            # claim (SQLite), whose legs that late sweep would hang up. Its switch was
            # going away, taking every call with it; the next claim's leg recovery looks
            # for leftovers by task id all the same.
            clean = result.outcome is not AttemptOutcome.SWITCH_ERROR or result.released
            return result
        except ESLError as exc:
            log.warning("%s: switch error on node %s: %s", tag, self.node, exc)
            return AttemptResult(outcome=AttemptOutcome.SWITCH_ERROR, detail=f"{type(exc).__name__}: {exc}",
                                 legs_uncertain=True)
        except LeaveBridgedUp:
            # From the moment uuid_bridge is sent the call may be bridged (our view of the
            # switch's events lags): leave it to the next worker, which sees the switch's
            # view and adopts it. Before that, nobody is talking: hang up.
            keep_bridged = legs.bridge_requested and len(ours) > 1 and not legs.leg(ours[-1]).hangup_us
            if keep_bridged:
                log.info("%s: shutting down with the customer bridged (%s); left talking for the next worker",
                         tag, ", ".join(ours))
            raise
        finally:
            if not keep_bridged:
                self._cleanup(legs, ours, tag, req.attempt_id, sweep=not clean)
            self.watcher.unregister(legs)

    def adopt(self, req: AttemptRequest, employee: FoundLeg, customer: FoundLeg,
              bridged: Callable[[], None] = lambda: None) -> AttemptResult:
        """Follow a bridged call that a lost worker left up until it ends; dial nothing."""
        legs = AttemptLegs(req.task_id, req.attempt)
        self.watcher.register(legs)
        self.watcher.add_uuid(legs, employee.uuid)
        self.watcher.add_uuid(legs, customer.uuid)
        ours = [employee.uuid, customer.uuid]
        tag = f"task {req.task_id} attempt {req.attempt}"
        emp, cust = legs.leg(employee.uuid), legs.leg(customer.uuid)
        for st, found in ((emp, employee), (cust, customer)):
            st.endpoint = st.endpoint or found.endpoint
            st.created_us = st.created_us or found.answered_us or 1
            st.answered_us = st.answered_us or found.answered_us
            st.bridged_us = st.bridged_us or found.bridged_us
        base = {"employee_uuid": employee.uuid, "employee_endpoint": employee.endpoint or None,
                "customer_uuid": customer.uuid}
        try:
            # Events from before we registered are lost: a leg that ended meanwhile
            # is known only by its absence now (its talk lasted at least until the dump).
            for st, found in ((emp, employee), (cust, customer)):
                if not st.hangup_us and self.conn.api("uuid_exists", commands.uuid_exists_arg(found.uuid),
                                                      timeout=self.settings.command_timeout_s).strip() != "true":
                    st.hangup_us = max(found.dumped_us, found.bridged_us) or 1
                    st.cause = LEG_ENDED_UNSEEN
            log.info("%s: adopted the call of employee %s (%s) and customer %s %s, bridged since %s",
                     tag, employee.uuid, employee.endpoint, customer.uuid, req.customer_number, customer.bridged_us)
            if LEG_ENDED_UNSEEN in (emp.cause, cust.cause) and not (employee.dumped_us and customer.dumped_us):
                # Bridged, and over before we could look: without the dump's time its talk
                # is unknown, and the customer was reached (as for any bridge that ended
                # unwatched); never a short call to be rung again.
                log.info("%s: the adopted call ended before it could be followed -> success (talk time unknown)", tag)
                return AttemptResult(outcome=AttemptOutcome.SUCCESS,
                                     detail="adopted; the call ended before it could be followed (talk time unknown)",
                                     **base)
            bridged()
            legs.wait(lambda: emp.hangup_us > 0 or cust.hangup_us > 0, self.settings.max_call_s)
            talk_s = self._talk_seconds(emp, cust)
            outcome = AttemptOutcome.SUCCESS if talk_s >= self.settings.min_talk_s else AttemptOutcome.CUSTOMER_SHORT_CALL
            log.info("%s: adopted call of employee %s and customer %s ended after %.1fs of talk -> %s",
                     tag, employee.uuid, customer.uuid, talk_s, outcome.value)
            return AttemptResult(outcome=outcome, detail=f"adopted; talk {talk_s:.1f}s", talk_s=talk_s, **base)
        except ESLError as exc:
            log.warning("%s: switch error while following the adopted call: %s", tag, exc)
            return AttemptResult(outcome=AttemptOutcome.SWITCH_ERROR, detail=f"adopted; {type(exc).__name__}: {exc}",
                                 legs_uncertain=True,
                                 **base)
        finally:
            self._cleanup(legs, ours, tag, None, sweep=False)
            self.watcher.unregister(legs)

    def hang_up(self, uuids: list[str], cause: str, tag: str, *, wait_s: float = 5.0) -> bool:
        """Hang up a lost attempt's legs and wait (up to ``wait_s``) until the switch has
        them gone: the next attempt must not ring anyone while a leg of an earlier one
        is still up, even for the moment its hangup takes. False when the switch did not
        confirm that (a leg still up, or no answer): then nothing new may be dialled."""
        for uuid in uuids:
            self._kill(uuid, cause, tag)
        deadline = time.monotonic() + wait_s
        up = list(uuids)
        while up:
            try:
                up = [u for u in up if self.conn.api("uuid_exists", commands.uuid_exists_arg(u),
                                                     timeout=self.settings.command_timeout_s).strip() == "true"]
            except ESLError as exc:
                log.warning("%s: cannot tell whether legs %s are gone: %s", tag, ", ".join(up), exc)
                return False
            if not up:
                return True
            if time.monotonic() >= deadline:
                log.warning("%s: legs %s still up %.0fs after hanging up", tag, ", ".join(up), wait_s)
                return False
            gevent.sleep(0.05)
        return True

    def _run(
        self,
        req: AttemptRequest,
        legs: AttemptLegs,
        ours: list[str],
        cancelled: Callable[[str], AttemptOutcome | None],
        bridged: Callable[[], None],
        tag: str,
    ) -> AttemptResult:
        at = _Attempt(req=req, legs=legs, ours=ours, cancelled=cancelled, bridged=bridged, tag=tag)
        # Each phase either ends the attempt (its result) or lets the next one start.
        for phase in (self._ring_employees, self._play_hint, self._dial_customer):
            if (stop := phase(at)) is not None:
                return stop
        return self._bridge_and_talk(at)

    # -- phases --------------------------------------------------------------------
    def _ring_employees(self, at: _Attempt) -> AttemptResult | None:
        """Ring the plan's steps in turn until an employee answers (R1)."""
        steps = at.req.plan.steps
        for i, step in enumerate(steps, 1):
            if (stop := at.cancelled(PHASE_EMPLOYEE)) is not None:
                log.info("%s: %s for customer %s; not ringing employees", at.tag, stop.value, at.req.customer_number)
                return at.result(stop)
            log.info("%s: ringing employee step %d/%d %s: %s (%ss)", at.tag, i, len(steps),
                     step.label, ",".join(step.endpoints), step.ring_timeout_s)
            at.rung.append(step.endpoints)
            result = self._originate_employee(at.req, step, at.legs)
            cause = originate_failure_cause(result)
            if cause is None:
                answered = result.split()
                if len(answered) < 2:  # "+OK" naming no leg: nobody we could talk to
                    break
                self._employee_answered(at, answered[1])
                return None
            at.causes.append(cause)
            if cause in SWITCH_GOING_AWAY_CAUSES and self._switch_went_away(at.tag, cause):
                return at.result(AttemptOutcome.SWITCH_ERROR, f"the switch shut down ({cause}) before anyone answered",
                                 released=True)
            if cause == LOST_WITH_LINK:
                log.warning("%s: the employee legs of step %d vanished with the switch link", at.tag, i)
                return at.result(AttemptOutcome.SWITCH_ERROR, "employee legs lost with the switch link")
            log.info("%s: nobody answered step %d: %s", at.tag, i, cause)
        return at.result(AttemptOutcome.NO_EMPLOYEE_ANSWERED, ", ".join(at.causes))

    def _switch_went_away(self, tag: str, cause: str) -> bool:
        """An employee originate failed with ``cause``: did the link drop within
        ``going_away_wait_s``? Then the switch was shutting down (it refuses originates
        for a moment before it says so and closes), not the phone failing; otherwise the
        failure stands, only that much later."""
        loop = gevent.get_hub().loop
        deadline = loop.now() + self.settings.going_away_wait_s
        while self.conn.is_connected:
            if loop.now() >= deadline:
                log.info("%s: %s with the link to node %s still up: the phone's failure, not the switch's",
                         tag, cause, self.node)
                return False
            gevent.sleep(0.05)
        log.warning("%s: employee originate failed %s and the link to node %s dropped: the switch is going "
                    "away; the attempt is not counted", tag, cause, self.node)
        return True

    def _employee_answered(self, at: _Attempt, employee: str) -> None:
        at.ours.append(employee)
        self.watcher.add_uuid(at.legs, employee)
        emp = at.emp = at.legs.leg(employee)
        # The BACKGROUND_JOB is resolved by the connection's reader while the leg's own
        # earlier events (CHANNEL_CREATE, CHANNEL_ANSWER) still wait in the handler
        # backlog: let them land before reading the leg's state (its endpoint).
        at.legs.wait(lambda: emp.answered_us > 0 or emp.hangup_us > 0, self.settings.command_timeout_s)
        at.employee_endpoint = emp.endpoint or None
        log.info("%s: employee answered on %s (uuid %s); playing hint", at.tag, at.employee_endpoint, employee)

    def _play_hint(self, at: _Attempt) -> AttemptResult | None:
        """The hint (R6): the customer is not dialled before it has finished."""
        s, emp = self.settings, at.employee
        app = at.req.prompt.application
        done_before = sum(1 for c in emp.completed if c[0] == app)
        emp.awaiting = app
        self.conn.sendmsg(emp.uuid, app, at.req.prompt.argument, event_lock=True, timeout=s.command_timeout_s)
        finished = at.legs.wait(
            lambda: emp.hangup_us > 0 or sum(1 for c in emp.completed if c[0] == app) > done_before,
            s.hint_timeout_s,
        )
        if emp.cause == LOST_WITH_LINK:
            return self._lost_with_link(at, emp)
        if emp.hangup_us:
            log.info("%s: employee %s hung up during the hint (%s)", at.tag, emp.uuid, emp.cause)
            return at.result(AttemptOutcome.EMPLOYEE_HUNG_UP_DURING_HINT, emp.cause)
        if not finished:
            log.warning("%s: hint to employee %s did not finish within %ss", at.tag, emp.uuid, s.hint_timeout_s)
            return at.result(AttemptOutcome.SWITCH_ERROR, "hint did not finish")
        return None

    def _dial_customer(self, at: _Attempt) -> AttemptResult | None:
        """Ring the customer (R17: unless reached otherwise meanwhile) until they answer."""
        req, emp = at.req, at.employee
        if (stop := at.cancelled(PHASE_CUSTOMER)) is not None:
            log.info("%s: %s for customer %s during the hint to employee %s; not dialling",
                     at.tag, stop.value, req.customer_number, emp.uuid)
            return at.result(stop)
        customer = str(uuidlib.uuid4())
        self.watcher.add_uuid(at.legs, customer)
        at.ours.append(customer)
        at.cust = at.legs.leg(customer)
        log.info("%s: dialling customer %s from %s (uuid %s)", at.tag, req.customer_number, req.customer_caller_id,
                 customer)
        # Customer leg: caller ID = the number the customer dialled (D2).
        variables = originate_variables(
            req, role="customer", uuid=customer, caller_id_number=req.customer_caller_id,
            caller_id_name=req.customer_caller_id, ring_timeout_s=self.settings.customer_ring_timeout_s,
        )
        arg = commands.originate_arg(req.customer_endpoint, variables=variables, target=commands.Park())
        # A job the switch accepted completes even if our link drops meanwhile; its
        # result reaches the next link (and a restarted switch's lost legs end it).
        job = self.conn.bgapi_start("originate", arg, timeout=self.settings.command_timeout_s, survive_reconnect=True)
        result = self._await_customer(at, job)
        if isinstance(result, AttemptResult):
            return result
        cause = originate_failure_cause(result)
        if cause is None:
            return None
        outcome = customer_failure_outcome(cause)
        log.info("%s: customer leg %s failed: %s -> %s", at.tag, customer, cause, outcome.value)
        return at.result(outcome, cause)

    def _await_customer(self, at: _Attempt, job) -> str | AttemptResult:  # noqa: ANN001 - BackgroundJob
        """The customer originate's result, or the attempt's end if the employee or the
        switch went away while the customer rang."""
        s, emp, cust = self.settings, at.employee, at.customer
        deadline = s.customer_ring_timeout_s + s.job_grace_s
        waited = 0.0
        while True:
            try:
                return job.result.get(timeout=0.25)
            except gevent.Timeout:
                waited += 0.25
            if emp.cause == LOST_WITH_LINK or cust.cause == LOST_WITH_LINK:
                self._kill(cust.uuid, "ORIGINATOR_CANCEL", at.tag)
                return self._lost_with_link(at, emp if emp.cause == LOST_WITH_LINK else cust)
            if emp.hangup_us:
                log.info("%s: employee %s hung up while the customer rang; cancelling customer leg %s",
                         at.tag, emp.uuid, cust.uuid)
                self._kill(cust.uuid, "ORIGINATOR_CANCEL", at.tag)
                return at.result(AttemptOutcome.EMPLOYEE_HUNG_UP_DURING_HINT,
                                 "employee hung up before the customer answered")
            if waited > deadline:
                log.warning("%s: no result for the customer leg %s within %.0fs", at.tag, cust.uuid, deadline)
                return at.result(AttemptOutcome.SWITCH_ERROR, "no BACKGROUND_JOB for customer originate",
                                 legs_uncertain=True)

    def _bridge_and_talk(self, at: _Attempt) -> AttemptResult:
        """Bridge the employee with the customer and follow the call to its end."""
        s, emp, cust = self.settings, at.employee, at.customer
        if emp.hangup_us:
            log.info("%s: employee %s hung up before the bridge with customer %s", at.tag, emp.uuid, cust.uuid)
            return at.result(AttemptOutcome.EMPLOYEE_HUNG_UP_DURING_HINT, "employee hung up before the bridge")
        at.legs.bridge_requested = True
        reply = self._bridge(emp.uuid, cust.uuid, at.legs, at.tag)
        if not reply.startswith("+OK"):
            log.warning("%s: uuid_bridge %s %s failed: %s", at.tag, emp.uuid, cust.uuid, reply)
            return at.result(AttemptOutcome.SWITCH_ERROR, f"uuid_bridge: {reply}")
        log.info("%s: bridged employee %s with customer %s", at.tag, emp.uuid, cust.uuid)
        at.bridged()
        at.legs.wait(lambda: emp.hangup_us > 0 or cust.hangup_us > 0, s.max_call_s)
        talk_s = self._talk_seconds(emp, cust)
        outcome = AttemptOutcome.SUCCESS if talk_s >= s.min_talk_s else AttemptOutcome.CUSTOMER_SHORT_CALL
        if outcome is AttemptOutcome.CUSTOMER_SHORT_CALL and LOST_WITH_LINK in (emp.cause, cust.cause):
            # Cut by the switch going away, not by the customer: not a voicemail.
            return self._lost_with_link(at, emp if emp.cause == LOST_WITH_LINK else cust, talk_s=talk_s)
        log.info("%s: call of employee %s and customer %s ended after %.1fs of talk -> %s",
                 at.tag, emp.uuid, cust.uuid, talk_s, outcome.value)
        return at.result(outcome, f"talk {talk_s:.1f}s", talk_s=talk_s)

    # -- pieces --------------------------------------------------------------------
    def _bridge(self, employee: str, customer: str, legs: AttemptLegs, tag: str) -> str:
        """``uuid_bridge``'s reply; when the link drops with it in flight, the reply
        that the legs (re-checked on the new link) call for."""
        s = self.settings
        try:
            return self.conn.api("uuid_bridge", commands.uuid_bridge_arg(employee, customer),
                                 timeout=s.command_timeout_s).strip()
        except (ConnectionLostError, NotConnectedError) as exc:
            log.warning("%s: link lost with uuid_bridge %s %s in flight (%s); re-checking both legs once it is back",
                        tag, employee, customer, exc)
        if not self.conn.wait_connected(s.relink_wait_s):
            raise ConnectionLostError(f"uuid_bridge {employee} {customer}: link not back within {s.relink_wait_s}s")
        found = [parse_dump(self.conn.api("uuid_dump", commands.uuid_dump_arg(uuid), timeout=s.command_timeout_s))
                 for uuid in (employee, customer)]
        action = after_cut(employee, customer, *found)
        if action is AfterCut.GONE:
            gone = [uuid for uuid, leg in zip((employee, customer), found, strict=True) if leg is None]
            log.warning("%s: after the reconnect leg %s is gone; not bridging", tag, ", ".join(gone))
            return f"-ERR leg {', '.join(gone)} hung up while the link was down"
        if action is AfterCut.BRIDGED:
            log.info("%s: the switch bridged employee %s with customer %s before the link dropped; following the call",
                     tag, employee, customer)
            for uuid, leg in zip((employee, customer), found, strict=True):
                st = legs.leg(uuid)
                st.answered_us = st.answered_us or leg.answered_us  # type: ignore[union-attr]
                st.bridged_us = st.bridged_us or leg.bridged_us  # type: ignore[union-attr]
            return "+OK"
        log.info("%s: employee %s and customer %s still up after the reconnect; bridging them again",
                 tag, employee, customer)
        return self.conn.api("uuid_bridge", commands.uuid_bridge_arg(employee, customer),
                             timeout=s.command_timeout_s).strip()

    def _forget_job(self, job) -> None:  # noqa: ANN001 - BackgroundJob
        try:
            job.get(0.001)  # its finally un-registers the job
        except ESLError:
            pass

    @staticmethod
    def _lost_with_link(at: _Attempt, leg: LegState, **extra: Any) -> AttemptResult:
        log.warning("%s: leg %s vanished with the switch link; the attempt ends as a switch error", at.tag, leg.uuid)
        return at.result(AttemptOutcome.SWITCH_ERROR, f"leg {leg.uuid} lost with the switch link", **extra)

    def _originate_employee(self, req: AttemptRequest, step: DialStep, legs: AttemptLegs) -> str:
        s = self.settings
        # D2: the employee sees the customer's number, and a name saying why.
        variables = originate_variables(
            req, role="employee", caller_id_number=req.employee_caller_id or req.customer_number, caller_id_name=s.employee_caller_id_name,
            ring_timeout_s=step.ring_timeout_s,
        )
        arg = commands.originate_arg(list(step.endpoints), variables=variables, target=commands.Park())
        before = set(legs.legs)
        job = self.conn.bgapi_start("originate", arg, timeout=s.command_timeout_s, survive_reconnect=True)
        deadline = gevent.get_hub().loop.now() + step.ring_timeout_s + s.job_grace_s
        while True:
            left = deadline - gevent.get_hub().loop.now()
            if left <= 0:
                return job.get(0.001).strip()  # raises CommandTimeoutError, forgets the job
            try:
                return job.result.get(timeout=min(0.5, left)).strip()
            except gevent.Timeout:
                pass
            # The switch went away with the legs it was ringing (seen after the reconnect):
            # the job's result will never come.
            ringing = [st for u, st in legs.legs.items() if u not in before]
            if ringing and all(st.cause == LOST_WITH_LINK for st in ringing):
                self._forget_job(job)
                return f"-ERR {LOST_WITH_LINK}"

    @staticmethod
    def _talk_seconds(emp: LegState, cust: LegState) -> float:
        start = cust.bridged_us or emp.bridged_us or cust.answered_us
        ends = [t for t in (emp.hangup_us, cust.hangup_us) if t]
        if not start or not ends:
            return 0.0
        return max(0.0, (min(ends) - start) / 1e6)

    def _kill(self, uuid: str, cause: str, tag: str) -> None:
        try:
            self.conn.api("uuid_kill", commands.uuid_kill_arg(uuid, cause), timeout=self.settings.command_timeout_s)
        except (ESLError, FsworkerError) as exc:
            log.debug("%s: uuid_kill %s: %s", tag, uuid, exc)

    def _cleanup(self, legs: AttemptLegs, ours: list[str], tag: str, attempt_id: int | None, *, sweep: bool) -> None:
        """Hang up what is still ours. ``sweep``: the attempt ended on an error, so a
        leg whose originate result never came back may be up too: hang up every leg
        tagged with this attempt's id (now, or once the link is back)."""
        up = [u for u in ours if not ((st := legs.legs.get(u)) is not None and st.hangup_us)]
        sweep_id = attempt_id if sweep else None
        if not up and sweep_id is None:
            return
        if self.conn.is_connected:
            self._hang_up_now(up, sweep_id, tag)
        else:
            gevent.spawn(self._hang_up_when_back, up, sweep_id, tag)

    def _hang_up_now(self, uuids: list[str], attempt_id: int | None, tag: str) -> None:
        for uuid in uuids:
            self._kill(uuid, "NORMAL_CLEARING", tag)
        if attempt_id is not None:
            try:
                self.conn.api("hupall", commands.hupall_arg("NORMAL_CLEARING", "fsw_attempt_id", str(attempt_id)),
                              timeout=self.settings.command_timeout_s)
            except (ESLError, FsworkerError) as exc:
                log.warning("%s: hupall of attempt id %s failed: %s", tag, attempt_id, exc)

    def _hang_up_when_back(self, uuids: list[str], attempt_id: int | None, tag: str) -> None:
        """The link dropped mid-attempt: once it is back (same switch, calls still up),
        hang up what the attempt left; after a restart they are gone anyway."""
        deadline = gevent.get_hub().loop.now() + self.settings.max_cleanup_wait_s
        while not self.conn.is_connected:
            if gevent.get_hub().loop.now() > deadline:
                log.warning("%s: link still down after %.0fs; legs %s left to the switch's timers "
                            "(the task looks for them before its next attempt)", tag,
                            self.settings.max_cleanup_wait_s, ", ".join(uuids) or "-")
                return
            gevent.sleep(0.5)
        log.info("%s: link back; hanging up what the interrupted attempt left", tag)
        self._hang_up_now(uuids, attempt_id, tag)
