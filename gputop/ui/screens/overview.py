"""The overview: a header, one panel per GPU (cards or compact lines), latency and rules.

The rules panel always has room for every firing and pending row (see `overview_view`): the
GPU list becomes compact lines, then scrolls, to make it. GPUs of several nodes are grouped
under a heading per node. Tab moves between the GPUs and the rules panel; there, Enter opens
the detail of a rule's GPU and `p` its processes (who is on it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.widget import Widget
from textual.widgets import Static

from gputop.core.models import GPU_METRICS, GpuSample, ServingSample
from gputop.core.store import LATENCY_KEY, serving_key
from gputop.ui.kiosk import stale_banner_lines
from gputop.ui.screens.base import GpuTopScreen
from gputop.ui.screens.overview_layout import lay_out, show_panel
from gputop.ui.views.overview import (
    OverviewLayout,
    RuleRoom,
    chrome_height,
    node_groups,
    overview_layout,
)
from gputop.ui.views.readings import (
    NumberLevels,
    SparkSpec,
    closed_buckets,
    latency_note,
    stale_note,
    status_matches_gpu,
)
from gputop.ui.views.rules import rows_needed
from gputop.ui.widgets.cells import NodeHeading
from gputop.ui.widgets.gpu_panel import GpuPanel, readings_heading
from gputop.ui.widgets.key_bar import KeyBar
from gputop.ui.widgets.latency_panel import LatencyPanel
from gputop.ui.widgets.rules_panel import RulesPanel
from gputop.ui.widgets.serving_panel import ServingPanel, serving_row
from gputop.ui.widgets.status_bar import StatusBar

__all__ = ["OverviewScreen"]

MARK_HOLD_S = 30.0
#: A sparkline cell spans at least this long: wide panels show more history, not
#: finer buckets that would repaint every few seconds.
MIN_CELL_S = 20.0


class OverviewScreen(GpuTopScreen):
    # overview.tcss is part of the app's stylesheet (see GpuTopApp.CSS_PATH)
    AUTO_FOCUS = ""  # the first GPU is focused on mount, without scrolling its heading away
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "move(-1, 0)", "←", show=False),
        Binding("right,l", "move(1, 0)", "→", show=False),
        Binding("up,k", "move(0, -1)", "↑", show=False),
        Binding("down,j", "move(0, 1)", "↓", show=False),
        Binding("enter", "detail", "Detail"),
        Binding("s", "silence", "Silence", tooltip="Silence a firing, pending or near rule"),
        Binding("b", "backtest", "Backtest", show=False),  # the rule under the panel's cursor
        Binding(
            "tab,shift+tab",
            "switch_focus",
            "Rules",
            key_display="Tab",
            tooltip="GPUs ⇄ rules panel",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._layout = OverviewLayout(False, 2, 0)
        self._room = RuleRoom()
        self._spark_state: tuple[object, ...] | None = None
        self._marked: dict[str, tuple[str, float]] = {}
        self._last_gpu: GpuPanel | None = None
        self._moving_to: GpuPanel | None = None
        self._resumed = False
        self._serving_sparks: dict[str, tuple[float | None, ...]] = {}

    def compose(self) -> ComposeResult:
        app = self.app
        gpus = app.monitor.overview_gpus()
        levels = app.number_levels()
        self._layout = self._choose(gpus)
        yield StatusBar(id="status")
        # laid out and marked before they mount: the first frame is the only paint at start
        columns = Container(id="columns")
        grid = Container(id="gpus")
        lower = Container(id="lower")
        latency = LatencyPanel(id="latency")
        serving = ServingPanel(id="serving")
        marks = self._sticky_marks(app.gpu_marks(gpus), app.monitor.clock.now())
        panels = self._gpu_widgets(gpus, levels, marks)
        gpu_panels = [p for p in panels if isinstance(p, GpuPanel)]
        lay_out(self._layout, columns, grid, lower, latency, serving, gpu_panels)
        with columns:
            yield Static("GPU")
            yield Static(readings_heading())
            for metric in GPU_METRICS:
                yield Static(metric.label)
        with grid:
            yield from panels
        with lower:
            yield latency
            yield serving
            yield RulesPanel(id="rules")
        yield KeyBar()

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual (8.2) restyles every node when the first screen resumes, just after styling
        # each one as it mounted: a second pass that costs the first frame ~15 ms for nothing.
        # Textual calls `Screen._on_screen_resume` itself after this handler (a handler of each
        # class in the MRO runs), so it is not called here: twice would lay out and paint twice.
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False

    def _gpu_widgets(
        self, gpus: list[GpuSample], levels: NumberLevels, marks: dict[str, str] | None = None
    ) -> list[Widget]:
        compact = self._layout.compact
        groups = node_groups(gpus)
        widgets: list[Widget] = []
        for host, members in groups:
            if len(groups) > 1:
                widgets.append(NodeHeading(host, len(members)))
            for g in members:
                panel = GpuPanel(g, levels=levels, compact=compact, id=_panel_id(g))
                panel.set_mark((marks or {}).get(g.key))
                widgets.append(panel)
        return widgets

    def on_mount(self) -> None:
        self._apply_layout()
        self.refresh_view()
        panels = list(self.query(GpuPanel))
        if self.app.kiosk:  # no keys reach a kiosk: nothing to select, nothing to scroll
            self.query_one(RulesPanel).can_focus = False
        elif panels:
            panels[0].focus(scroll_visible=False)

    def next_kiosk_part(self) -> bool:
        grid = self.query_one("#gpus")
        if grid.scroll_y < grid.max_scroll_y:
            grid.scroll_page_down(animate=False)
            return True
        grid.scroll_home(animate=False)
        return False

    def on_resize(self) -> None:
        self._relayout()
        self.call_after_refresh(self.refresh_view)

    # ---- layout --------------------------------------------------------------------

    def _choose(self, gpus: list[GpuSample]) -> OverviewLayout:
        app = self.app
        statuses = app.shown_statuses()
        engine = app.monitor.rules
        stale = engine is not None and engine.error is not None and bool(engine.statuses)
        scrolling = self.query_one(RulesPanel).has_focus if self.is_mounted else False
        need = rows_needed(statuses, stale=stale, scrolling=scrolling)
        need = self._room.update(need, app.monitor.clock.now())
        sizes = [len(members) for _, members in node_groups(gpus)]
        banner = len(stale_banner_lines(app.monitor)) if app.kiosk else 0
        chrome = chrome_height(kiosk=app.kiosk, banner_lines=banner)
        models = len(app.monitor.serving())
        return overview_layout(
            app.size.width, app.size.height, sizes, need, chrome=chrome, models=models
        )

    def _relayout(self) -> None:
        layout = self._choose(self.app.monitor.overview_gpus())
        if layout != self._layout:
            self._layout = layout
            self._apply_layout()

    def _apply_layout(self) -> None:
        lay_out(
            self._layout,
            self.query_one("#columns"),
            self.query_one("#gpus"),
            self.query_one("#lower"),
            self.query_one(LatencyPanel),
            self.query_one(ServingPanel),
            list(self.query(GpuPanel)),
        )
        self._spark_state = None
        focused = self.focused
        if isinstance(focused, GpuPanel):
            self.call_after_refresh(show_panel, focused)

    # ---- data ----------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Push the monitor's latest readings into the widgets; cheap when nothing changed."""
        app = self.app
        monitor = app.monitor
        now = monitor.clock.now()
        app.update_status(self.query_one(StatusBar))
        gpus = monitor.overview_gpus()
        panels = list(self.query(GpuPanel))
        if [p.key for p in panels] != [g.key for g in gpus]:
            self._replace_panels(gpus)  # GPUs appeared (Prometheus found them) or went away
            return
        self._relayout()
        marks = self._sticky_marks(app.gpu_marks(gpus), now)
        levels = app.number_levels()
        notes = {name: stale_note(state, now) for name, state in monitor.states().items()}
        for panel, gpu in zip(panels, gpus, strict=True):
            panel.update_gpu(gpu, levels, lost_since=monitor.lost_since(gpu.key), now=now)
            panel.set_stale(notes.get(gpu.source, ""))
            panel.set_mark(marks.get(gpu.key))
        self._refresh_sparks(panels, now, levels)
        latency = self.query_one(LatencyPanel)
        latency.set_stale(stale_note(monitor.latency_state(), now))
        sample = monitor.latency()
        if sample is None:
            latency.set_note(latency_note(monitor))
        else:
            latency.update_latency(sample)
        self._refresh_serving(monitor.serving())
        app.refresh_rules(self.query_one(RulesPanel))

    def _refresh_serving(self, samples: tuple[ServingSample, ...]) -> None:
        """The inference servers' models, worst time to first token first, and how fresh."""
        if not self._layout.serving:
            return
        engines = ", ".join(dict.fromkeys(s.engine for s in samples))
        order = sorted(samples, key=lambda s: -(s.ttft_p95_s or 0.0))
        rows = []
        for sample in order:
            key = serving_key(sample.engine, sample.model)
            rows.append(serving_row(sample, self._serving_sparks.get(key, ()), key))
        panel = self.query_one(ServingPanel)
        monitor = self.app.monitor
        panel.set_stale(stale_note(monitor.serving_state(), monitor.clock.now()))
        panel.set_rows(f"Serving · {engines} · TTFT P95", rows, self._layout.serving)

    def _sticky_marks(self, marks: dict[str, str], now: float) -> dict[str, str]:
        """A card keeps a near/pending mark for MARK_HOLD_S after the rule lets go, so a value
        wavering around a margin does not repaint the card's border every few seconds."""
        for key, mark in marks.items():
            self._marked[key] = (mark, now)
        for key, (mark, since) in list(self._marked.items()):
            if key not in marks:
                if now - since >= MARK_HOLD_S or mark == "firing":
                    del self._marked[key]
                else:
                    marks[key] = mark
        return marks

    def _replace_panels(self, gpus: list[GpuSample]) -> None:
        self._layout = self._choose(gpus)
        self._swap_panels(gpus)

    @work(exclusive=True, group="panels")
    async def _swap_panels(self, gpus: list[GpuSample]) -> None:
        grid = self.query_one("#gpus")
        focused = self.focused
        selected = focused.key if isinstance(focused, GpuPanel) else None
        await grid.remove_children()
        await grid.mount_all(self._gpu_widgets(gpus, self.app.number_levels()))
        self._apply_layout()
        panels = list(self.query(GpuPanel))
        if panels and not self.app.kiosk and (selected is not None or self.focused is None):
            # the selection stays on its GPU, or starts on the first: never lost
            again = next((p for p in panels if p.key == selected), panels[0])
            again.focus(scroll_visible=False)
            self.call_after_refresh(show_panel, again)
        self.call_after_refresh(self.refresh_view)

    def _refresh_sparks(self, panels: list[GpuPanel], now: float, levels: NumberLevels) -> None:
        if not panels:
            return
        monitor = self.app.monitor
        window = self.app.window_s
        columns = panels[0].spark_columns()
        spec = SparkSpec.at_least(window, columns, MIN_CELL_S)
        latency = self.query_one(LatencyPanel)
        lat_spec = SparkSpec.at_least(window, latency.spark_columns(), MIN_CELL_S)
        warns = tuple(levels.spark_warn(m.key) for m in GPU_METRICS)
        serving = monitor.serving()
        models = tuple(serving_key(s.engine, s.model) for s in serving)
        state = (spec.epoch(now), columns, lat_spec.columns, monitor.store.merges, warns, models)
        if state == self._spark_state:
            return
        self._spark_state = state
        for panel in panels:
            panel.update_sparks(
                {
                    m.key: closed_buckets(monitor.store, panel.key, m.key, spec, now)
                    for m in GPU_METRICS
                },
                levels,
            )
        latency.update_spark(closed_buckets(monitor.store, LATENCY_KEY, "p95_s", lat_spec, now))
        # the same buckets as the P95 panel's: one time axis
        self._serving_sparks = {
            key: closed_buckets(monitor.store, key, "ttft_p95_s", lat_spec, now) for key in models
        }
        if serving:
            self._refresh_serving(serving)

    # ---- navigation ----------------------------------------------------------------

    def action_move(self, dx: int, dy: int) -> None:
        panels = list(self.query(GpuPanel))
        if not panels:
            return
        # focus moves after this handler: keys read in one batch (a held arrow over SSH)
        # must each move on from where the last one went
        focused = self._moving_to if self._moving_to in panels else self.focused
        i = panels.index(focused) if focused in panels else 0
        j = i + dx + dy * self._layout.cols
        if 0 <= j < len(panels):
            self._moving_to = panels[j]
            panels[j].focus(scroll_visible=False)
            show_panel(panels[j])
            self.call_after_refresh(self._moved)

    def _moved(self) -> None:
        self._moving_to = None

    def on_descendant_focus(self) -> None:
        self._relayout()  # the rules panel focused: room for scrolling under its fixed rows

    def action_switch_focus(self) -> None:
        """Tab: from the GPUs to the rules panel and back."""
        rules = self.query_one(RulesPanel)
        if rules.has_focus:
            panels = list(self.query(GpuPanel))
            if panels:
                last = self._last_gpu if self._last_gpu in panels else panels[0]
                last.focus()
        else:
            if isinstance(self.focused, GpuPanel):
                self._last_gpu = self.focused
            rules.focus()

    def action_detail(self) -> None:
        if isinstance(self.focused, GpuPanel):
            self.app.open_detail(self.focused.key)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "silence" and self.app.monitor.alertmanager is None:
            return False  # nothing to silence in
        return super().check_action(action, parameters)

    def action_silence(self) -> None:
        # the rule row under the rules panel's cursor
        self.app.silence_rule(self.query_one(RulesPanel).selected)

    def action_backtest(self) -> None:
        status = self.query_one(RulesPanel).selected
        names = [status.name] if status is not None else []
        self.app.open_backtest(names, self.app.window_s, status.name if status else "")

    def on_gpu_panel_selected(self, message: GpuPanel.Selected) -> None:
        self.app.open_detail(message.key)

    def on_rules_panel_selected(self, message: RulesPanel.Selected) -> None:
        """Enter on a rule row: the detail of the GPU it is about, if any."""
        gpu = self._rule_gpu(message.status.labels)
        if gpu is not None:
            self.app.open_detail(gpu.key)

    def processes_gpu(self) -> GpuSample | None:
        """`p` with the cursor on a rule row: the processes of the rule's GPU."""
        rules = self.query_one(RulesPanel)
        status = rules.selected if rules.has_focus else None
        return self._rule_gpu(status.labels) if status is not None else None

    def _rule_gpu(self, labels: Mapping[str, str]) -> GpuSample | None:
        """The GPU (or MIG instance) a rule's series is about."""
        if not labels:
            return None
        return next((g for g in self.app.monitor.gpus() if status_matches_gpu(labels, g)), None)


def _panel_id(gpu: GpuSample) -> str:
    return "gpu-" + "".join(c if c.isalnum() else "-" for c in gpu.key)
