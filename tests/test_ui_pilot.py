"""The dashboard driven by keys, as a person would, on the deterministic demo node."""

from __future__ import annotations

import re
from collections.abc import Callable

from textual.widgets import DataTable

from gputop.core.models import GPU_METRICS, ProcessSample, SourceState, SourceStatus
from gputop.ui.app import GpuTopApp
from gputop.ui.screens.detail import DetailScreen
from gputop.ui.screens.help import HelpScreen, help_sections
from gputop.ui.screens.overview import OverviewScreen
from gputop.ui.screens.processes import ProcessesScreen
from gputop.ui.views.processes import process_cells, sort_processes
from gputop.ui.widgets.gpu_panel import GpuPanel
from gputop.ui.widgets.metric_chart import MetricChart, chart_segments, time_ticks
from tests.support.ui import FaultySource, advance, build_app, build_monitor, screen_lines

# ---- overview navigation -----------------------------------------------------------


def _focused_index(app: GpuTopApp) -> int:
    focused = app.screen.focused
    assert isinstance(focused, GpuPanel)
    return focused.gpu.index


async def test_arrows_and_hjkl_move_focus_across_the_grid() -> None:
    app = build_app(rules=False)  # no rule rows to make room for: cards at 120x40
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)
        assert _focused_index(app) == 0
        moves = [
            ("right", 1),
            ("down", 3),  # two cards per row at 120 columns
            ("left", 2),
            ("j", 4),
            ("l", 5),
            ("k", 3),
            ("h", 2),
            ("up", 0),
            ("up", 0),  # nothing above the first row: focus stays
        ]
        for key, expected in moves:
            await pilot.press(key)
            assert _focused_index(app) == expected, key


async def test_enter_opens_the_detail_of_the_focused_gpu() -> None:
    app = build_app(rules=False)  # cards: down moves a row of two
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("down", "right", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        gpu3 = next(g for g in app.monitor.gpus() if g.index == 3)
        assert screen.key == gpu3.key
        text = "\n".join(screen_lines(app))
        assert "GPU 3 · A100-SXM4-80GB" in text
        assert gpu3.uuid in text
        assert "demo-node" in text
        assert "FAN n/a" in text  # the demo's datacenter parts report no fan
        assert "python -m t2v_serve" in text  # its process
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)
        assert _focused_index(app) == 3


# ---- detail screen ---------------------------------------------------------------


async def test_range_keys_change_the_charts_range_and_title() -> None:
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        for chart in screen.query(MetricChart):  # the app's rule thresholds, as given
            assert chart.thresholds == app.thresholds(screen.key, chart.metric.key)
        charts = list(screen.query(MetricChart))
        assert [c.metric.key for c in charts] == [m.key for m in GPU_METRICS]
        for key, label, span in (("1", "1m", 60), ("3", "15m", 900), ("4", "1h", 3600)):
            await pilot.press(key)
            await pilot.pause()
            assert screen.range_label == label
            text = "\n".join(screen_lines(app))
            assert f"last {label}" in text
            assert f"Memory used % · last {label}" in text
            for chart in charts:
                xs = [x for seg_x, _ in chart.segments for x in seg_x]
                assert xs, chart.metric.key
                assert min(xs) >= -span and max(xs) <= 0
                # an hour of history fills the range: the oldest point is near its start
                assert min(xs) < -0.9 * span
        await pilot.press("backspace")
        assert isinstance(app.screen, OverviewScreen)


async def test_detail_charts_redraw_only_when_shown_and_time_moved() -> None:
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("enter", "1")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        draws = 0

        def counting(original: Callable[..., None]) -> Callable[..., None]:
            def draw(*args: object, **kwargs: object) -> None:
                nonlocal draws
                draws += 1
                original(*args, **kwargs)

            return draw

        for chart in screen.query(MetricChart):
            chart.draw = counting(chart.draw)  # type: ignore[method-assign]
        app.refresh_screen()
        app.refresh_screen()
        assert draws == 0  # no time has passed: nothing to redraw
        advance(app, 1.0)
        assert draws == 4  # one step later: the four charts, once
        await pilot.press("p")
        await pilot.pause()
        advance(app, 5.0)
        assert draws == 4  # hidden under the processes screen: no work


async def test_without_a_thresholds_source_no_lines_are_drawn() -> None:
    class NoRules(GpuTopApp):
        def thresholds(self, gpu_key: str, metric_key: str) -> list[tuple[str, float]]:
            return []

    app = NoRules(build_monitor(), poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        charts = list(app.screen.query(MetricChart))
        assert charts and all(c.thresholds == [] for c in charts)


async def test_thresholds_from_the_app_are_drawn_as_lines() -> None:
    class WithRules(GpuTopApp):
        def thresholds(self, gpu_key: str, metric_key: str) -> list[tuple[str, float]]:
            return [("GPUTemperatureHigh", 85.0)] if metric_key == "temperature_c" else []

    app = WithRules(build_monitor(), poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        by_metric = {c.metric.key: c for c in app.screen.query(MetricChart)}
        assert by_metric["temperature_c"].thresholds == [("GPUTemperatureHigh", 85.0)]
        assert by_metric["memory_used_pct"].thresholds == []
        assert "GPUTemperatureHigh" in "\n".join(screen_lines(app))


def test_chart_segments_split_at_missing_values_and_time_jumps() -> None:
    points = [(0.0, 1.0), (1.0, 2.0), (2.0, None), (3.0, 4.0), (4.0, 5.0), (20.0, 6.0)]
    assert chart_segments(points, gap_s=2.5) == [
        ([0.0, 1.0], [1.0, 2.0]),
        ([3.0, 4.0], [4.0, 5.0]),
        ([20.0], [6.0]),
    ]
    assert chart_segments([(0.0, None), (1.0, None)], gap_s=2.5) == []


def test_time_ticks_read_as_time_ago() -> None:
    assert time_ticks(300.0) == (
        [-300.0, -240.0, -180.0, -120.0, -60.0, 0.0],
        ["-5m", "-4m", "-3m", "-2m", "-1m", "now"],
    )
    assert time_ticks(60.0)[1] == ["-1m", "-45s", "-30s", "-15s", "now"]


# ---- processes -------------------------------------------------------------------


def _column(app: GpuTopApp, key: str) -> list[str]:
    table = app.screen.query_one(DataTable)
    return [str(cell) for cell in table.get_column(key)]


def _gib(text: str) -> float:
    assert text.endswith("GiB"), text
    return float(text[:-3])


async def test_processes_sort_and_filter() -> None:
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ProcessesScreen)
        assert _column(app, "gpu") == [str(i) for i in range(8)]
        await pilot.press("m")
        mem = [_gib(t) for t in _column(app, "mem")]
        assert mem == sorted(mem, reverse=True) and mem[0] > mem[-1]
        assert "sort GPU MEM ↓" in str(screen.query_one(DataTable).border_title)
        await pilot.press("m")  # again: reversed
        assert [_gib(t) for t in _column(app, "mem")] == sorted(mem)
        assert "sort GPU MEM ↑" in str(screen.query_one(DataTable).border_title)
        await pilot.press("c")
        cpu = [float(t) for t in _column(app, "cpu")]
        assert cpu == sorted(cpu, reverse=True) and cpu[0] > cpu[-1]
        await pilot.press("p")
        pids = [int(t) for t in _column(app, "pid")]
        assert pids == sorted(pids)
        await pilot.press("p")
        assert [int(t) for t in _column(app, "pid")] == sorted(pids, reverse=True)
        await pilot.press("g")
        assert _column(app, "gpu") == [str(i) for i in range(8)]
        # the filter limits rows to one GPU
        await pilot.press("f")
        assert _column(app, "gpu") == ["0"]
        await pilot.press("f")
        assert _column(app, "gpu") == ["1"]
        assert "GPU 1" in str(app.screen.query_one(DataTable).border_title)
        await pilot.press("5")
        assert _column(app, "gpu") == ["5"]
        assert all("cuda:5" in c for c in _column(app, "command"))
        await pilot.press("5")  # the same digit again: all GPUs
        assert len(_column(app, "gpu")) == 8
        for _ in range(8):
            await pilot.press("f")
        assert _column(app, "gpu") == ["7"]
        await pilot.press("f")  # past the last GPU: all again
        assert len(_column(app, "gpu")) == 8
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_processes_refresh_keeps_the_cursor_on_its_process() -> None:
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("p", "c", "down", "down")
        screen = app.screen
        assert isinstance(screen, ProcessesScreen)
        table = screen.query_one(DataTable)
        chosen = screen.row_keys[table.cursor_row]
        before = screen.row_keys
        moved = False
        for _ in range(30):  # CPU % changes with the job phases: rows change order
            advance(app, 1.0)
            await pilot.pause()
            moved = moved or screen.row_keys != before
            assert screen.row_keys[table.cursor_row] == chosen
        assert moved, "the order never changed: the test proved nothing"


def test_missing_process_values_read_na_and_sort_last() -> None:
    procs = [
        ProcessSample(0, "u0", 10, 1000.0, "a", "x", 5.0, 0.0),
        ProcessSample(1, "u1", 11, None, None, None, None, None),
        ProcessSample(2, "u2", 12, 3000.0, "b", "y", 1.0, 0.0),
    ]
    assert [p.pid for p in sort_processes(procs, "mem", True)] == [12, 10, 11]
    assert [p.pid for p in sort_processes(procs, "mem", False)] == [10, 12, 11]
    assert [p.pid for p in sort_processes(procs, "cpu", True)] == [10, 12, 11]
    cells = process_cells(procs[1], now=100.0)
    assert cells == ("1", "11", "n/a", "n/a", "n/a", "n/a", "n/a", "n/a")


# ---- help ------------------------------------------------------------------------


async def test_help_lists_every_key_and_closes() -> None:
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for close in ("escape", "question_mark", "q"):
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            text = "\n".join(screen_lines(app))
            for title, rows in help_sections(app):
                assert title in text
                for keys, desc in rows:
                    assert desc in text
                    assert keys in text
            await pilot.press(close)
            await pilot.pause()
            assert isinstance(app.screen, OverviewScreen), close
        assert app.is_running  # q closed the help, it did not quit


def test_help_is_built_from_the_screens_bindings() -> None:
    app = build_app()
    sections = dict(help_sections(app))
    assert ("1", "Last 1m") in sections["GPU detail"]
    assert ("esc ⌫", "Back") in sections["GPU detail"]
    assert ("← h", "move ←") in sections["Overview"]
    assert any(keys.startswith("0 1 2") for keys, _ in sections["Processes"])
    assert ("q", "Quit") in sections["Everywhere"]


# ---- layout, lost GPUs, missing values -------------------------------------------

# a compact line: the GPU's index, then its MEM %, TEMP °C, UTIL % and PWR W readings
_COMPACT_LINE = re.compile(r"^[ ▶][ ●◐○] *(?P<index>\d+)▕.*?\d+%.*?\d+°C.*?\d+%.*?\d+W")
# a lost GPU: since when (clock time and how long ago) and why
_LOST = re.compile(r"LOST since \d\d:\d\d:\d\d \(\w+\) — GPU has fallen off the bus")


async def test_resize_to_80x24_switches_to_one_line_per_gpu() -> None:
    app = build_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        panels = list(app.screen.query(GpuPanel))
        assert len(panels) == 8 and not any(p.compact for p in panels)
        assert "GPU 7 · A100-SXM4-80GB" in "\n".join(screen_lines(app))
        cols = len({p.region.x for p in panels})
        assert cols == 3
        await pilot.press("down")  # down follows the number of columns
        assert _focused_index(app) == cols
        await pilot.press("j")
        assert _focused_index(app) == 2 * cols
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert all(p.compact for p in panels)
        lines = screen_lines(app)
        assert len(lines) == 24
        header = next(line for line in lines if "TEMP" in line).split()
        assert {"MEM", "TEMP", "UTIL", "PWR"} <= set(header)
        rows = [m for m in (_COMPACT_LINE.match(line) for line in lines) if m]
        assert [int(m["index"]) for m in rows] == list(range(8))
        for panel in panels:  # every panel is inside the screen
            assert panel.region.bottom <= 24 and panel.region.right <= 80
        await pilot.press("up")  # one column now: up moves by one line
        assert _focused_index(app) == 2 * cols - 1


async def test_a_lost_gpu_says_lost_in_place() -> None:
    app = build_app(lost=[2])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        panel = next(p for p in app.screen.query(GpuPanel) if p.gpu.index == 2)
        lines = screen_lines(app)
        region = panel.region
        inside = [lines[y][region.x : region.right] for y in range(region.y, region.bottom)]
        assert any(_LOST.search(row) for row in inside)
        others = [p for p in app.screen.query(GpuPanel) if p.gpu.index != 2]
        for other in others:
            r = other.region
            assert not any("LOST" in lines[y][r.x : r.right] for y in range(r.y, r.bottom))
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        row = next(line for line in screen_lines(app) if re.match(r"^[ ▶][ ●◐○] 2▕", line))
        assert _LOST.search(row), row


async def test_a_gpu_lost_while_watched_leaves_a_gap() -> None:
    monitor = build_monitor()
    app = GpuTopApp(monitor, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("right", "right", "enter", "1")  # GPU 2, last minute
        await pilot.pause()
        lost_at = monitor.clock.now()
        monitor.local = FaultySource(monitor.local, lost=[2])  # type: ignore[arg-type]
        for _ in range(20):
            advance(app, 1.0)
        await pilot.pause()
        text = "\n".join(screen_lines(app))
        assert "LOST since 12:00:01 (19s) — GPU has fallen off the bus" in text, text
        now = monitor.clock.now()
        for chart in app.screen.query(MetricChart):
            xs = [x for seg_x, _ in chart.segments for x in seg_x]
            assert xs and max(xs) <= lost_at - now + 0.5, chart.metric.key


async def test_missing_values_never_render_as_zero_or_nan() -> None:
    missing = {1: ("temperature_c", "power_w", "utilization_gpu_pct")}
    app = build_app(missing=missing, rules=False)  # cards, with a line per metric
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        panel = next(p for p in app.screen.query(GpuPanel) if p.gpu.index == 1)
        lines = screen_lines(app)
        r = panel.region
        inside = [lines[y][r.x : r.right] for y in range(r.y, r.bottom)]
        for label in ("TEMP", "UTIL", "PWR"):
            row = next(line for line in inside if label in line)
            assert row.rstrip(" │").endswith("n/a"), row
            assert not re.search(r"\b0(°C|%|W)", row), row
        assert "nan" not in "\n".join(lines).lower()
        await pilot.press("right", "enter")
        await pilot.pause()
        text = "\n".join(screen_lines(app))
        assert "TEMP n/a" in text and "UTIL n/a" in text and "POWER n/a of 400W" in text
        assert "nan" not in text.lower()
        by_metric = {c.metric.key: c for c in app.screen.query(MetricChart)}
        for key in ("temperature_c", "power_w", "utilization_gpu_pct"):
            assert by_metric[key].segments == [], key  # nothing drawn, no line at zero
        assert by_metric["memory_used_pct"].segments


async def test_compact_lines_of_a_failing_source_are_marked_stale_in_text() -> None:
    app = build_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        monitor = app.monitor
        name = monitor.local_name
        assert name is not None
        assert not any("✖" in line[:6] for line in screen_lines(app)[2:10])
        last_ok = monitor.state(name).last_ok
        monitor._set(name, SourceState(SourceStatus.ERROR, "NVML call failed", last_ok))
        app.refresh_screen()
        await pilot.pause()
        rows = [line for line in screen_lines(app) if "▕" in line[:6] or "✖" in line[:6]]
        assert len(rows) == 8 and all(line[4] == "✖" for line in rows), rows  # no colour needed
        monitor._set(name, SourceState(SourceStatus.OK, None, last_ok))
        app.refresh_screen()
        await pilot.pause()
        rows = [line for line in screen_lines(app) if "▕" in line[:6] or "✖" in line[:6]]
        assert len(rows) == 8 and all(line[4] == "▕" for line in rows), rows
