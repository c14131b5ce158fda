"""Start-up: the first frame goes without what it does not need (the rules), which follows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gputop.rules.builtin import builtin_rules
from gputop.rules.engine import RulesEngine
from gputop.ui.app import GpuTopApp
from gputop.ui.widgets.rules_panel import RulesPanel
from tests.support.ui import build_monitor, screen_lines

RULE_LOADING = ("yaml", "gputop.rules.files", "gputop.rules.engine", "gputop.promql.evaluator")


def test_the_dashboard_imports_nothing_for_rules_before_its_first_frame() -> None:
    code = (
        "import json, sys\n"
        "import gputop.cli, gputop.sources.nvml, gputop.ui.app\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert "gputop.rules.model" in loaded
    assert not loaded & set(RULE_LOADING), sorted(loaded & set(RULE_LOADING))


def test_the_rules_package_loads_its_names_on_first_use() -> None:
    import gputop.rules as rules

    assert rules.RulesEngine is RulesEngine
    assert rules.builtin_rules is builtin_rules
    assert set(rules.__all__) <= set(dir(rules))
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = rules.no_such_name


async def test_rules_load_right_after_the_first_frame() -> None:
    monitor = build_monitor(rules=False)
    seen_while_loading: list[str] = []

    def load() -> None:
        text = "\n".join(screen_lines(app))
        seen_while_loading.append("loading rules…" if "loading rules…" in text else text)
        monitor.rules = RulesEngine(builtin_rules(), clock=monitor.clock)

    app = GpuTopApp(monitor, poll=False, load_rules=load)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert seen_while_loading == ["loading rules…"]
        panel = app.screen.query_one(RulesPanel)
        assert panel.rows, "the rules show as soon as they are loaded"
        assert {row.title.split(" ")[0] for row in panel.rows} >= {"GPUBusy"}


def test_a_bad_rule_file_stops_the_dashboard_before_it_starts(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: up >\n")
    out = subprocess.run(
        [sys.executable, "-m", "gputop", "--demo", "--rules", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TERM": "dumb"},
    )
    assert out.returncode == 2
    assert "bad.yml" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "\x1b[" not in out.stdout + out.stderr  # no screen was drawn
