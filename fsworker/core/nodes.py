"""Which switch places a callback: the one the customer called, when it can.

Rules: pure. Phones register on one FreeSWITCH; ``user/101`` and the channel names
``last_attempted`` redials exist only on the switch that rang them, so an attempt goes
out through the node its lost call came from (``origin``). Another node is used only
when the origin node is down *and* its configuration says that is safe
(``[[node]] failover = true``: every node reaches the same phones and gateways). A call
whose origin is no configured switch (a callback asked for over HTTP, a node since
renamed) goes through the least busy node that is up.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeState:
    name: str
    up: bool
    active: int = 0  #: attempts in flight on it from this process
    failover: bool = False  #: its callbacks may go out through another node while it is down


class NoNode(enum.StrEnum):
    NONE_UP = "none_up"  #: no switch is connected
    ORIGIN_DOWN = "origin_down"  #: the origin switch is down and failover is off for it


@dataclass(frozen=True, kw_only=True, slots=True)
class NodeChoice:
    node: str | None
    why: str  #: for the log: how the node was chosen, or why there is none
    reason: NoNode | None = None  #: set when ``node`` is None


def _least_busy(nodes: Sequence[NodeState], turn: int) -> str:
    least = min(n.active for n in nodes)
    candidates = [n for n in nodes if n.active == least]
    return candidates[turn % len(candidates)].name


def choose_node(origin: str | None, nodes: Sequence[NodeState], turn: int = 0) -> NodeChoice:
    """The node for an attempt whose lost call came from ``origin``; ``turn`` rotates
    among equally busy nodes."""
    up = [n for n in nodes if n.up]
    home = next((n for n in nodes if n.name == origin), None)
    if home is None:
        if not up:
            return NodeChoice(node=None, why="no FreeSWITCH node is connected", reason=NoNode.NONE_UP)
        return NodeChoice(node=_least_busy(up, turn), why=f"least busy (origin {origin!r} is no configured node)")
    if home.up:
        return NodeChoice(node=home.name, why="the node the call came from")
    others = [n for n in up if n.name != home.name]
    if home.failover and others:
        return NodeChoice(node=_least_busy(others, turn), why=f"failover: origin node {home.name!r} is down")
    if home.failover:
        return NodeChoice(node=None, why="no FreeSWITCH node is connected", reason=NoNode.NONE_UP)
    return NodeChoice(node=None, reason=NoNode.ORIGIN_DOWN,
                      why=f"origin node {home.name!r} is down and its failover is off: the callback waits for it")
