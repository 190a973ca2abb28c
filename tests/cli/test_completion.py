"""``fsworker completion bash``: the script bash sources completes what the parser knows."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FSWORKER = Path(sys.executable).parent / "fsworker"


def complete(*words: str, cwd: Path) -> list[str]:
    """COMPREPLY for the command line ``words`` (the last one being completed)."""
    quoted = " ".join(f"'{w}'" for w in words)
    script = (f'source <("{FSWORKER}" completion bash) && COMP_WORDS=({quoted}) && '
              f'COMP_CWORD={len(words) - 1} && _fsworker && printf "%s\\n" "${{COMPREPLY[@]}}"')
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=cwd, check=False)
    assert out.returncode == 0 and not out.stderr, out.stderr
    return sorted(x for x in out.stdout.splitlines() if x)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_commands_subcommands_options_and_choices(tmp_path: Path) -> None:
    (tmp_path / "fsworker.toml").write_text("", encoding="utf-8")
    assert complete("fsworker", "s", cwd=tmp_path) == ["scenarios", "schedules", "simulate", "sites", "stats",
                                                       "switch"]
    assert complete("fsworker", "--utc", "tasks", "", cwd=tmp_path) == ["--help", "-h", "cancel", "list", "show"]
    assert complete("fsworker", "-c", "x.toml", "tasks", "list", "--s", cwd=tmp_path) == ["--since", "--status"]
    assert complete("fsworker", "stats", "--", cwd=tmp_path) == ["--help", "--json", "--since", "--until"]
    assert complete("fsworker", "import", "f.toml", "--d", cwd=tmp_path) == ["--dry-run"]
    assert complete("fsworker", "completion", "", cwd=tmp_path) == ["--help", "-h", "bash"]
    assert complete("fsworker", "-c", "fs", cwd=tmp_path) == ["fsworker.toml"]  # a file name after -c


def test_every_command_of_the_parser_is_in_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    from fsworker.cli.main import COMMAND_MODULES, main

    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    root = next(line for line in script.splitlines() if line.strip().startswith("[fsworker]="))
    for name in COMMAND_MODULES:
        command = {"fake_switch": "fake-switch", "config_io": "export", "entities": "employees"}.get(name, name)
        assert f" {command}" in root, command
