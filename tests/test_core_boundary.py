"""Package boundaries at run time: the core and PromQL import no UI or I/O library; rules,
sources and the monitor import no UI; each layer loads nothing of the layers above it
(docs/architecture.md), and the dashboard's screens load neither the app nor each other."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("textual", "rich", "httpx", "pynvml")


def _modules_after_import(module: str, *, full: bool = False) -> set[str]:
    name = "m" if full else "m.split('.')[0]"
    code = (
        "import importlib, json, pkgutil, sys\n"
        f"pkg = importlib.import_module({module!r})\n"
        "for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        f"print(json.dumps(sorted({name} for m in sys.modules)))\n"
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


#: Each layer, and what must not be loaded by importing every module of it.
ABOVE = {
    "gputop.sources": ("gputop.rules", "gputop.config", "gputop.monitor", "gputop.ui"),
    "gputop.rules": ("gputop.config", "gputop.monitor", "gputop.ui", "gputop.commands"),
    "gputop.config": ("gputop.monitor", "gputop.ui", "gputop.commands", "gputop.cli"),
    "gputop.ui.views": ("gputop.ui.app", "gputop.ui.screens", "gputop.commands"),
}


@pytest.mark.parametrize("layer", sorted(ABOVE))
def test_a_layer_loads_nothing_above_it(layer: str) -> None:
    loaded = _modules_after_import(layer, full=True)
    assert layer in loaded
    above = sorted(m for m in loaded if m.startswith(ABOVE[layer]))
    assert not above, f"{layer} loaded {above}"


def test_the_screens_load_neither_the_app_nor_each_other() -> None:
    pages = ("alerts", "detail", "fleet", "help", "overview", "processes", "silence")
    for page in pages:
        module = f"gputop.ui.screens.{page}"
        code = f"import {module}, sys, json; print(json.dumps(sorted(sys.modules)))"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        loaded = set(json.loads(out.stdout))
        others = {f"gputop.ui.screens.{p}" for p in pages if p != page}
        assert "gputop.ui.app" not in loaded, module
        assert not loaded & others, f"{module} loaded {sorted(loaded & others)}"
