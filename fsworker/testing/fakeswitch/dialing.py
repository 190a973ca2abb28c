# Dial strings and ringing: parse ``{global}[local]ep1,ep2|ep3`` and ring its legs step
# by step. Rules: a step's legs ring together (','), steps run one after another ('|');
# the first answer wins and the other legs of its step are cancelled (LOSE_RACE); a
# leg times out at leg_timeout (ALLOTTED_TIMEOUT) or originate_timeout (NO_ANSWER), on
# a whole second of the switch clock as FreeSWITCH does (``ring_deadline``);
# a parent hanging up cancels everything (ORIGINATOR_CANCEL). A step's legs are all
# announced (CHANNEL_OUTGOING) in dial-string order before any of them starts
# (CHANNEL_CREATE), and they start in the order ``CreateOrder`` says: a real switch
# starts each leg's thread and the threads run in any order (trace 17). Parsing never
# trusts its input: malformed dial strings raise ValidationError.
"""Dial-string parsing and the ringing of originated legs."""

from __future__ import annotations

import enum
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fsworker.core.errors import ValidationError

if TYPE_CHECKING:
    from fsworker.testing.fakeswitch.channels import Channel
    from fsworker.testing.fakeswitch.pbx import FakePBX

_VARS_RE = re.compile(r"[{\[]([^{}\[\]]*)[}\]]")


def parse_vars(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in _split_top(text, ","):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValidationError("dial string variable", item, "name=value")
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside {} / [] and not escaped with a backslash."""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i + 1])
            i += 2
            continue
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        if c == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


class CreateOrder(enum.Enum):
    """In which order the legs of one step (rung together, ',') emit CHANNEL_CREATE.
    Their CHANNEL_OUTGOING events always come first, in dial-string order."""

    DIAL = "dial"  #: dial-string order, as traces 03 and 04 show
    REVERSED = "reversed"  #: last leg first, as trace 17 shows (102 before 101)
    SHUFFLED = "shuffled"  #: a random order from the PBX's seeded generator

    def arrange(self, legs: list[Channel], rng: random.Random) -> list[Channel]:
        if self is CreateOrder.REVERSED:
            return legs[::-1]
        if self is CreateOrder.SHUFFLED:
            return rng.sample(legs, len(legs))
        return list(legs)
def ring_deadline(start: float, timeout: float, *, per_leg: bool) -> float:
    """When the switch gives up on a ringing leg created at ``start`` (switch clock, s).

    FreeSWITCH 1.10.12 compares whole seconds of its clock (the real switch and traces 03
    and 09): ``originate_timeout=N`` ends the leg on the first second tick at which N
    whole seconds have passed since the start second, i.e. after (N-1, N] s; a bridge's
    ``leg_timeout=N`` one tick later, after (N, N+1] s (10.58 s for 10 in trace 03, 5.24 s
    for 6 in trace 09)."""
    return math.floor(start) + math.ceil(timeout) + (1 if per_leg else 0)


@dataclass(frozen=True, kw_only=True, slots=True)
class DialLeg:
    endpoint: str
    variables: dict[str, str]


@dataclass(frozen=True, kw_only=True, slots=True)
class DialString:
    variables: dict[str, str]  #: the {...} block, for every leg
    steps: tuple[tuple[DialLeg, ...], ...]  #: '|' separated; legs of a step ring together


def parse_dial_string(text: str) -> DialString:
    text = text.strip()
    global_vars: dict[str, str] = {}
    if text.startswith("{"):
        end = text.find("}")
        if end < 0:
            raise ValidationError("dial string", text, "unterminated {")
        global_vars = parse_vars(text[1:end])
        text = text[end + 1 :]
    steps = []
    for step_text in _split_top(text, "|"):
        legs = []
        for leg_text in _split_top(step_text, ","):
            leg_text = leg_text.strip()
            local: dict[str, str] = {}
            while leg_text.startswith(("[", "{")):
                m = _VARS_RE.match(leg_text)
                if m is None:
                    raise ValidationError("dial string", leg_text, "unterminated [")
                local.update(parse_vars(m.group(1)))
                leg_text = leg_text[m.end() :]
            if not leg_text or any(c.isspace() for c in leg_text):
                raise ValidationError("dial string endpoint", leg_text, "an endpoint, no spaces")
            legs.append(DialLeg(endpoint=leg_text, variables=local))
        steps.append(tuple(legs))
    if not steps or not steps[0]:
        raise ValidationError("dial string", text, "at least one endpoint")
    return DialString(variables=global_vars, steps=tuple(steps))


def split_originate_arg(arg: str) -> tuple[str, str]:
    """``{vars}endpoint &park()`` -> (dial string, rest); braces may hold spaces."""
    arg = arg.strip()
    start = 0
    if arg.startswith("{"):
        close = arg.find("}")
        if close < 0:
            raise ValidationError("originate", arg, "unterminated {")
        start = close + 1
    space = arg.find(" ", start)
    if space < 0:
        return arg, ""
    return arg[:space], arg[space + 1 :].strip()


class DialJob:
    """Rings the legs of one dial string for an originate or a bridge."""

    def __init__(
        self,
        pbx: FakePBX,
        dial: DialString,
        *,
        parent: Channel | None,
        origin: str,
        extra_vars: dict[str, str] | None = None,
        on_answer: Callable[[Channel], None],
        on_fail: Callable[[str], None],
    ) -> None:
        self.pbx = pbx
        self.dial = dial
        self.parent = parent
        self.origin = origin
        self.extra_vars = dict(extra_vars or {})
        self.on_answer = on_answer
        self.on_fail = on_fail
        self.dial_id = pbx.next_dial_id()
        self.step = -1
        self.ringing: list[Channel] = []
        self.finished = False
        self.last_cause = "NORMAL_CLEARING"
        self.timeout_cause: str | None = None  # overrides NO_ANSWER / ALLOTTED_TIMEOUT

    def start(self) -> None:
        self._next_step()

    def _next_step(self) -> None:
        self.step += 1
        if self.step >= len(self.dial.steps):
            self._finish_fail(self.last_cause)
            return
        announced = []
        for leg in self.dial.steps[self.step]:
            variables = {**self.extra_vars, **self.dial.variables, **leg.variables}
            announced.append(self.pbx.announce_outbound_leg(
                leg.endpoint, variables, parent=self.parent, origin=self.origin,
                dial_id=self.dial_id, step=self.step, job=self))
        self.ringing.extend(announced)
        for ch in self.pbx.create_order.arrange(announced, self.pbx.rng):
            self.pbx.start_outbound_leg(ch)

    # -- called by the PBX as legs progress ----------------------------------------
    def leg_answered(self, ch: Channel) -> None:
        if self.finished:
            return
        self.finished = True
        self.ringing.remove(ch)
        for other in list(self.ringing):
            self.pbx.hangup(other, "LOSE_RACE")
        self.ringing.clear()
        self.on_answer(ch)

    def leg_failed(self, ch: Channel, cause: str) -> None:
        if ch in self.ringing:
            self.ringing.remove(ch)
        if self.finished:
            return
        self.last_cause = cause
        if not self.ringing:
            self._next_step()

    def cancel(self, cause: str = "ORIGINATOR_CANCEL") -> None:
        """The parent went away: hang up every ringing leg and fail the job."""
        if self.finished:
            return
        self.finished = True
        for ch in list(self.ringing):
            self.pbx.hangup(ch, cause)
        self.ringing.clear()
        self.on_fail(cause)

    def _finish_fail(self, cause: str) -> None:
        if not self.finished:
            self.finished = True
            self.on_fail(cause)
