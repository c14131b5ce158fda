"""The backtest in the dashboard: past firing windows on a GPU's detail charts, and `b`
opening a rule's backtest in a worker that shows its progress, can be cancelled and never
holds the UI up. The demo node (fixed seed, fake clock): its GPU 3 runs hot now and then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import pytest
from textual.pilot import Pilot

from gputop.rules.backtest.localfeed import LocalEngine
from gputop.sources.prometheus.api import PromSeries
from gputop.ui.screens.backtest import BacktestScreen
from gputop.ui.screens.detail import DetailScreen
from gputop.ui.screens.overview import OverviewScreen
from gputop.ui.widgets.metric_chart import FIRED_MARK, MetricChart
from gputop.ui.widgets.rules_panel import RulesPanel
from tests.support.ui import advance, build_app, fixed_utc, screen_lines


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    with fixed_utc():
        yield


async def _settle(pilot: Pilot[int]) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_a_gpus_past_firing_windows_are_drawn_on_its_metrics_time_axis() -> None:
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("down", "right", "enter", "4")  # GPU 3 (a card), the last hour
        await _settle(pilot)
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        charts = {c.metric.key: c for c in screen.query(MetricChart)}
        windows = charts["temperature_c"].firing
        assert windows, "GPU 3 ran over 85 °C for a minute in the last hour"
        assert all(not charts[k].firing for k in ("memory_used_pct", "power_w"))
        ring = app.monitor.store.get(screen.key, "temperature_c")
        assert ring is not None
        now = app.monitor.clock.now()
        for start, end in windows:
            assert -3600.0 <= start <= end <= 0.0
            # firing at `start`: above 85 °C, and for the minute before it (`for: 1m`)
            held = [v for _, v in ring.window(now + start - 60.0, now + start) if v is not None]
            assert held and min(held[-3:]) > 85.0 and max(held) > 85.0
        text = "\n".join(screen_lines(app))
        assert f"Temperature °C · last 1h · {FIRED_MARK} fired" in text
        assert FIRED_MARK * 2 in text
        assert "b Backtest" in text


async def test_b_on_a_rule_row_opens_its_backtest_over_the_panels_range() -> None:
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("tab")
        panel_rule = app.screen.query_one("#rules", RulesPanel).selected
        assert panel_rule is not None
        await pilot.press("b")
        screen = app.screen
        assert isinstance(screen, BacktestScreen)
        assert screen.names == (panel_rule.name,)
        await _settle(pilot)
        assert not screen.running
        text = "\n".join(screen_lines(app))
        assert f"Backtest · {panel_rule.name} · last 10m" in text
        assert "done: 1 rule over 10m" in text
        assert "as written" in screen.report_text and panel_rule.name in screen.report_text
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_b_on_the_detail_backtests_the_gpus_rules_over_the_chart_range() -> None:
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("down", "right", "enter", "3", "b")
        screen = app.screen
        assert isinstance(screen, BacktestScreen)
        assert "GPUTemperatureHigh" in screen.names and screen.range_s == 900.0
        await _settle(pilot)
        assert "GPUTemperatureHigh" in screen.report_text


async def test_a_slow_backtest_shows_progress_never_holds_the_ui_and_can_be_cancelled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stalled = asyncio.Event()

    async def slow(
        self: LocalEngine, expr: str, start: float, end: float, step: float
    ) -> Sequence[PromSeries]:
        await stalled.wait()  # an engine that does not answer
        return ()

    monkeypatch.setattr(LocalEngine, "query_range", slow)
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("tab", "b")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, BacktestScreen) and screen.running
        progress = str(screen.query_one("#progress").render())
        assert "0/" in progress and "queries" in progress and "c: cancel" in progress
        before = screen_lines(app)[0]
        advance(app, 5.0)  # the dashboard goes on: its clock moves while the engine stalls
        await pilot.pause()
        assert screen_lines(app)[0] != before
        assert "c Cancel" in "\n".join(screen_lines(app))
        await pilot.press("c")
        await pilot.pause()
        assert not screen.running
        assert str(screen.query_one("#progress").render()) == "cancelled"
        assert not [w for w in app.workers if w.group == "backtest" and w.is_running]
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_a_rule_name_from_outside_is_shown_as_plain_visible_text() -> None:
    from gputop.rules.engine import RulesEngine
    from gputop.rules.model import RuleDef

    app = build_app()
    name = "Hot[/][@click=app.quit]\x1b]0;owned\x07"
    monitor = app.monitor
    monitor.rules = RulesEngine(
        [RuleDef(name=name, expr="DCGM_FI_DEV_GPU_TEMP > 30", interval_s=30.0)],
        clock=monitor.clock,
    )
    monitor.evaluate_rules()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("tab", "b")
        await _settle(pilot)
        screen = app.screen
        assert isinstance(screen, BacktestScreen) and screen.names == (name,)
        text = "\n".join(screen_lines(app))
        assert "Hot[/][@click=app.quit]␛]0;owned␇" in text
        assert "\x1b" not in screen.report_text and "\x07" not in screen.report_text
        assert app.is_running
