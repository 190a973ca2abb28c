"""What the README and the example configuration point to exists, and what they list works."""

from __future__ import annotations

import re
import xml.dom.minidom
from pathlib import Path

import pytest

from fsworker.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {p: (ROOT / p).read_text(encoding="utf-8") for p in ("README.md", "fsworker.example.toml", "CHANGELOG.md",
                                                            "templates/dialplan/README.md",
                                                            "examples/fake-switch-walkthrough.md")}
_PATH_RE = re.compile(r"(?<![\w/.])((?:docs|examples|templates|contrib|bench|fsworker)/[\w./\-]+\.\w+)")


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_every_repository_file_a_document_names_exists(doc: str) -> None:
    named = {p for p in _PATH_RE.findall(DOCS[doc]) if "/var/" not in p}  # var/: made at run time
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"{doc} points to files that do not exist: {missing}"


def test_the_readme_links_the_walkthrough_license_and_changelog() -> None:
    assert "(examples/fake-switch-walkthrough.md)" in README
    assert "(LICENSE)" in README and "(CHANGELOG.md)" in README
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def _actions(parser, *path: str) -> set[str]:  # type: ignore[no-untyped-def]
    import argparse

    for word in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def test_every_entity_action_the_cli_reference_lists_exists() -> None:
    parser = build_parser()
    rows = [r for r in re.findall(r"^\| `fsworker ([a-z|\\]+) ([a-z|\\]+)` \|", README, re.M) if "add" in r[1]]
    assert rows, "no entity rows found in the CLI reference"
    for groups, actions in rows:
        for group in groups.replace("\\", "").split("|"):
            listed = set(actions.replace("\\", "").split("|"))
            assert listed <= _actions(parser, group), (group, listed - _actions(parser, group))


@pytest.mark.parametrize("path", ["templates/freeswitch/event_socket.conf.xml", "templates/dialplan/fsworker_example.xml"])
def test_the_freeswitch_examples_are_well_formed(path: str) -> None:
    text = (ROOT / path).read_text(encoding="utf-8")
    xml.dom.minidom.parseString(f"<root>{text}</root>" if not text.lstrip().startswith("<?xml") else text)


def test_the_event_socket_example_restricts_inbound_connections() -> None:
    text = (ROOT / "templates/freeswitch/event_socket.conf.xml").read_text(encoding="utf-8")
    doc = xml.dom.minidom.parseString(f"<root>{text}</root>")
    params = {p.getAttribute("name"): p.getAttribute("value") for p in doc.getElementsByTagName("param")}
    assert params["listen-ip"] == "127.0.0.1" and params["apply-inbound-acl"] == "fsworker"
    assert params["password"] != "ClueCon"
    assert '<list name="fsworker" default="deny">' in text and 'cidr="127.0.0.1/32"' in text


def test_the_dialplan_readme_covers_mod_fifo_beside_mod_callcenter() -> None:
    text = DOCS["templates/dialplan/README.md"]
    assert "mod_callcenter" in text and "mod_fifo" in text
    assert 'application="fifo"' in (ROOT / "templates/dialplan/fsworker_example.xml").read_text(encoding="utf-8")
