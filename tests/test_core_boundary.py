"""Package boundaries at run time: the core and PromQL import no UI or I/O library; rules,
sources and the monitor import no UI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("textual", "rich", "httpx", "pynvml")


def _modules_after_import(module: str) -> set[str]:
    code = (
        "import importlib, json, pkgutil, sys\n"
        f"pkg = importlib.import_module({module!r})\n"
        "for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_core_imports_no_ui_or_io_library() -> None:
    loaded = _modules_after_import("gputop.core")
    assert "gputop" in loaded
    assert not loaded & set(HEAVY), f"gputop.core pulled in {sorted(loaded & set(HEAVY))}"


@pytest.mark.parametrize("module", ["gputop.sources", "gputop.monitor", "gputop.snapshot"])
def test_sources_and_monitor_import_no_ui(module: str) -> None:
    # rich may arrive through httpx (its command-line extra); the UI framework must not
    loaded = _modules_after_import(module) if module == "gputop.sources" else None
    if loaded is None:
        code = f"import {module}, sys, json; print(json.dumps(sorted(sys.modules)))"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        loaded = {m.split(".")[0] for m in json.loads(out.stdout)}
    assert "gputop" in loaded
    assert "textual" not in loaded


def test_promql_imports_no_ui_or_io_library() -> None:
    loaded = _modules_after_import("gputop.promql")
    assert "promql_parser" in loaded
    assert not loaded & set(HEAVY), f"gputop.promql pulled in {sorted(loaded & set(HEAVY))}"


def test_rules_import_no_ui() -> None:
    loaded = _modules_after_import("gputop.rules")
    assert "gputop" in loaded
    assert "textual" not in loaded
