"""The suite's own layout holds: no test module imports another (what several share lives in
tests/support/), so a test file can be read, moved or run on its own."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_test_module_imports_another() -> None:
    modules = sorted(TESTS.rglob("*.py"))
    assert len(modules) > 50  # the whole suite was read
    found = {
        f"{path.relative_to(TESTS)} imports {name}"
        for path in modules
        for name in _imported(path)
        if name.startswith("tests.test_") or name.startswith("test_")
    }
    assert not found, sorted(found)
