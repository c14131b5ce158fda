"""The fleet screen: every GPU Prometheus sees, grouped by node, sorted, scrolled, kept current.

Most tests drive the dashboard with a small stand-in for the Prometheus source; the last one
reads a real engine (Prometheus, VictoriaMetrics) scraping the simulated dcgm-exporter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from textual.geometry import Region
from textual.pilot import Pilot

import gputop.ui.views.fleet as fleet_module
from gputop.core.clock import FakeClock, RealClock
from gputop.core.models import GpuSample, SourceState, SourceStatus
from gputop.monitor import Monitor
from gputop.rules.engine import RulesEngine
from gputop.rules.model import RuleStatus
from gputop.sources.prometheus import PrometheusClient
from gputop.sources.prometheus.feed import PrometheusSource
from gputop.ui.app import GpuTopApp
from gputop.ui.screens.fleet import FleetScreen
from gputop.ui.screens.overview import OverviewScreen
from gputop.ui.views.fleet import (
    NO_PROMETHEUS,
    FleetLayout,
    GpuRow,
    NodeRow,
    fleet_rows,
    pod_text,
)
from gputop.ui.views.readings import SparkSpec
from gputop.ui.widgets.fleet_table import FleetTable, Line, changed_until
from tests.support.prometheus_server import ENGINES, PromStack
from tests.support.ui import START, build_app, screen_lines

HOSTS = ("node-a", "node-b")
# per node, per GPU index: (temperature °C, memory used %, utilization %)
READINGS = {
    "node-a": [(50, 10, 90), (71, 20, 5), (55, 95, 40), (60, 30, 41),
               (45, 40, 42), (52, 50, 43), (58, 60, 44), (47, 70, 45)],
    "node-b": [(66, 11, 10), (88, 21, 20), (62, 31, 99), (64, 41, 30),
               (40, 51, 31), (61, 61, 32), (63, 71, 33), (59, 80, 34)],
}  # fmt: skip


def _gpu(host: str, index: int, temp: float, mem_pct: float, util: float, t: float) -> GpuSample:
    return GpuSample(
        index=index,
        uuid=f"GPU-{host}-{index}",
        name="NVIDIA H100 80GB HBM3",
        host=host,
        source="prometheus",
        time=t,
        memory_used_mib=819.2 * mem_pct,
        memory_total_mib=81920.0,
        utilization_gpu_pct=util,
        temperature_c=temp,
        power_w=300.0 + index,
    )


class FakeFleet:
    """The methods of PrometheusSource the dashboard uses, over a fixed list of GPUs."""

    name = "prometheus"

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.state = SourceState(SourceStatus.OK, None, last_ok=clock.now())
        self.readings = {h: list(r) for h, r in READINGS.items()}
        self.lost: dict[str, str] = {}  # key -> reason
        self.refreshes = 0

    def gpus(self) -> tuple[GpuSample, ...]:
        now = self.clock.now()
        out = []
        for host in HOSTS:
            for i, (temp, mem, util) in enumerate(self.readings[host]):
                gpu = _gpu(host, i, temp, mem, util, now)
                if gpu.key in self.lost:
                    gpu = GpuSample(i, gpu.uuid, gpu.name, host, "prometheus", now, state="lost",
                                    reason=self.lost[gpu.key])  # fmt: skip
                out.append(gpu)
        return tuple(out)

    def labels(self, key: str) -> dict[str, str]:
        host, index = key.removeprefix("GPU-").rsplit("-", 1)
        return {"pod": f"t2v-{host}-{index}", "namespace": "video", "Hostname": host}

    def latency(self) -> None:
        return None

    async def refresh(self) -> None:
        self.refreshes += 1


def _app(*, statuses: Iterable[RuleStatus] = ()) -> tuple[GpuTopApp, FakeFleet]:
    clock = FakeClock(START)
    fleet = FakeFleet(clock)
    rules = RulesEngine([], clock=clock, origin="Prometheus")
    rules.statuses = list(statuses)
    monitor = Monitor(clock=clock, local=None, remote=fleet, rules=rules, host="desk")  # type: ignore[arg-type]
    for gpu in fleet.gpus():  # ten minutes of temperature history, one point a second
        points = [(START - 600 + s, 40.0 + (s % 60) / 2) for s in range(600)]
        monitor.store.merge(gpu.key, "temperature_c", points)
    return GpuTopApp(monitor, poll=False), fleet


def _hot_first(sort_index: int) -> list[str]:
    """GPU keys as the fleet screen should list them for one reading, worst node first."""
    groups = []
    for host in HOSTS:
        order = sorted(range(8), key=lambda i: -READINGS[host][i][sort_index])
        groups.append((-READINGS[host][order[0]][sort_index], host, order))
    return [f"GPU-{host}-{i}" for _, host, order in sorted(groups) for i in order]


def _gpu_lines(app: GpuTopApp) -> list[str]:
    return [line for line in screen_lines(app) if re.search(r"node-[ab]\s+\d+ H100", line)]


async def _open(pilot: Pilot[int], app: GpuTopApp) -> FleetScreen:
    await pilot.pause()
    await pilot.press("f")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, FleetScreen)
    return screen


async def test_f_opens_the_fleet_grouped_by_node_and_escape_returns() -> None:
    app, _ = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        footer = {b.binding.key: b.binding for b in app.screen.active_bindings.values()}
        assert footer["f"].show and footer["f"].description == "Fleet"
        screen = await _open(pilot, app)
        assert screen.sort_key == "n"
        rows = screen.rows
        assert [type(r).__name__ for r in rows] == (["NodeRow"] + ["GpuRow"] * 8) * 2
        assert [r.host for r in rows if isinstance(r, NodeRow)] == ["node-a", "node-b"]
        assert screen.gpu_keys == [f"GPU-{h}-{i}" for h in HOSTS for i in range(8)]
        text = screen_lines(app)
        joined = "\n".join(text)
        assert "Fleet · 16 GPUs on 2 nodes · sort node, index ↑" in joined
        assert re.search(r"▾ node-a · 8 GPUs · worst 71°C", joined)
        assert re.search(r"▾ node-b · 8 GPUs · worst 88°C", joined)
        line = next(x for x in text if re.search(r"node-b\s+1 H100", x))
        # node, index, model, job (its pod), memory, temperature, utilization, power, sparkline
        assert re.search(
            r"node-b\s+1 H100 80GB HBM3\s+video/t2v-node-b-1\s+21%\s+88°C\s+20%\s+301W", line
        )
        assert re.search(r"301W [▁▂▃▄▅▆▇█]{10,}", line)
        heading = next(x for x in text if "NODE" in x)
        assert re.search(
            r"NODE\s+GPU MODEL\s+JOB\s+MEM\s+TEMP\s+UTIL\s+PWR TEMP · last 10m", heading
        )
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)


@pytest.mark.parametrize(("key", "column"), [("t", 0), ("m", 1), ("u", 2)])
async def test_sorting_puts_the_worst_first(key: str, column: int) -> None:
    app, _ = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot, app)
        await pilot.press(key)
        await pilot.pause()
        assert screen.gpu_keys == _hot_first(column)
        label = {"t": "worst temperature ↓", "m": "memory ↓", "u": "utilization ↓"}[key]
        assert f"sort {label}" in "\n".join(screen_lines(app))
        # what a person reads, top to bottom
        shown = [re.search(r"(node-[ab])\s+(\d+) H100", x).groups() for x in _gpu_lines(app)]  # type: ignore[union-attr]
        assert [f"GPU-{h}-{i}" for h, i in shown] == _hot_first(column)
        await pilot.press("n")
        await pilot.pause()
        assert screen.gpu_keys == [f"GPU-{h}-{i}" for h in HOSTS for i in range(8)]


async def test_hottest_first_follows_new_readings() -> None:
    app, fleet = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot, app)
        await pilot.press("t")
        assert screen.gpu_keys[0] == "GPU-node-b-1"
        fleet.readings["node-a"][4] = (97, 40, 42)
        app.monitor.clock.advance(1)  # type: ignore[attr-defined]
        app.refresh_screen()
        await pilot.pause()
        assert screen.gpu_keys[:2] == ["GPU-node-a-4", "GPU-node-a-1"]
        assert [r.host for r in screen.rows if isinstance(r, NodeRow)] == ["node-a", "node-b"]
        assert "97°C" in _gpu_lines(app)[0]


async def test_a_lost_gpu_shows_lost() -> None:
    app, fleet = _app()
    fleet.lost["GPU-node-b-3"] = "no data from Prometheus for 75 s"
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, app)
        text = "\n".join(screen_lines(app))
        assert re.search(
            r"node-b\s+3 H100 80GB HBM3\s+\S+\s+LOST — no data from Prometheus for 75 s", text
        )
        assert "▾ node-b · 8 GPUs · worst 88°C · 1 lost" in text
        assert "16 GPUs on 2 nodes · sort node, index ↑ · 1 lost" in text
        await pilot.press("t")  # no temperature: it goes to the end of its node
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        hot = [k for k in _hot_first(0) if k != "GPU-node-b-3"]
        assert screen.gpu_keys == [*hot[:7], "GPU-node-b-3", *hot[7:]]


async def test_rule_marks_on_the_gpus_they_touch() -> None:
    statuses = [
        RuleStatus("GPUTemperatureHigh", "firing", labels={"UUID": "GPU-node-b-1"}),
        RuleStatus("GPUHighMemoryUsage", "near", labels={"gpu": "2", "Hostname": "node-a"}),
    ]
    app, _ = _app(statuses=statuses)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot, app)
        marks = {r.gpu.key: r.mark for r in screen.rows if isinstance(r, GpuRow)}
        assert marks["GPU-node-b-1"] == "firing"
        assert marks["GPU-node-a-2"] == "near"
        assert sum(1 for m in marks.values() if m) == 2
        lines = _gpu_lines(app)
        assert next(x for x in lines if re.search(r"node-b\s+1 H100", x)).lstrip()[:8] == "● node-b"
        assert next(x for x in lines if re.search(r"node-a\s+2 H100", x)).lstrip()[:8] == "○ node-a"


async def test_without_prometheus_it_says_so_and_f_is_not_offered() -> None:
    app = build_app()  # the demo node, no Prometheus
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        footer = app.screen.active_bindings
        assert "f" not in footer or not footer["f"].binding.show
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)
        assert NO_PROMETHEUS in "\n".join(screen_lines(app))
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_an_unchanged_order_repaints_only_the_changed_cells() -> None:
    app, fleet = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot, app)
        table = screen.query_one(FleetTable)
        regions: list[Region] = []
        original = table.refresh

        def spy(*args: Region, **kwargs: Any) -> FleetTable:
            regions.extend(args if args else [Region(0, 0, 0, 0)])
            return original(*args, **kwargs)

        table.refresh = spy  # type: ignore[method-assign]
        spec = SparkSpec(app.window_s, table.spark_columns)
        # a step inside one sparkline bucket, one GPU's temperature changes
        app.monitor.clock.set(  # type: ignore[attr-defined]
            (spec.epoch(START) + 1) * spec.width_s + 0.25 * spec.width_s
        )
        app.refresh_screen()
        regions.clear()
        fleet.readings["node-a"][3] = (61, 30, 41)
        app.monitor.clock.advance(0.1)  # type: ignore[attr-defined]
        app.refresh_screen()
        assert len(regions) == 1, regions
        (region,) = regions
        line = 1 + 3  # node-a's header, then GPUs 0..3
        assert (region.y, region.height) == (line, 1)
        # cut after the temperature's field (its column heading, less the 1-cell padding,
        # plus the field's trailing space): nothing right of it is repainted
        heading = next(x for x in screen_lines(app) if "NODE" in x)
        assert region.width == heading.index("TEMP") + len("TEMP")
        regions.clear()
        app.monitor.clock.advance(0.1)  # type: ignore[attr-defined]
        app.refresh_screen()
        assert regions == []  # nothing changed: nothing repainted
        # the bucket closes: every sparkline shifts once
        app.monitor.clock.advance(spec.width_s)  # type: ignore[attr-defined]
        app.refresh_screen()
        assert len(regions) == 16
        await pilot.pause()


async def test_a_fleet_of_256_gpus_scrolls_and_words_only_what_is_in_view(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock(START)
    gpus = [
        _gpu(f"node-{n:02d}", i, 40 + (n * 8 + i) % 50, 50, 50, START)
        for n in range(32)
        for i in range(8)
    ]
    shown: list[GpuSample] = []  # empty until the fleet is open: the overview stays small
    remote = SimpleNamespace(
        gpus=lambda: tuple(shown), labels=lambda key: {}, latency=lambda: None,
        state=SourceState(SourceStatus.OK), name="prometheus",
    )  # fmt: skip
    monitor = Monitor(clock=clock, local=None, remote=remote, host="desk")
    app = GpuTopApp(monitor, poll=False)
    worded: list[str] = []
    original = fleet_module.gpu_line

    def counting(row: GpuRow, *args: Any) -> Line:
        worded.append(row.gpu.key)
        return original(row, *args)

    monkeypatch.setattr(fleet_module, "gpu_line", counting)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot, app)
        shown.extend(gpus)
        app.refresh_screen()
        await pilot.pause()
        worded.clear()
        app.refresh_screen()  # laid out again beside the scrollbar that 256 rows brought
        table = screen.query_one(FleetTable)
        assert table.row_count == 32 * 9
        height = table.scrollable_content_region.height
        assert 0 < len(set(worded)) <= height
        worded.clear()
        app.refresh_screen()
        assert worded == []  # the same readings: no line is worded again
        shown[3] = replace(shown[3], temperature_c=77.0)
        app.refresh_screen()
        assert worded == [shown[3].key]
        worded.clear()
        await pilot.press("end")
        await pilot.pause()
        assert table.scroll_offset.y == 32 * 9 - height
        assert "▾ node-31 · 8 GPUs" in "\n".join(screen_lines(app))
        assert 0 < len(worded) <= height  # one jump: only the lines it brought into view
        await pilot.press("pageup")
        await pilot.pause()
        assert table.scroll_offset.y == 32 * 9 - 2 * height


# ---- plain functions ---------------------------------------------------------------


def test_fleet_rows_order_nodes_by_their_worst_gpu() -> None:
    gpus = [
        _gpu("b", 0, 70, 1, 1, 0.0),
        _gpu("a", 1, 60, 1, 1, 0.0),
        _gpu("a", 0, 80, 1, 1, 0.0),
        replace(_gpu("b", 1, 0, 1, 1, 0.0), temperature_c=None),
    ]
    rows = fleet_rows(gpus, "t")
    assert [(type(r).__name__, getattr(r, "host", None) or r.gpu.key) for r in rows] == [  # type: ignore[union-attr]
        ("NodeRow", "a"), ("GpuRow", "GPU-a-0"), ("GpuRow", "GPU-a-1"),
        ("NodeRow", "b"), ("GpuRow", "GPU-b-0"), ("GpuRow", "GPU-b-1"),
    ]  # fmt: skip
    assert [r.worst_c for r in rows if isinstance(r, NodeRow)] == [80, 70]
    by_node = fleet_rows(gpus, "n")
    assert [r.gpu.key for r in by_node if isinstance(r, GpuRow)] == [
        "GPU-a-0", "GPU-a-1", "GPU-b-0", "GPU-b-1",
    ]  # fmt: skip


def test_pod_text_and_layout() -> None:
    assert pod_text({"pod": "p", "namespace": "ns"}) == "ns/p"
    assert pod_text({"pod": "p"}) == "p"
    assert pod_text({"Hostname": "h"}) == ""
    wide, narrow = FleetLayout.fit(116, 11), FleetLayout.fit(76, 11)
    assert wide.pod_w == 32 and wide.spark_w > 10
    assert narrow.pod_w == 0 and narrow.spark_w >= 10  # the pod goes before the sparkline


def test_changed_until_cuts_after_the_last_changed_field() -> None:
    old = (("a ", "x"), ("10 ", "v"), ("spark", "s"))
    assert changed_until(old, old, 80) == 0
    assert changed_until(None, old, 80) == 80
    assert changed_until(old, (("a ", "x"), ("11 ", "v"), ("spark", "s")), 80) == 5
    assert changed_until(old, (("a ", "x"), ("10 ", "v"), ("sparK", "s")), 80) == 10
    assert changed_until(old, (("a ", "x"), ("100 ", "v"), ("spark", "s")), 80) == 11


# ---- against a real Prometheus --------------------------------------------------------


@pytest.mark.prometheus
@pytest.mark.parametrize("engine", ENGINES)
async def test_the_fleet_of_a_real_engine(
    prometheus_factory: Callable[..., PromStack], engine: str
) -> None:
    stack = prometheus_factory(engine=engine, nodes=2, gpus=8, history_s=120)
    clock = RealClock()
    client = PrometheusClient(stack.url)
    monitor = Monitor(clock=clock, local=None, client=client, host="desk")
    monitor.remote = PrometheusSource(client, monitor.store, clock, range_s=600, columns=120)
    await monitor.refresh_remote()
    app = GpuTopApp(monitor, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot, app)
        rows = screen.rows
        heads = [r for r in rows if isinstance(r, NodeRow)]
        assert [(h.host, h.gpus) for h in heads] == [("sim-node-00", 8), ("sim-node-01", 8)]
        keys = screen.gpu_keys
        assert len(keys) == len(set(keys)) == 16
        text = "\n".join(screen_lines(app))
        for host in stack.hosts:
            for i in range(8):
                assert re.search(rf"{host}\s+{i} A100-SXM4-80GB\s+t2v/t2v-serve-{host}-{i}", text)
        assert "16 GPUs on 2 nodes" in text
