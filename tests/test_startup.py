"""Start-up: the first frame is complete (every GPU and the rule rows, evaluated on the first
reading) and loads only what it needs; the rest loads when used."""

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
from tests.support.fake_nvml import FakeNvml
from tests.support.ui import build_monitor, screen_lines

#: Loaded when used, never for the first frame of a dashboard on this node's GPUs (the list
#: is kept in docs/performance.md).
LAZY = (
    "yaml",  # rule files; the built-in pack comes from its JSON mirror
    "gputop.rules.files",
    "httpx",  # Prometheus and Alertmanager
    "gputop.rules.prometheus",  # Prometheus' rules
    "gputop.sources.prometheus.api",
    "gputop.sources.prometheus.rulesapi",
    "gputop.rules.recent",
    "plotext",  # the detail charts
    "textual_plotext",
    "psutil",  # the host's view of the GPUs' processes: with the first one
    "gputop.rules.lint",  # `gputop rules check`
    "gputop.rules.checks",
    "hmac",  # to compare secrets
    "tomllib",  # a config file
)


def test_the_first_frame_loads_only_what_it_needs(fake_nvml: FakeNvml, tmp_path: Path) -> None:
    # what `gputop` does up to its first frame: config, monitor with NVML and the built-in
    # rules, the first reading with the rules evaluated on it, the app and its first screen
    code = (
        "import json, sys\n"
        "from gputop import cli\n"
        "from gputop.commands.build import build_monitor, settings_from_args\n"
        "args = cli.build_parser().parse_args([])\n"
        "monitor = build_monitor(settings_from_args(args))\n"
        "import gputop.ui.app, gputop.ui.screens.overview\n"
        "monitor.poll()\n"
        "assert monitor.rules.statuses and monitor.latest.gpus\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = fake_nvml.env(gpus=8, procs=0)  # psutil is for the processes' details
    env.update(XDG_CONFIG_HOME=str(tmp_path), HOME=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    loaded = set(json.loads(out.stdout))
    assert "gputop.rules.engine" in loaded and "gputop.sources.nvml" in loaded
    assert not loaded & set(LAZY), sorted(loaded & set(LAZY))


def test_the_rules_package_loads_its_names_on_first_use() -> None:
    import gputop.rules as rules

    assert rules.RulesEngine is RulesEngine
    assert rules.builtin_rules is builtin_rules
    assert set(rules.__all__) <= set(dir(rules))
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = rules.no_such_name


async def test_the_first_frame_shows_the_rule_rows() -> None:
    monitor = build_monitor()
    app = GpuTopApp(monitor, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(RulesPanel)
        assert panel.rows, "\n".join(screen_lines(app))
        assert {row.title.split(" ")[0] for row in panel.rows} >= {"GPUBusy"}


async def test_the_overview_resumes_through_textuals_handler_once() -> None:
    # Textual runs the resume handler of each class in the screen's MRO; the overview's own
    # must not call Screen's again (a second layout and paint of the first frame)
    monitor = build_monitor()
    app = GpuTopApp(monitor, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        overview = app.screen
        assert overview.stack_updates == 1  # resumed once
        await pilot.press("question_mark")  # the help screen over it, then back
        await pilot.pause()
        assert app.screen is not overview
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is overview
        assert overview.stack_updates == 3  # suspended once, resumed once


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
