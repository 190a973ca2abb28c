"""The shape of the code, checked: no function in fsworker/ is longer than MAX_LINES.

A function that needs more has a decision inside it waiting to be taken out and tested
on its own (STYLE.md, "Layers you can see")."""

from __future__ import annotations

import ast
from pathlib import Path

import fsworker

PACKAGE = Path(fsworker.__file__).parent
MAX_LINES = 80

#: Functions allowed over the limit, each with the reason. Keep this empty.
EXEMPT: set[tuple[str, str]] = set()


def long_functions(root: Path, max_lines: int) -> list[tuple[str, str, int]]:
    """(file, qualified name, lines) of every function or method over ``max_lines``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        stack: list[tuple[ast.AST, str]] = [(tree, "")]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}{child.name}"
                    if not isinstance(child, ast.ClassDef):
                        lines = (child.end_lineno or child.lineno) - child.lineno + 1
                        if lines > max_lines:
                            found.append((rel, name, lines))
                    stack.append((child, f"{name}."))
                else:
                    stack.append((child, prefix))
    return sorted(found)


def test_no_function_is_over_the_limit() -> None:
    over = [(f, name, n) for f, name, n in long_functions(PACKAGE, MAX_LINES) if (f, name) not in EXEMPT]
    assert not over, f"functions over {MAX_LINES} lines (split them into their steps):\n" + "\n".join(
        f"  {f}: {name} ({n} lines)" for f, name, n in over
    )


def test_every_exemption_is_still_needed() -> None:
    # An exemption outliving its reason would hide the next long function of that name.
    still_long = {(f, name) for f, name, _ in long_functions(PACKAGE, MAX_LINES)}
    assert still_long >= EXEMPT, f"no longer over {MAX_LINES} lines, remove from EXEMPT: {EXEMPT - still_long}"


def test_the_check_sees_long_functions(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(81))
    (tmp_path / "m.py").write_text(f"class C:\n    def f(self):\n    {body.replace(chr(10), chr(10) + '    ')}\n"
                                   f"def g():\n{body}\n", encoding="utf-8")
    assert long_functions(tmp_path, MAX_LINES) == [("m.py", "C.f", 82), ("m.py", "g", 82)]
