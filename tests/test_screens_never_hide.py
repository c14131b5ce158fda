"""The other screens tell the truth too: a GPU's detail lists its rules and takes the worst
state's colour, a threshold the metric cannot reach is listed as off-scale instead of
squashing the chart; the fleet has a cursor and Enter opens a GPU; footers show whole keys at
80x24; the help fits or says that it scrolls; `r` retries a failing source now."""

from __future__ import annotations

import re

import pytest

from gputop.core.models import SourceState, SourceStatus
from gputop.rules.model import RuleStatus
from gputop.ui.app import GpuTopApp
from gputop.ui.screens.detail import DetailScreen
from gputop.ui.screens.fleet import FleetScreen
from gputop.ui.screens.help import HelpScreen
from gputop.ui.screens.overview import OverviewScreen
from gputop.ui.views.thresholds import chart_thresholds
from gputop.ui.widgets.fleet_table import FleetTable
from gputop.ui.widgets.key_bar import KeyBar, KeyItem, fit_keys
from gputop.ui.widgets.metric_chart import MetricChart
from tests.support.rulestates import (
    FixedRules,
    StandInFleet,
    build_fleet_app,
    build_states_app,
)
from tests.support.ui import START, build_monitor, screen_lines

pytestmark = pytest.mark.usefixtures("stable_environment")


# ---- the detail screen ----------------------------------------------------------------------


async def test_the_detail_of_a_firing_gpu_lists_its_rules_in_the_worst_colour() -> None:
    app = build_states_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("down", "down", "down", "enter")  # GPU 3: GPUTemperatureHigh fires
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        box = screen.query_one("#identity")
        assert box.has_class("-firing") and not box.has_class("-alert")
        text = "\n".join(screen_lines(app))
        assert re.search(r"● FIRING +GPUTemperatureHigh  95 vs > 85  firing since 11:51:00", text)
        assert re.search(r"OK +GPUHighMemoryUsage  43 vs > 90", text)
        await pilot.press("escape", "up", "up", "up", "enter")  # GPU 0: pending and near
        await pilot.pause()
        box = app.screen.query_one("#identity")
        assert box.has_class("-alert") and not box.has_class("-firing")
        assert "◐ PENDING GPUBusy  0.97 vs > 0.95  fires in 4m30s" in "\n".join(screen_lines(app))


async def test_a_threshold_the_metric_cannot_reach_is_listed_not_drawn() -> None:
    monitor = build_monitor(rules=False)
    gpu = monitor.gpus()[0]
    # the article's mistake: a 0-1 ratio compared with 95 (9500 % on the utilization chart)
    busy = RuleStatus(
        "GPUBusyPercent", "ok", value=0.4, op=">", threshold=95.0,
        query="DCGM_FI_PROF_GR_ENGINE_ACTIVE", labels={"gpu": "0", "Hostname": gpu.host},
    )  # fmt: skip
    hot = RuleStatus(
        "GPUTemperatureHigh", "near", value=80.0, op=">", threshold=85.0,
        query="DCGM_FI_DEV_GPU_TEMP", labels={"gpu": "0", "Hostname": gpu.host},
    )  # fmt: skip
    clock = monitor.clock
    monitor.rules = FixedRules([hot, busy], clock, "team-rules.yml")  # type: ignore[arg-type]
    util = chart_thresholds([busy, hot], gpu, "utilization_gpu_pct")
    assert util.lines == () and len(util.off_scale) == 1
    assert util.off_scale[0].startswith("GPUBusyPercent > 95: off-scale, 9500% on a 0–100%")
    app = GpuTopApp(monitor, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        charts = {c.metric.key: c for c in app.screen.query(MetricChart)}
        assert charts["utilization_gpu_pct"].thresholds == []  # the chart keeps 0-100 %
        assert charts["temperature_c"].thresholds == [("GPUTemperatureHigh", 85.0)]
        text = "\n".join(screen_lines(app))
        assert "GPUBusyPercent > 95: off-scale, 9500% on a 0–100% chart" in text
        assert "9500" not in "".join(line for line in text.splitlines() if "┤" in line)


# ---- the fleet --------------------------------------------------------------------------------


async def test_the_fleet_cursor_moves_over_gpus_and_enter_opens_one() -> None:
    app = build_fleet_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        table = screen.query_one(FleetTable)
        assert table.cursor_key == screen.gpu_keys[0]
        lines = screen_lines(app)
        marked = [line for line in lines if line.lstrip().startswith("▶")]
        assert len(marked) == 1 and "gpu-node-a" in marked[0]
        await pilot.press(*["down"] * 9)  # past gpu-node-b's heading: GPU lines only
        await pilot.pause()
        assert table.cursor_key == screen.gpu_keys[9] == "GPU-gpu-node-b-1"
        line = next(x for x in screen_lines(app) if re.search(r"gpu-node-b +1 H100", x))
        assert line.lstrip().startswith("▶"), line
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen) and app.screen.key == "GPU-gpu-node-b-1"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen) and table.cursor_key == "GPU-gpu-node-b-1"
        await pilot.press("t")  # sorted again: the cursor starts on the worst GPU
        await pilot.pause()
        assert table.cursor_key == screen.gpu_keys[0] == "GPU-gpu-node-b-6"


async def test_an_empty_fleet_offers_no_fleet_keys() -> None:
    app = build_fleet_app()
    remote = app.monitor.remote
    assert remote is not None
    remote.gpus = lambda: ()  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        footer = screen_lines(app)[-1]
        assert "esc Back" in footer
        for words in ("Temp", "Memory", "Util", "Node", "Detail"):
            assert words not in footer, footer


# ---- whole keys in every footer at 80x24 --------------------------------------------------------


def test_fit_keys_leaves_out_whole_keys_never_help_or_quit() -> None:
    items = [
        KeyItem("t", "Temp", "t", "sort"),
        KeyItem("q", "Quit", "q", "quit"),
        KeyItem("?", "Help", "question_mark", "help"),
        KeyItem("p", "Processes", "p", "processes"),
        KeyItem("f", "Fleet", "f", "fleet"),
    ]
    assert fit_keys(items, 80) == items
    assert [i.description for i in fit_keys(items, 30)] == ["Temp", "Quit", "Help"]
    assert [i.description for i in fit_keys(items, 10)] == ["Quit", "Help"]  # pinned


@pytest.mark.parametrize(
    "keys", [[], ["enter"], ["p"], ["f"], ["tab"]], ids=lambda k: k[0] if k else "overview"
)
async def test_every_footer_at_80x24_shows_whole_keys(keys: list[str]) -> None:
    app = build_fleet_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
        bar = app.screen.query_one(KeyBar)
        footer = screen_lines(app)[-1]
        assert bar.shown, footer
        for item in bar.shown:
            assert f"{item.keys} {item.description}" in footer  # never cut
        assert "? Help" in footer and "q Quit" in footer
        assert len(footer.rstrip()) <= 80


# ---- the help ---------------------------------------------------------------------------------


async def test_the_help_fits_wide_terminals_and_says_when_it_scrolls() -> None:
    app = build_states_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(screen_lines(app))
        assert "States and marks" in text and "◐ PENDING" in text
        assert "Fleet marks" not in text  # no Prometheus: no fleet, nothing of it listed
        assert "more below" not in text  # two columns: all of it in view
        await pilot.press("escape")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.pause()
        assert "↓ more below · ↑↓ PgDn scroll" in "\n".join(screen_lines(app))
        await pilot.press("end")
        await pilot.pause()
        await pilot.pause()
        text = "\n".join(screen_lines(app))
        assert "↑ more above" in text and "STALE" in text


# ---- r: retry now -----------------------------------------------------------------------------


async def test_r_is_offered_while_a_source_fails_and_retries_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = build_fleet_app()
    monitor = app.monitor
    remote = monitor.remote
    assert isinstance(remote, StandInFleet)
    retried: list[bool] = []
    monkeypatch.setattr(remote, "retry_now", lambda: retried.append(True))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "r Retry now" not in screen_lines(app)[-1]
        failing = SourceState(SourceStatus.ERROR, "unreachable: connection refused",
                              last_ok=START - 20, retry_at=START + 6)  # fmt: skip
        remote.state = failing
        monitor._set("prometheus", failing)
        app.refresh_screen()
        await pilot.pause()
        lines = screen_lines(app)
        assert "✖ prometheus: unreachable: connection refused, stale 20s, retry in 6s" in lines[0]
        assert "r Retry now" in lines[-1]
        engine = monitor.rules
        assert engine is not None
        engine.error, engine._retry_at = "unreachable", START + 6
        await pilot.press("r")
        assert retried == [True] and engine.retry_at is not None and engine.retry_at <= START
        # the latency panel says why it has nothing
        assert "no latency data: Prometheus unreachable: connection refused" in "\n".join(
            screen_lines(app)
        )


async def test_a_gpu_lost_while_watched_keeps_its_rule_rows_as_unknown() -> None:
    from tests.support.ui import FaultySource, advance, build_app

    app = build_app()
    async with app.run_test(size=(120, 60)) as pilot:
        await pilot.pause()
        before = [s for s in app.monitor.rule_statuses() if s.labels.get("gpu") == "2"]
        assert before and all(s.state != "unknown" for s in before)
        app.monitor.local = FaultySource(app.monitor.local, lost=[2])  # type: ignore[arg-type]
        advance(app, 1.0)
        await pilot.pause()
        after = [s for s in app.monitor.rule_statuses() if s.labels.get("gpu") == "2"]
        assert {s.name for s in after} == {s.name for s in before}
        assert {(s.state, s.reason) for s in after} == {("unknown", "GPU lost")}
        lines = screen_lines(app)
        assert "✖ 1 GPU lost" in lines[0]
        assert isinstance(app.screen, OverviewScreen)
        text = "\n".join(lines)
        for status in after:
            assert f"? UNKNOWN {status.name} · GPU 2 @ demo-node — GPU lost" in text, text
