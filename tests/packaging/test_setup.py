"""Packaging: every folder of Python code under fsworker/ is a package setup.py finds,
so an install neither warns (BuildBackendWarning) nor leaves modules behind."""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]


def test_every_folder_with_python_code_is_a_found_package() -> None:
    found = set(find_packages(str(ROOT), include=["fsworker", "fsworker.*"]))
    folders = {p.parent for p in (ROOT / "fsworker").rglob("*.py") if "__pycache__" not in p.parts}
    names = sorted(".".join(f.relative_to(ROOT).parts) for f in folders)
    missing = [name for name in names if name not in found]
    assert not missing, f"folders with .py files that are not packages (add an __init__.py): {missing}"

