"""Which switch places a callback (issue 18): the origin node when it is up; another
one only when the origin is down and its failover is on; any for calls from nowhere."""

from __future__ import annotations

import pytest

from fsworker.core.nodes import NodeState, NoNode, choose_node


def _nodes(*, a_up: bool = True, b_up: bool = True, a_failover: bool = False, a_busy: int = 0) -> list[NodeState]:
    return [NodeState(name="a", up=a_up, active=a_busy, failover=a_failover), NodeState(name="b", up=b_up)]


def test_the_origin_node_places_the_call_even_when_busier() -> None:
    assert choose_node("a", _nodes(a_busy=5)).node == "a"
    assert choose_node("b", _nodes()).node == "b"


def test_origin_down_without_failover_waits_with_its_reason() -> None:
    got = choose_node("a", _nodes(a_up=False))
    assert (got.node, got.reason) == (None, NoNode.ORIGIN_DOWN)
    assert "'a' is down" in got.why and "failover is off" in got.why


def test_origin_down_with_failover_goes_through_another_node() -> None:
    got = choose_node("a", _nodes(a_up=False, a_failover=True))
    assert got.node == "b" and "failover" in got.why
    got = choose_node("a", _nodes(a_up=False, b_up=False, a_failover=True))
    assert (got.node, got.reason) == (None, NoNode.NONE_UP)


@pytest.mark.parametrize("origin", ["api", None, "renamed"])
def test_a_call_from_no_configured_node_takes_the_least_busy(origin: str | None) -> None:
    assert choose_node(origin, _nodes(a_busy=2)).node == "b"
    assert {choose_node(origin, _nodes(), turn).node for turn in range(4)} == {"a", "b"}  # rotates on a tie
    got = choose_node(origin, _nodes(a_up=False, b_up=False))
    assert (got.node, got.reason) == (None, NoNode.NONE_UP)
