"""One callback attempt on one switch: employee first, hint, then customer, bridge (R1).

Rules:
- The outcome comes from the switch's answers and events (BACKGROUND_JOB results,
  CHANNEL_* events of our own legs), never from guessing or from the worker's clock:
  talk time is measured between switch timestamps.
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
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field

import gevent

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

# Originate failure causes (BACKGROUND_JOB "-ERR <CAUSE>") of the customer leg.
_BUSY = frozenset({"USER_BUSY"})
_NO_ANSWER = frozenset({"NO_ANSWER", "ALLOTTED_TIMEOUT", "NO_USER_RESPONSE", "RECOVERY_ON_TIMER_EXPIRE", "PROGRESS_TIMEOUT"})
_REJECTED = frozenset(
    {"CALL_REJECTED", "UNALLOCATED_NUMBER", "INVALID_NUMBER_FORMAT", "NO_ROUTE_DESTINATION", "NUMBER_CHANGED", "USER_NOT_REGISTERED", "SUBSCRIBER_ABSENT"}
)


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
            clean = result.outcome is not AttemptOutcome.SWITCH_ERROR
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
                if not st.hangup_us and self.conn.api("uuid_exists", found.uuid,
                                                      timeout=self.settings.command_timeout_s).strip() != "true":
                    st.hangup_us = max(found.dumped_us, found.bridged_us) or 1
                    st.cause = "ENDED_BEFORE_ADOPTION"
            log.info("%s: adopted the call of employee %s (%s) and customer %s %s, bridged since %s",
                     tag, employee.uuid, employee.endpoint, customer.uuid, req.customer_number, customer.bridged_us)
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

    def hang_up(self, uuids: list[str], cause: str, tag: str) -> None:
        for uuid in uuids:
            self._kill(uuid, cause, tag)

    def _run(
        self,
        req: AttemptRequest,
        legs: AttemptLegs,
        ours: list[str],
        cancelled: Callable[[str], AttemptOutcome | None],
        bridged: Callable[[], None],
        tag: str,
    ) -> AttemptResult:
        s = self.settings
        rung: list[tuple[str, ...]] = []
        causes: list[str] = []
        employee: str | None = None
        for i, step in enumerate(req.plan.steps, 1):
            if (stop := cancelled(PHASE_EMPLOYEE)) is not None:
                log.info("%s: %s for customer %s; not ringing employees", tag, stop.value, req.customer_number)
                return AttemptResult(outcome=stop, rung=tuple(rung), causes=tuple(causes))
            log.info("%s: ringing employee step %d/%d %s: %s (%ss)", tag, i, len(req.plan.steps),
                     step.label, ",".join(step.endpoints), step.ring_timeout_s)
            rung.append(step.endpoints)
            result = self._originate_employee(req, step, legs)
            if result.startswith("+OK"):
                employee = result.split()[1] if len(result.split()) > 1 else None
                break
            cause = result.removeprefix("-ERR").strip() or "UNKNOWN"
            causes.append(cause)
            if cause == LOST_WITH_LINK:
                log.warning("%s: the employee legs of step %d vanished with the switch link", tag, i)
                return AttemptResult(outcome=AttemptOutcome.SWITCH_ERROR, detail="employee legs lost with the switch link",
                                     rung=tuple(rung), causes=tuple(causes))
            log.info("%s: nobody answered step %d: %s", tag, i, cause)
        if employee is None:
            return AttemptResult(
                outcome=AttemptOutcome.NO_EMPLOYEE_ANSWERED, detail=", ".join(causes),
                rung=tuple(rung), causes=tuple(causes),
            )
        ours.append(employee)
        self.watcher.add_uuid(legs, employee)
        emp = legs.leg(employee)
        # The BACKGROUND_JOB is resolved by the connection's reader while the leg's own
        # earlier events (CHANNEL_CREATE, CHANNEL_ANSWER) still wait in the handler
        # backlog: let them land before reading the leg's state (its endpoint).
        legs.wait(lambda: emp.answered_us > 0 or emp.hangup_us > 0, s.command_timeout_s)
        emp_endpoint = emp.endpoint or None
        log.info("%s: employee answered on %s (uuid %s); playing hint", tag, emp_endpoint, employee)
        base = {"rung": tuple(rung), "causes": tuple(causes), "employee_uuid": employee,
                "employee_endpoint": emp_endpoint}

        # Hint (R6): the customer is not dialled before it has finished.
        app = req.prompt.application
        done_before = sum(1 for c in emp.completed if c[0] == app)
        emp.awaiting = app
        self.conn.sendmsg(employee, app, req.prompt.argument, event_lock=True, timeout=s.command_timeout_s)
        finished = legs.wait(
            lambda: emp.hangup_us > 0 or sum(1 for c in emp.completed if c[0] == app) > done_before,
            s.hint_timeout_s,
        )
        if emp.cause == LOST_WITH_LINK:
            return self._lost_with_link(tag, emp, base)
        if emp.hangup_us:
            log.info("%s: employee %s hung up during the hint (%s)", tag, employee, emp.cause)
            return AttemptResult(outcome=AttemptOutcome.EMPLOYEE_HUNG_UP_DURING_HINT, detail=emp.cause, **base)
        if not finished:
            log.warning("%s: hint to employee %s did not finish within %ss", tag, employee, s.hint_timeout_s)
            return AttemptResult(outcome=AttemptOutcome.SWITCH_ERROR, detail="hint did not finish", **base)

        if (stop := cancelled(PHASE_CUSTOMER)) is not None:
            log.info("%s: %s for customer %s during the hint to employee %s; not dialling",
                     tag, stop.value, req.customer_number, employee)
            return AttemptResult(outcome=stop, **base)

        # Customer leg: caller ID = the number the customer dialled (D2).
        customer = str(uuidlib.uuid4())
        self.watcher.add_uuid(legs, customer)
        ours.append(customer)
        log.info("%s: dialling customer %s from %s (uuid %s)", tag, req.customer_number, req.customer_caller_id, customer)
        variables = [
            ("origination_uuid", customer),
            ("fsw_task_id", str(req.task_id)),
            ("fsw_attempt", str(req.attempt)),
            ("fsw_role", "customer"),
            *self._attempt_tag(req),
            ("origination_caller_id_number", req.customer_caller_id),
            ("origination_caller_id_name", req.customer_caller_id),
            ("originate_timeout", str(s.customer_ring_timeout_s)),
            ("ignore_early_media", "true"),
        ]
        arg = commands.originate_arg(req.customer_endpoint, variables=variables, target=commands.Park())
        # A job the switch accepted completes even if our link drops meanwhile; its
        # result reaches the next link (and a restarted switch's lost legs end it).
        job = self.conn.bgapi_start("originate", arg, timeout=s.command_timeout_s, survive_reconnect=True)
        cust = legs.leg(customer)
        deadline = s.customer_ring_timeout_s + s.job_grace_s
        result = None
        waited = 0.0
        while result is None:
            try:
                result = job.result.get(timeout=0.25)
            except gevent.Timeout:
                waited += 0.25
                if emp.cause == LOST_WITH_LINK or cust.cause == LOST_WITH_LINK:
                    self._kill(customer, "ORIGINATOR_CANCEL", tag)
                    return self._lost_with_link(tag, emp if emp.cause == LOST_WITH_LINK else cust,
                                                {**base, "customer_uuid": customer})
                if emp.hangup_us:
                    log.info("%s: employee %s hung up while the customer rang; cancelling customer leg %s",
                             tag, employee, customer)
                    self._kill(customer, "ORIGINATOR_CANCEL", tag)
                    return AttemptResult(outcome=AttemptOutcome.EMPLOYEE_HUNG_UP_DURING_HINT,
                                         detail="employee hung up before the customer answered", customer_uuid=customer, **base)
                if waited > deadline:
                    log.warning("%s: no result for the customer leg %s within %.0fs", tag, customer, deadline)
                    return AttemptResult(outcome=AttemptOutcome.SWITCH_ERROR, detail="no BACKGROUND_JOB for customer originate",
                                         legs_uncertain=True,
                                         customer_uuid=customer, **base)
        result = result.strip()
        if not result.startswith("+OK"):
            cause = result.removeprefix("-ERR").strip() or "UNKNOWN"
            outcome = (
                AttemptOutcome.CUSTOMER_BUSY if cause in _BUSY
                else AttemptOutcome.CUSTOMER_NO_ANSWER if cause in _NO_ANSWER
                else AttemptOutcome.CUSTOMER_REJECTED if cause in _REJECTED
                else AttemptOutcome.SWITCH_ERROR
            )
            log.info("%s: customer leg %s failed: %s -> %s", tag, customer, cause, outcome.value)
            return AttemptResult(outcome=outcome, detail=cause, customer_uuid=customer, **base)

        if emp.hangup_us:
            log.info("%s: employee %s hung up before the bridge with customer %s", tag, employee, customer)
            return AttemptResult(outcome=AttemptOutcome.EMPLOYEE_HUNG_UP_DURING_HINT,
                                 detail="employee hung up before the bridge", customer_uuid=customer, **base)
        legs.bridge_requested = True
        reply = self._bridge(employee, customer, legs, tag)
        if not reply.startswith("+OK"):
            log.warning("%s: uuid_bridge %s %s failed: %s", tag, employee, customer, reply)
            return AttemptResult(outcome=AttemptOutcome.SWITCH_ERROR, detail=f"uuid_bridge: {reply}",
                                 customer_uuid=customer, **base)
        log.info("%s: bridged employee %s with customer %s", tag, employee, customer)
        bridged()
        legs.wait(lambda: emp.hangup_us > 0 or cust.hangup_us > 0, s.max_call_s)
        talk_s = self._talk_seconds(emp, cust)
        outcome = AttemptOutcome.SUCCESS if talk_s >= s.min_talk_s else AttemptOutcome.CUSTOMER_SHORT_CALL
        if outcome is AttemptOutcome.CUSTOMER_SHORT_CALL and LOST_WITH_LINK in (emp.cause, cust.cause):
            # Cut by the switch going away, not by the customer: not a voicemail.
            return self._lost_with_link(tag, emp if emp.cause == LOST_WITH_LINK else cust,
                                        {**base, "customer_uuid": customer, "talk_s": talk_s})
        log.info("%s: call of employee %s and customer %s ended after %.1fs of talk -> %s",
                 tag, employee, customer, talk_s, outcome.value)
        return AttemptResult(outcome=outcome, detail=f"talk {talk_s:.1f}s", customer_uuid=customer, talk_s=talk_s, **base)

    # -- pieces --------------------------------------------------------------------
    def _bridge(self, employee: str, customer: str, legs: AttemptLegs, tag: str) -> str:
        """``uuid_bridge``'s reply; when the link drops with it in flight, the reply
        that the legs (re-checked on the new link) call for."""
        s = self.settings
        try:
            return self.conn.api("uuid_bridge", f"{employee} {customer}", timeout=s.command_timeout_s).strip()
        except (ConnectionLostError, NotConnectedError) as exc:
            log.warning("%s: link lost with uuid_bridge %s %s in flight (%s); re-checking both legs once it is back",
                        tag, employee, customer, exc)
        if not self.conn.wait_connected(s.relink_wait_s):
            raise ConnectionLostError(f"uuid_bridge {employee} {customer}: link not back within {s.relink_wait_s}s")
        found = [parse_dump(self.conn.api("uuid_dump", f"{uuid} json", timeout=s.command_timeout_s))
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
        return self.conn.api("uuid_bridge", f"{employee} {customer}", timeout=s.command_timeout_s).strip()

    def _forget_job(self, job) -> None:  # noqa: ANN001 - BackgroundJob
        try:
            job.get(0.001)  # its finally un-registers the job
        except ESLError:
            pass

    @staticmethod
    def _lost_with_link(tag: str, leg: LegState, base: dict) -> AttemptResult:  # type: ignore[type-arg]
        log.warning("%s: leg %s vanished with the switch link; the attempt ends as a switch error", tag, leg.uuid)
        return AttemptResult(outcome=AttemptOutcome.SWITCH_ERROR, detail=f"leg {leg.uuid} lost with the switch link",
                             **base)

    def _originate_employee(self, req: AttemptRequest, step: DialStep, legs: AttemptLegs) -> str:
        s = self.settings
        variables = [
            ("fsw_task_id", str(req.task_id)),
            ("fsw_attempt", str(req.attempt)),
            ("fsw_role", "employee"),
            *self._attempt_tag(req),
            # D2: the employee sees the customer's number, and a name saying why.
            ("origination_caller_id_number", req.employee_caller_id or req.customer_number),
            ("origination_caller_id_name", s.employee_caller_id_name),
            ("originate_timeout", str(step.ring_timeout_s)),
            ("ignore_early_media", "true"),
        ]
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
            self.conn.api("uuid_kill", f"{uuid} {cause}", timeout=self.settings.command_timeout_s)
        except (ESLError, FsworkerError) as exc:
            log.debug("%s: uuid_kill %s: %s", tag, uuid, exc)

    @staticmethod
    def _attempt_tag(req: AttemptRequest) -> list[tuple[str, str]]:
        return [("fsw_attempt_id", str(req.attempt_id))] if req.attempt_id is not None else []

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
                self.conn.api("hupall", f"NORMAL_CLEARING fsw_attempt_id {attempt_id}",
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
