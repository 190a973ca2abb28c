"""Numbers through the CLI with ``[numbers] region``: any spelling in, one identity
stored, readable out (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Run

AT = "2026-12-01T12:15:00+03:00"


@pytest.fixture()
def ru(run: Run, tmp_path: Path) -> Run:
    """``run`` with a configuration file that sets region RU, and a catch-all rule."""
    config = tmp_path / "fsworker.toml"
    config.write_text('[numbers]\nregion = "RU"\n', encoding="utf-8")

    def _run(*argv: str) -> object:
        return run("-c", str(config), *argv)

    assert _run("employees", "add", "alice", "--endpoint", "user/101").code == 0
    assert _run("rules", "add", "any", "--strategy", "employee", "--target", "alice").code == 0
    return _run  # type: ignore[return-value]


@pytest.mark.parametrize("spelling", ["89160000001", "79160000001", "+7 916 000-00-01", "+7 (916) 000-00-01"])
def test_blacklisted_as_plus7_is_skipped_in_every_spelling(ru: Run, spelling: str) -> None:
    """The issue's acceptance: +79160000001 blacklisted; simulate says blacklisted for
    8..., 7... and a spaced +7 spelling of the same number."""
    assert ru("blacklist", "add", "+79160000001").code == 0
    r = ru("simulate", "--number", spelling, "--did", "74950000001", "--at", AT, "--wait", "30")
    assert r.code == 0, r.err
    assert "skip: blacklisted" in r.out, r.out
    assert "lost call from +7 916 000-00-01" in r.out


def test_another_number_is_still_accepted(ru: Run) -> None:
    assert ru("blacklist", "add", "+79160000001").code == 0
    r = ru("simulate", "--number", "89160000002", "--did", "74950000001", "--at", AT, "--wait", "30", "--json")
    out = json.loads(r.out)
    assert out["decision"] == "accept" and out["call"]["number"] == "+79160000002"
    assert out["call"]["did"] == "+74950000001"


def test_blacklist_stores_the_identity_and_lists_it_readably(ru: Run) -> None:
    r = ru("blacklist", "add", "8 (916) 000-00-01", "--reason", "spam")
    assert r.code == 0, r.err
    assert "+7 916 000-00-01 blacklisted" in r.out
    # the same customer in another spelling is the same entry
    r = ru("blacklist", "add", "79160000001")
    assert r.code == 1 and "already" in r.err
    assert json.loads(ru("blacklist", "list", "--json").out) == [{"number": "+79160000001", "reason": "spam"}]
    assert "+7 916 000-00-01" in ru("blacklist", "list").out
    r = ru("blacklist", "remove", "+7 916 000 00 01")
    assert r.code == 0 and "removed" in r.out
    assert json.loads(ru("blacklist", "list", "--json").out) == []


@pytest.mark.parametrize(("text", "reason"), [
    ("anonymous", "withheld_number"), ("", "withheld_number"), ("unknown", "withheld_number"),
    ("0000000000", "withheld_number"), ("reception", "not_a_number"), ("101", "number_too_short"),
    ("8916000000123", "number_too_long"), ("+999 1234567", "unknown_country_code"),
])
def test_what_is_no_number_gets_its_own_skip(ru: Run, text: str, reason: str) -> None:
    r = ru("simulate", "--number", text, "--at", AT, "--wait", "30", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["reason"] == reason


def test_operator_input_that_is_no_number_is_refused_naming_the_field(ru: Run) -> None:
    r = ru("blacklist", "add", "reception")
    assert r.code == 1 and "blacklist.number: 'reception' is invalid" in r.err and "region RU" in r.err
    r = ru("numbers", "add", "916")
    assert r.code == 1 and "virtual_number.number" in r.err
    r = ru("simulate", "--number", "89160000001", "--did", "5000", "--at", AT, "--wait", "30")
    assert r.code == 1 and "did: '5000' is invalid" in r.err


def test_entity_and_rule_numbers_match_calls_in_any_spelling(ru: Run) -> None:
    """A virtual number typed as 8 495..., a rule on it typed as 7495..., a call to
    +7 495 ...: one number."""
    assert ru("numbers", "add", "8 (495) 000-00-01", "--description", "main").code == 0
    assert json.loads(ru("numbers", "list", "--json").out)[0]["number"] == "+74950000001"
    r = ru("rules", "add", "main", "--place", "number", "--place-value", "74950000001",
           "--strategy", "number", "--target", "8 903 111-22-33", "--position", "0")
    assert r.code == 0, r.err
    rule = json.loads(ru("rules", "show", "main", "--json").out)
    assert rule["place_value"] == "+74950000001" and rule["target"] == "+79031112233"
    r = ru("simulate", "--number", "89160000001", "--did", "+7 495 000 00 01", "--at", AT, "--wait", "30")
    assert "accept: rule 'main'" in r.out, r.out
    assert ru("numbers", "show", "74950000001").code == 0  # any spelling names it
    assert ru("campaigns", "add", "cpc", "--target-kind", "number", "--target", "8-903-111-22-44").code == 0
    assert json.loads(ru("campaigns", "show", "cpc", "--json").out)["target"] == "+79031112244"


def test_import_reads_numbers_in_any_spelling(ru: Run, tmp_path: Path) -> None:
    file = tmp_path / "catalog.toml"
    file.write_text('format = 1\n[[blacklist]]\nnumber = "8 916 000-00-09"\n'
                    '[[virtual_numbers]]\nnumber = "74950000009"\n', encoding="utf-8")
    r = ru("import", str(file))
    assert r.code == 0, r.err
    assert json.loads(ru("blacklist", "list", "--json").out)[0]["number"] == "+79160000009"
    assert json.loads(ru("numbers", "list", "--json").out)[0]["number"] == "+74950000009"
    file.write_text('format = 1\n[[blacklist]]\nnumber = "reception"\n', encoding="utf-8")
    r = ru("import", str(file))
    assert r.code == 1 and "blacklist[0].number" in r.err


def test_tasks_list_filters_by_any_spelling(ru: Run) -> None:
    r = ru("tasks", "list", "--number", "8 (916) 000-00-01", "--json")
    assert r.code == 0 and json.loads(r.out) == []
    r = ru("tasks", "list", "--number", "reception")
    assert r.code == 1 and "number: 'reception'" in r.err


def test_without_region_numbers_are_taken_as_written(run: Run) -> None:
    """No [numbers] section: nothing changes for existing users."""
    assert run("blacklist", "add", "+79160000001").code == 0
    assert run("employees", "add", "alice", "--endpoint", "user/101").code == 0
    assert run("rules", "add", "any", "--strategy", "employee", "--target", "alice").code == 0
    r = run("simulate", "--number", "89160000001", "--at", AT, "--wait", "30")
    assert "accept: rule 'any'" in r.out
    r = run("blacklist", "add", "+7 916 000-00-01")
    assert r.code == 1 and "blacklist.number" in r.err


def test_check_warns_about_numbers_stored_before_the_region_and_normalize_fixes_them(run: Run, ru: Run) -> None:
    assert run("blacklist", "add", "89160000007").code == 0  # written by a config without region
    r = ru("check")
    assert "warning: blacklist 89160000007" in r.out + r.err and "+79160000007 under region RU" in r.out + r.err
    assert "fsworker db normalize-numbers" in r.out + r.err
    r = ru("db", "normalize-numbers")
    assert r.code == 0 and "1 number(s) rewritten" in r.out, r.out + r.err
    r = ru("check")
    assert "normalize-numbers" not in r.out + r.err
    assert json.loads(ru("blacklist", "list", "--json").out)[0]["number"] == "+79160000007"
