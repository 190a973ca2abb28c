"""The real-switch tier runs only where a real FreeSWITCH is set up (README, "Real-switch
tests"): FSWORKER_REAL_SWITCH=host:port of its Event Socket selects it; without it every
test here is skipped with that reason, in CI too (CI has no switch)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.realswitch.harness import Lab, RealSwitch

SKIP_REASON = ("FSWORKER_REAL_SWITCH is unset: the real-switch tier needs a FreeSWITCH with the PBX of "
               "tests/data/realswitch and its SIPp phones (README, 'Real-switch tests'), "
               "e.g. FSWORKER_REAL_SWITCH=127.0.0.1:8021 make test-real")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("FSWORKER_REAL_SWITCH"):
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(skip)


SKIP_REASON_2 = ("FSWORKER_REAL_SWITCH_2 is unset: the two-switch tests need a second FreeSWITCH with the same "
                 "PBX on other ports (tests/data/realswitch/start.sh start2; README, 'Real-switch tests'), "
                 "e.g. FSWORKER_REAL_SWITCH_2=127.0.0.1:8022")


@pytest.fixture(scope="session")
def switch() -> Iterator[RealSwitch]:
    sw = RealSwitch.from_env(os.environ["FSWORKER_REAL_SWITCH"])
    sw.check_ready()
    try:
        yield sw
    finally:
        sw.close()


@pytest.fixture(scope="session")
def switch2(switch: RealSwitch) -> Iterator[RealSwitch]:
    """The second switch (FSWORKER_REAL_SWITCH_2); its tests are skipped without it."""
    value = os.environ.get("FSWORKER_REAL_SWITCH_2")
    if not value:
        pytest.skip(SKIP_REASON_2)
    sw = RealSwitch.from_env(value)
    sw.check_ready()
    assert (sw.host, sw.port) != (switch.host, switch.port), "FSWORKER_REAL_SWITCH_2 names the first switch"
    assert sw.sip_port != switch.sip_port, f"both switches take SIP on port {sw.sip_port}"
    try:
        yield sw
    finally:
        sw.close()


def _lab(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Lab]:
    try:
        yield lab
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(lab.report())
        lab.close()


@pytest.fixture()
def lab(tmp_path: Path, switch: RealSwitch, request: pytest.FixtureRequest) -> Iterator[Lab]:
    yield from _lab(Lab(tmp_path, switch), request)


@pytest.fixture()
def lab2(tmp_path: Path, switch: RealSwitch, switch2: RealSwitch, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """A lab with both switches: ``lab.switch`` (A) and ``lab.switch2`` (B)."""
    yield from _lab(Lab(tmp_path, switch, switch2), request)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    rep = yield
    if rep.when == "call":
        item.rep_call = rep  # type: ignore[attr-defined]
    return rep
