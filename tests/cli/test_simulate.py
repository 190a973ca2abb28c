"""``fsworker simulate``: which rule takes a hypothetical lost call, and when it is called back."""

from __future__ import annotations

import json

from tests.clirunner import Run


def test_after_hours_call_goes_to_night_rule_and_is_planned_in_office_hours(seeded: Run) -> None:
    # Tuesday 20:15 Moscow: "day" would match the number too, so put "night" first
    assert seeded("rules", "move", "night", "top").code == 0
    r = seeded("simulate", "--number", "+79161234567", "--did", "+74950000000",
               "--at", "2026-12-01T20:15:00+03:00", "--wait", "12")
    assert r.code == 0, r.err
    assert "accept: rule 'night'" in r.out
    assert "#0 'night' matched" in r.out and "#1 'day' not_reached" in r.out
    assert "planned attempts (Europe/Moscow)" in r.out
    # office opens 09:00 Moscow on Wednesday; the second attempt 600 s later
    assert "1. 2026-12-02T09:00:00+03:00" in r.out
    assert "2. 2026-12-02T09:10:00+03:00" in r.out


def test_json_output_and_day_rule(seeded: Run) -> None:
    r = seeded("simulate", "--number", "+79161234567", "--did", "+74950000000",
               "--at", "2026-12-01T12:15:00", "--tz", "Europe/Moscow", "--wait", "30", "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["decision"] == "accept" and out["rule"] == "day"
    assert out["timezone"] == "Europe/Moscow"
    # intervals 0, 300, 3600 inside office hours
    assert out["attempts"] == ["2026-12-01T12:15:00+03:00", "2026-12-01T12:20:00+03:00", "2026-12-01T13:20:00+03:00"]


def test_why_none(seeded: Run) -> None:
    r = seeded("simulate", "--number", "+79161234567", "--did", "+74950000000",
               "--at", "2026-12-01T12:15:00+03:00", "--wait", "3")
    assert r.code == 0
    assert "skip: waited_too_little" in r.out and "waited 3 s < 5 s" in r.out
    r = seeded("simulate", "--number", "+79161234567", "--did", "+74959999999",
               "--at", "2026-12-01T12:15:00+03:00", "--wait", "30")
    assert "skip: no_rule" in r.out
    assert "#0 'day' place_mismatch" in r.out and "#1 'night' not_applicable_at_loss" in r.out
    seeded("blacklist", "add", "+79161234567")
    r = seeded("simulate", "--number", "+79161234567", "--did", "+74950000000",
               "--at", "2026-12-01T12:15:00+03:00", "--wait", "30", "--json")
    assert json.loads(r.out)["reason"] == "blacklisted"
    seeded("switch", "off")
    r = seeded("simulate", "--number", "+79160000000", "--at", "2026-12-01T12:15:00+03:00", "--wait", "30")
    assert "skip: master_switch_off" in r.out


def test_bad_simulate_input(seeded: Run) -> None:
    base = ("simulate", "--number", "+79161234567")
    r = seeded(*base, "--at", "yesterday", "--wait", "3")
    assert r.code == 1 and "at:" in r.err and "ISO 8601" in r.err
    r = seeded(*base, "--at", "2026-12-01T12:15:00", "--wait", "-1")
    assert r.code == 1 and "wait" in r.err
    r = seeded(*base, "--did", "74x", "--at", "2026-12-01T12:15:00", "--wait", "1")
    assert r.code == 1 and "did" in r.err
    r = seeded(*base, "--at", "2026-12-01T12:15:00", "--tz", "Nowhere/City", "--wait", "1")
    assert r.code == 1 and "Nowhere/City" in r.err
    assert seeded("simulate", "--number", "1").code == 2  # --at and --wait are required


def test_simulate_against_an_export_file_before_importing_it(seeded: Run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "candidate.toml"
    assert seeded("export", "-o", str(f)).code == 0
    # in the candidate, "day" has no minimum wait any more
    f.write_text(f.read_text(encoding="utf-8").replace("min_wait_s = 5", "min_wait_s = 0"), encoding="utf-8")
    argv = ("simulate", "--number", "+79161234567", "--did", "+74950000000", "--at", "2026-12-01T12:15:00+03:00",
            "--wait", "3", "--json")
    assert json.loads(seeded(*argv).out)["decision"] == "skip"
    assert json.loads(seeded(*argv, "--catalog", str(f)).out)["rule"] == "day"
    r = seeded(*argv[:-1], "--catalog", str(tmp_path / "nope.toml"))
    assert r.code == 3 and "nope.toml" in r.err


def test_the_loss_is_shown_in_the_display_zone(seeded: Run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "fsworker.toml"
    config.write_text('[display]\ntimezone = "Europe/Moscow"\n', encoding="utf-8")
    argv = ("simulate", "--number", "+79161234567", "--did", "+74950000000", "--at", "2026-12-01T17:15:00Z",
            "--wait", "12")
    r = seeded("-c", str(config), *argv)
    assert r.code == 0 and "lost at 2026-12-01T20:15:00+03:00" in r.out, r.out + r.err
    r = seeded("-c", str(config), "--utc", *argv)
    assert "lost at 2026-12-01T17:15:00+00:00" in r.out, r.out
    # a time without an offset is read in the display zone too
    r = seeded("-c", str(config), *argv[:-4], "--at", "2026-12-01T20:15", "--wait", "12")
    assert "lost at 2026-12-01T20:15:00+03:00" in r.out, r.out
