# Fake-only api commands that let a person (or a script) drive the standalone fake
# switch: inject a customer's call, script how an endpoint reacts, transfer a call,
# see what is up. Rules: real FreeSWITCH has none of these, so they all start with
# ``fake_``; every argument is parsed strictly (unknown, repeated or malformed options
# are refused) and every number / endpoint passes validate_number / validate_endpoint
# before it reaches the PBX; a refusal is a ValidationError naming the field, which
# api_commands.dispatch turns into ``-ERR <field>: ...``. Runs under the PBX lock.
"""``fake_call``, ``fake_endpoint``, ``fake_transfer``, ``fake_status``, ``fake_legs``,
``fake_config``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from fsworker.core.errors import ValidationError
from fsworker.core.numbers import is_valid_number, validate_endpoint, validate_number
from fsworker.testing.fakeswitch.dialing import CreateOrder
from fsworker.testing.fakeswitch.directory import Behaviour, Reaction

if TYPE_CHECKING:
    from fsworker.testing.fakeswitch.pbx import FakePBX

#: values of scenario / site / campaign / queue / extension: one token, no separators
#: the fake dialplan (``set k=v``) or a dial string could misread.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_.:@+\-]{1,100}")
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_MAX_SECONDS = 86400.0


def _options(words: list[str], allowed: frozenset[str]) -> dict[str, str]:
    """``key=value`` words -> dict; unknown, repeated or empty options are refused."""
    out: dict[str, str] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise ValidationError("option", word, f"key=value with key one of {', '.join(sorted(allowed))}")
        if key not in allowed:
            raise ValidationError(key, value, f"unknown option; allowed: {', '.join(sorted(allowed))}"
                                  if allowed else "unknown option; this takes none")
        if key in out:
            raise ValidationError(key, value, "given twice")
        if not value:
            raise ValidationError(key, value, "a value")
        out[key] = value
    return out


def _seconds(field: str, text: str, low: float = 0.0, high: float = _MAX_SECONDS) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValidationError(field, text, f"seconds, a number {low:g}..{high:g}") from None
    if not low <= value <= high:  # also refuses nan
        raise ValidationError(field, text, f"seconds, a number {low:g}..{high:g}")
    return value


def _token(field: str, text: str) -> str:
    if _TOKEN_RE.fullmatch(text) is None:
        raise ValidationError(field, text, "1..100 of letters, digits and _ . : @ + -")
    return text


def _uuid(text: str) -> str:
    if _UUID_RE.fullmatch(text) is None:
        raise ValidationError("uuid", text, "a channel UUID (8-4-4-4-12 hex digits)")
    return text


def parse_ring(text: str) -> list[list[str]]:
    """``user/101,user/102|user/103`` -> ``[["user/101", "user/102"], ["user/103"]]``:
    groups ring one after another ('|'), endpoints of a group together (',')."""
    groups: list[list[str]] = []
    for gi, group in enumerate(text.split("|")):
        endpoints = group.split(",")
        if not group or any(not ep for ep in endpoints):
            raise ValidationError(f"ring[{gi}]", group, "endpoints separated by ',', groups by '|'")
        groups.append([validate_endpoint(ep, f"ring[{gi}][{ei}]") for ei, ep in enumerate(endpoints)])
    return groups


def _positional(words: list[str], names: tuple[str, ...], usage: str) -> list[str]:
    for i, name in enumerate(names):
        if i >= len(words) or "=" in words[i]:
            raise ValidationError(name, words[i] if i < len(words) else "", f"missing; usage: {usage}")
    return words[: len(names)]


# -- commands --------------------------------------------------------------------
_CALL_USAGE = ("fake_call <customer> <did> [ring=ep1,ep2|ep3] [leg_timeout=N] [hangup_after=N] "
               "[scenario=S] [site=S] [campaign=C] [queue=Q] [ignore=true] [request=true]")
_CALL_OPTIONS = frozenset({"ring", "leg_timeout", "hangup_after", "scenario", "site", "campaign",
                           "queue", "ignore", "request"})


def fake_call(pbx: FakePBX, arg: str) -> str:
    """A customer calls a DID: ``+OK <uuid of the customer's leg>``."""
    words = arg.split()
    customer, did = _positional(words, ("customer", "did"), _CALL_USAGE)
    validate_number(customer, "customer")
    validate_number(did, "did")
    opts = _options(words[2:], _CALL_OPTIONS)
    if "ring" in opts and "queue" in opts:
        raise ValidationError("queue", opts["queue"], "either ring= or queue=, not both")
    variables: dict[str, str] = {}
    for key in ("scenario", "site", "campaign"):
        if key in opts:
            variables[f"fsw_{key}"] = _token(key, opts[key])
    if "ignore" in opts:
        if opts["ignore"] not in ("true", "false"):
            raise ValidationError("ignore", opts["ignore"], "true or false")
        variables["fsw_ignore"] = opts["ignore"]
    if "request" in opts:
        if opts["request"] not in ("true", "false"):
            raise ValidationError("request", opts["request"], "true or false")
        variables["fsw_callback_request"] = opts["request"]
    uuid = pbx.inbound_call(
        customer, did, vars=variables,
        ring=parse_ring(opts["ring"]) if "ring" in opts else None,
        leg_timeout=_seconds("leg_timeout", opts["leg_timeout"], 1, 3600) if "leg_timeout" in opts else 10,
        customer_hangs_up_after=_seconds("hangup_after", opts["hangup_after"])
        if "hangup_after" in opts else None,
        queue=_token("queue", opts["queue"]) if "queue" in opts else None,
    )
    return f"+OK {uuid}\n"


_ENDPOINT_USAGE = "fake_endpoint <endpoint|number> answer|ring|busy|reject|unallocated|out_of_order [after=N] [hangup_after=N]"
#: which options each reaction takes
_REACTION_OPTIONS = {
    Reaction.ANSWER: frozenset({"after", "hangup_after"}),
    Reaction.RING: frozenset(),
    Reaction.BUSY: frozenset({"after"}),
    Reaction.REJECT: frozenset({"after"}),
    Reaction.UNALLOCATED: frozenset(),
    Reaction.OUT_OF_ORDER: frozenset(),
}


def fake_endpoint(pbx: FakePBX, arg: str) -> str:
    """How an endpoint (``user/101``) or a dialled number (a customer) reacts when rung."""
    words = arg.split()
    endpoint, action = _positional(words, ("endpoint", "action"), _ENDPOINT_USAGE)
    if not is_valid_number(endpoint):
        validate_endpoint(endpoint, "endpoint")
    try:
        reaction = Reaction(action)
    except ValueError:
        raise ValidationError("action", action, "answer, ring, busy, reject, unallocated or out_of_order") from None
    opts = _options(words[2:], _REACTION_OPTIONS[reaction]) if len(words) > 2 else {}
    after = _seconds("after", opts["after"]) if "after" in opts else None
    if reaction is Reaction.ANSWER:
        hangup = _seconds("hangup_after", opts["hangup_after"]) if "hangup_after" in opts else None
        behaviour = Behaviour.answers(after if after is not None else 1.0, hangup_after=hangup)
    elif reaction is Reaction.BUSY:
        behaviour = Behaviour.busy(after or 0.0)
    elif reaction is Reaction.REJECT:
        behaviour = Behaviour.rejects(after or 0.0)
    elif reaction is Reaction.RING:
        behaviour = Behaviour.rings()
    elif reaction is Reaction.OUT_OF_ORDER:
        behaviour = Behaviour.out_of_order()
    else:
        behaviour = Behaviour.unallocated()
    pbx.set_endpoint(endpoint, behaviour)
    return "+OK\n"


_TRANSFER_USAGE = "fake_transfer <uuid> <extension> [ring=ep1,ep2|ep3] [leg_timeout=N]"


def fake_transfer(pbx: FakePBX, arg: str) -> str:
    """Blind-transfer a live leg to an extension; ``ring=`` (re)defines what the
    extension rings (an undefined one drops the call: NO_ROUTE_DESTINATION)."""
    words = arg.split()
    uuid, ext = _positional(words, ("uuid", "extension"), _TRANSFER_USAGE)
    _uuid(uuid)
    _token("extension", ext)
    opts = _options(words[2:], frozenset({"ring", "leg_timeout"}))
    if "ring" in opts:
        timeout = _seconds("leg_timeout", opts["leg_timeout"], 1, 3600) if "leg_timeout" in opts else 30
        pbx.add_extension(ext, ring=parse_ring(opts["ring"]), leg_timeout=timeout)
    elif "leg_timeout" in opts:
        raise ValidationError("leg_timeout", opts["leg_timeout"], "only together with ring=")
    pbx.transfer_call(uuid, ext)
    return "+OK\n"


def fake_status(pbx: FakePBX, arg: str) -> str:
    """Channels up now, then every leg so far (oldest first), one per line, with each
    bridge the switch reported for it (``bridged=<other uuid>/<seconds or up>``)."""
    if arg.strip():
        raise ValidationError("argument", arg.strip(), "fake_status takes none")
    up = [ch for ch in pbx.channels.values() if ch.alive]
    lines = [f"channels up: {len(up)}"]
    lines += [f"  {ch.uuid} {ch.direction} {ch.name} {ch.call_state}"
              + (f" bridged={ch.bridged_to}" if ch.bridged_to else "") for ch in up]
    legs = pbx.legs.legs
    lines.append(f"legs so far: {len(legs)}")
    for r in legs:
        state = "up" if r.ended_at is None else f"ended {r.cause}"
        answered = "answered" if r.answered else "unanswered"
        task = r.variables.get("fsw_task_id")
        tag = f" task={task} role={r.variables.get('fsw_role', '')}" if task else ""
        bridges = "".join(
            f" bridged={b.partner_of(r.uuid)}/" + ("up" if b.talk_us is None else f"{b.talk_us / 1e6:.6f}s")
            for b in r.bridges)
        lines.append(f"  {r.uuid} {r.origin} {r.endpoint} cid={r.caller_id_number} "
                     f"{answered} {state}{bridges}{tag}")
    return "\n".join(lines) + "\n"


def fake_legs(pbx: FakePBX, arg: str) -> str:
    """Every leg so far (oldest first) as one JSON document, for scripts and the chaos
    tests: times are the switch's clock in seconds; ``bridged_at`` / ``bridged_to`` /
    ``app`` (the application running now) are known while the leg is up; ``bridges``
    lists every bridge the leg was in as the switch reported it (CHANNEL_BRIDGE to
    CHANNEL_UNBRIDGE, µs; ``ended_us`` null while bridged)."""
    if arg.strip():
        raise ValidationError("argument", arg.strip(), "fake_legs takes none")
    legs = []
    for r in pbx.legs.legs:
        ch = pbx.channels.get(r.uuid)
        live = ch is not None and ch.alive
        legs.append({
            "uuid": r.uuid, "origin": r.origin, "endpoint": r.endpoint, "destination": r.destination,
            "caller_id_number": r.caller_id_number, "parent_uuid": r.parent_uuid,
            "task_id": r.variables.get("fsw_task_id"), "attempt": r.variables.get("fsw_attempt"),
            "role": r.variables.get("fsw_role"),
            "started_at": r.started_at, "answered_at": r.answered_at, "ended_at": r.ended_at, "cause": r.cause,
            "up": live,
            "bridged_at": ch.first_bridged_us / 1e6 if live and ch.first_bridged_us else None,
            "bridged_to": ch.bridged_to if live else None,
            "app": ch.apps[-1].name if live and ch.apps else None,
            "spoken": list(r.spoken),
            "bridges": [{"a_uuid": b.a_uuid, "b_uuid": b.b_uuid, "started_us": b.started_us,
                         "ended_us": b.ended_us} for b in r.bridges],
        })
    return json.dumps({"now": pbx.stamp(), "up": sum(1 for leg in legs if leg["up"]), "legs": legs}) + "\n"


_CONFIG_USAGE = "fake_config [speak_seconds=N|auto] [create_order=dial|reversed|shuffled] [seed=N]"


def fake_config(pbx: FakePBX, arg: str) -> str:
    """Change how the fake behaves from now on: ``speak_seconds`` = how long every
    ``speak`` lasts (``auto``: by the text's length, the default); ``create_order`` =
    in which order legs rung together emit CHANNEL_CREATE (``CreateOrder``); ``seed``
    restarts the generator ``shuffled`` draws from."""
    opts = _options(arg.split(), frozenset({"speak_seconds", "create_order", "seed"}))
    if not opts:
        raise ValidationError("option", "", f"at least one; usage: {_CONFIG_USAGE}")
    if "speak_seconds" in opts:
        value = opts["speak_seconds"]
        pbx.speak_seconds = None if value == "auto" else _seconds("speak_seconds", value, 0.01, 3600)
    if "create_order" in opts:
        names = {o.value: o for o in CreateOrder}
        order = names.get(opts["create_order"])
        if order is None:
            raise ValidationError("create_order", opts["create_order"], f"one of {', '.join(names)}")
        pbx.create_order = order
    if "seed" in opts:
        if not opts["seed"].isdigit() or len(opts["seed"]) > 18:
            raise ValidationError("seed", opts["seed"], "a whole number 0..10^18")
        pbx.rng.seed(int(opts["seed"]))
    return "+OK\n"


COMMANDS: dict[str, Callable[[FakePBX, str], str]] = {
    "fake_call": fake_call,
    "fake_endpoint": fake_endpoint,
    "fake_transfer": fake_transfer,
    "fake_status": fake_status,
    "fake_legs": fake_legs,
    "fake_config": fake_config,
}
