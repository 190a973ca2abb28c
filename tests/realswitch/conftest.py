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


@pytest.fixture(scope="session")
def switch() -> Iterator[RealSwitch]:
    sw = RealSwitch.from_env(os.environ["FSWORKER_REAL_SWITCH"])
    sw.check_ready()
    try:
        yield sw
    finally:
        sw.close()


@pytest.fixture()
def lab(tmp_path: Path, switch: RealSwitch, request: pytest.FixtureRequest) -> Iterator[Lab]:
    lab = Lab(tmp_path, switch)
    try:
        yield lab
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(lab.report())
        lab.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    rep = yield
    if rep.when == "call":
        item.rep_call = rep  # type: ignore[attr-defined]
    return rep
