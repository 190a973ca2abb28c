"""Run a test on both event-splitting paths: the optional C accelerator and pure Python.

The accelerator (``fsworker/esl/proto/_speedups.c``) is built when a C compiler is present;
without one its parameter is skipped, unless ``FSWORKER_REQUIRE_SPEEDUPS=1`` (CI), where
a missing build fails instead of hiding the path.
"""

from __future__ import annotations

import os

import pytest

import fsworker.esl.proto.frames as frames
import fsworker.esl.proto.parser as parser

_BUILT = (frames._index_block, frames._name_of, parser._frame_event)


@pytest.fixture(params=["c", "python"])
def split_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``"c"``: the accelerator frames ordinary event frames and serves ``Event.get`` /
    ``Event.name``; ``"python"``: none of it."""
    if request.param == "c":
        if _BUILT[0] is None:
            if os.environ.get("FSWORKER_REQUIRE_SPEEDUPS") == "1":
                pytest.fail("fsworker.esl.proto._speedups is not built (FSWORKER_REQUIRE_SPEEDUPS=1)")
            pytest.skip("fsworker.esl.proto._speedups is not built (no C compiler at install time)")
        monkeypatch.setattr(frames, "_index_block", _BUILT[0])
        monkeypatch.setattr(frames, "_name_of", _BUILT[1])
        monkeypatch.setattr(parser, "_frame_event", _BUILT[2])
    else:
        monkeypatch.setattr(frames, "_index_block", None)
        monkeypatch.setattr(frames, "_name_of", None)
        monkeypatch.setattr(parser, "_frame_event", None)
    return request.param
