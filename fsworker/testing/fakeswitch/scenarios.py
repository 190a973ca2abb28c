# Scripted situations for tests and the demo: customers calling DIDs, employees
# answering / transferring / calling customers. Rules: a scenario only builds channels
# and queues dialplan apps as the recording's dialplan (tests/data/esl-traces/README.md,
# fsw_pbx.xml) does; the PBX core and the clock do the rest. Numbers and endpoints
# given here are validated like any other input (validate_number, validate_endpoint).
"""The scenario API of FakePBX (mixed into it)."""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fsworker.core.errors import ValidationError
from fsworker.core.numbers import validate_endpoint, validate_number
from fsworker.testing.fakeswitch.apps import make_app
from fsworker.testing.fakeswitch.channels import CallerProfile, Channel
from fsworker.testing.fakeswitch.directory import Behaviour, LegRecord

if TYPE_CHECKING:
    from fsworker.testing.fakeswitch.pbx import FakePBX

CONTRACT_ORDER = ("fsw_number", "fsw_scenario", "fsw_site", "fsw_campaign")


def _ring_groups(ring: Sequence[Sequence[str] | str] | None) -> list[list[str]]:
    groups: list[list[str]] = []
    for g in ring or []:
        group = [g] if isinstance(g, str) else list(g)
        if not group:
            raise ValidationError("ring", ring, "each ring group needs an endpoint")
        for i, ep in enumerate(group):
            validate_endpoint(ep, f"ring[{len(groups)}][{i}]")
        groups.append(group)
    return groups


def _bridge_arg(group: list[str], leg_timeout: float | None) -> str:
    prefix = f"[leg_timeout={int(leg_timeout)}]" if leg_timeout else ""
    return ",".join(prefix + ep for ep in group)


class ScenarioMixin:
    """Scenario methods of FakePBX. Every method returns the new channel's uuid."""

    def inbound_call(
        self: FakePBX,
        customer: str,
        did: str,
        *,
        vars: dict[str, str] | None = None,
        ring: Sequence[Sequence[str] | str] | None = None,
        leg_timeout: float | None = 10,
        customer_hangs_up_after: float | None = None,
        queue: str | None = None,
        caller_name: str | None = None,
        ring_ready: bool | None = None,
        uuid: str | None = None,
        port: int = 5100,
    ) -> str:
        """A customer calls ``did``; the dialplan sets ``vars`` (fsw_* first, in the
        contract's order), then rings each group of ``ring`` in turn (endpoints of a
        group together, ``leg_timeout`` each), or answers and queues (``queue``).
        How each employee reacts comes from ``self.directory``. The customer hangs up
        ``customer_hangs_up_after`` seconds after calling (CANCEL before an answer,
        BYE after), or when ``customer_hangup`` is called."""
        validate_number(customer, "customer")
        validate_number(did, "did")
        groups = _ring_groups(ring)
        variables = dict(vars or {})
        ch = self._inbound_channel(customer, did, caller_name or customer, uuid, port)
        apps: list[tuple[str, str]] = []
        ordered = [k for k in CONTRACT_ORDER if k in variables]
        ordered += [k for k in variables if k not in CONTRACT_ORDER]
        apps += [("set", f"{k}={variables[k]}") for k in ordered]
        if queue is not None:
            apps += [("answer", ""), ("callcenter", queue), ("hangup", "NORMAL_CLEARING")]
        else:
            several = len(groups) > 1
            if ring_ready if ring_ready is not None else several:
                apps.append(("ring_ready", ""))
            apps.append(("set", "hangup_after_bridge=true"))
            if several:
                apps.append(("set", "continue_on_fail=true"))
            for g in groups:
                apps.append(("bridge", _bridge_arg(g, leg_timeout if several else None)))
            if several:
                apps.append(("hangup", "NO_ANSWER"))
        ch.dialplan = [make_app(n, a) for n, a in apps]
        ch.hangup_when_idle = True
        if customer_hangs_up_after is not None:
            self.scheduler.call_later(customer_hangs_up_after, self.customer_hangup, ch.uuid)
        self.scheduler.call_later(0, self.run_next, ch)
        return ch.uuid

    def customer_hangup(self: FakePBX, uuid: str) -> None:
        """The caller hangs up: CANCEL while unanswered, BYE after."""
        ch = self.channels.get(uuid)
        if ch is None or not ch.alive:
            return
        if ch.answered:
            ch.set_var("sip_hangup_disposition", "recv_bye")
            self.hangup(ch, "NORMAL_CLEARING")
        else:
            ch.set_var("sip_hangup_disposition", "recv_cancel")
            self.hangup(ch, "ORIGINATOR_CANCEL")

    def hangup_leg(self: FakePBX, uuid: str, cause: str = "NORMAL_CLEARING") -> None:
        """A phone hangs up (BYE) now, e.g. an employee ending a bridged call."""
        ch = self.channels.get(uuid)
        if ch is not None and ch.alive:
            ch.set_var("sip_hangup_disposition", "recv_bye")
            self.hangup(ch, cause)

    def add_extension(
        self: FakePBX,
        ext: str,
        *,
        ring: Sequence[Sequence[str] | str] | None = None,
        leg_timeout: float | None = 30,
        apps: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        """Register a dialplan extension (a transfer target, an IVR scenario): its own
        ``apps`` or the 74950000005 shape (set ringback, hangup_after_bridge, bridge)."""
        if apps is None:
            steps: list[tuple[str, str]] = [
                ("set", "transfer_ringback=%(2000,4000,440,480)"),
                ("set", "hangup_after_bridge=true"),
            ]
            steps += [("bridge", _bridge_arg(g, leg_timeout)) for g in _ring_groups(ring)]
            apps = steps
        self.extensions[ext] = list(apps)

    def transfer_call(self: FakePBX, uuid: str, ext: str) -> None:
        """Blind transfer of a (customer) leg to an extension, as uuid_transfer (07)."""
        ch = self.channels.get(uuid)
        if ch is None or not ch.alive:
            raise ValidationError("uuid", uuid, "a live channel")
        self.transfer(ch, ext)

    def attended_transfer(self: FakePBX, employee_uuid: str, target: str,
                          originate_timeout: float = 20) -> None:
        """The employee leg consults ``target`` (att_xfer, 07b): the customer is on hold."""
        validate_endpoint(target, "target")
        self.api("uuid_broadcast", f"{employee_uuid} att_xfer::"
                                   f"{{originate_timeout={int(originate_timeout)}}}{target}")

    def employee_call(
        self: FakePBX,
        employee: str,
        customer: str,
        *,
        gateway: str = "sofia/gateway/pstn",
        talk: float | None = None,
        uuid: str | None = None,
    ) -> str:
        """An employee dials a customer from their phone (outside fsworker): an inbound
        leg from the extension bridged to the customer through ``gateway``. How the
        customer reacts comes from the directory (``<gateway>/<customer>`` or the bare
        number); ``talk`` = seconds until the employee hangs up after the answer."""
        validate_number(employee, "employee")
        validate_number(customer, "customer")
        ch = self._inbound_channel(employee, customer, employee, uuid, 5060)
        ch.dialplan = [make_app("set", "hangup_after_bridge=true"),
                       make_app("bridge", f"{gateway}/{customer}")]
        ch.hangup_when_idle = True
        if talk is not None:
            self._hangup_after_answer(ch, talk)
        self.scheduler.call_later(0, self.run_next, ch)
        return ch.uuid

    def _hangup_after_answer(self: FakePBX, ch: Channel, talk: float) -> None:
        def check() -> None:
            if not ch.alive:
                return
            if ch.bridged_to:
                self.scheduler.call_later(talk, self.hangup_leg, ch.uuid)
            else:
                self.scheduler.call_later(0.1, check)

        self.scheduler.call_later(0.1, check)

    def set_endpoint(self: FakePBX, endpoint: str, behaviour: Behaviour) -> None:
        """Shortcut for ``directory.set``."""
        self.directory.set(endpoint, behaviour)

    # -- internals ---------------------------------------------------------------------
    def _inbound_channel(self: FakePBX, caller: str, dest: str, caller_name: str,
                         uuid: str | None, port: int) -> Channel:
        uuid = uuid or str(_uuid.uuid4())
        name = f"sofia/internal/{caller}@127.0.0.1:{port}"
        # mod_sofia defuses variable expansion in a caller's display name: "${" arrives as
        # "%{" (a lone "$" or "%" is kept), seen on the real switch (esl-traces/NOTES.md)
        caller_name = caller_name.replace("${", "%{")
        now = self.now_us()
        profile = CallerProfile(
            direction="inbound", logical_direction="inbound", username=caller,
            dialplan="XML", caller_id_name=caller_name, caller_id_number=caller,
            orig_caller_id_name=caller_name, orig_caller_id_number=caller,
            network_addr="127.0.0.1", ani=caller, destination_number=dest,
            source="mod_sofia", created_us=now)
        ch = Channel(self, uuid=uuid, name=name, direction="inbound", profile=profile)
        for k, v in (("direction", "inbound"), ("uuid", uuid), ("call_uuid", uuid),
                     ("channel_name", name), ("sofia_profile_name", "internal"),
                     ("sip_from_user", caller), ("sip_to_user", dest),
                     ("sip_req_user", dest), ("caller_id_name", caller_name),
                     ("caller_id_number", caller), ("read_codec", "PCMU"),
                     ("write_codec", "PCMU"), ("endpoint_disposition", "RECEIVED")):
            ch.set_var(k, v)
        self._register(ch, LegRecord(
            uuid=uuid, endpoint=name, destination=dest, caller_id_number=caller,
            caller_id_name=caller_name, variables={}, dial_id=0, step=0, origin="inbound",
            parent_uuid=None, started_at=now / 1e6))
        ch.emit("CHANNEL_STATE")  # CS_NEW
        ch.media = True  # the INVITE's SDP is negotiated right after CS_NEW (2 CODEC events)
        ch.set_state("CS_INIT")
        ch.emit("CHANNEL_CREATE")
        ch.set_call_state("RINGING")
        ch.set_state("CS_ROUTING")
        ch.set_state("CS_EXECUTE")
        return ch
