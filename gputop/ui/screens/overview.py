"""The overview: a header, one panel per GPU (cards or compact lines), latency and rules."""

from __future__ import annotations

import math

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Static

from gputop.core.models import GPU_METRICS, GpuSample
from gputop.ui.view import SparkSpec, closed_buckets, gpu_marks, stale_note
from gputop.ui.widgets.footer import KeysFooter
from gputop.ui.widgets.gpu_panel import COMPACT_COLUMNS, LABELS, GpuPanel
from gputop.ui.widgets.latency_panel import LatencyPanel
from gputop.ui.widgets.rules_panel import RulesPanel
from gputop.ui.widgets.status_bar import StatusBar

__all__ = ["OverviewScreen", "choose_layout"]

CARD_MIN_W = 56
CARD_H = 7
LOWER_H = 4 + 5  # latency panel + a few rule lines
MARK_HOLD_S = 30.0
#: A sparkline cell spans at least this long: wide panels show more history, not
#: finer buckets that would repaint every few seconds.
MIN_CELL_S = 20.0


def choose_layout(width: int, height: int, gpus: int) -> tuple[bool, int]:
    """(compact, columns): cards when they fit with the lower panels, else one line each."""
    cols = max(1, min(gpus, width // CARD_MIN_W))
    rows = math.ceil(gpus / cols) if gpus else 0
    fits = width >= 100 and 1 + rows * CARD_H + LOWER_H + 1 <= height
    return (not fits, 1 if not fits else cols)


class OverviewScreen(Screen[None]):
    DEFAULT_CSS = f"""
    OverviewScreen {{ layout: vertical; }}
    #columns {{ grid-columns: {COMPACT_COLUMNS}; grid-gutter: 0 1; }}
    #gpus {{
        height: auto; max-height: 75%; overflow-y: auto;
        layout: grid; grid-gutter: 0 1; grid-rows: 7;
    }}
    #gpus.-compact {{ layout: vertical; }}
    #columns {{ height: 1; color: $text-muted; display: none; layout: grid; grid-size: 6; }}
    #columns.-compact {{ display: block; }}
    #lower {{ height: 1fr; layout: vertical; }}
    """
    BINDINGS = [
        Binding("left,h", "move(-1, 0)", "←", show=False),
        Binding("right,l", "move(1, 0)", "→", show=False),
        Binding("up,k", "move(0, -1)", "↑", show=False),
        Binding("down,j", "move(0, 1)", "↓", show=False),
        Binding("enter", "detail", "Detail"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._compact = False
        self._cols = 2
        self._spark_state: tuple[int, int, int, int] | None = None
        self._marked: dict[str, tuple[str, float]] = {}
        self._resumed = False

    def compose(self) -> ComposeResult:
        monitor = self.app.monitor  # type: ignore[attr-defined]
        gpus = monitor.overview_gpus()
        self._compact, self._cols = choose_layout(
            self.app.size.width, self.app.size.height, len(gpus)
        )
        yield StatusBar(id="status")
        with Container(id="columns"):
            yield Static("GPU")
            yield Static(" MEM  TEMP UTIL   PWR")
            for label in LABELS.values():
                yield Static(label)
        with Container(id="gpus"):
            for gpu in gpus:
                yield GpuPanel(gpu, compact=self._compact, id=_panel_id(gpu))
        with Container(id="lower"):
            yield LatencyPanel(id="latency")
            yield RulesPanel(id="rules")
        yield KeysFooter()

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Textual (8.2) restyles every node when the first screen resumes, just after styling
        # each one as it mounted: a second pass that costs the first frame ~15 ms for nothing.
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False
        super()._on_screen_resume(event)

    def on_mount(self) -> None:
        self._apply_layout()
        self.refresh_view()
        panels = list(self.query(GpuPanel))
        if panels:
            panels[0].focus()

    def on_resize(self) -> None:
        compact, cols = choose_layout(self.size.width, self.size.height, len(self.query(GpuPanel)))
        if (compact, cols) != (self._compact, self._cols):
            self._compact, self._cols = compact, cols
            self._apply_layout()
        self.call_after_refresh(self.refresh_view)

    def _apply_layout(self) -> None:
        grid = self.query_one("#gpus")
        grid.set_class(self._compact, "-compact")
        self.query_one("#columns").set_class(self._compact, "-compact")
        grid.styles.grid_size_columns = self._cols
        for panel in self.query(GpuPanel):
            panel.compact = self._compact
        self._spark_state = None

    # ---- data ----------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Push the monitor's latest readings into the widgets; cheap when nothing changed."""
        app = self.app
        monitor = app.monitor  # type: ignore[attr-defined]
        now = monitor.clock.now()
        app.update_status(self.query_one(StatusBar))  # type: ignore[attr-defined]
        gpus = monitor.overview_gpus()
        panels = list(self.query(GpuPanel))
        if [p.key for p in panels] != [g.key for g in gpus]:
            self._replace_panels(gpus)  # GPUs appeared (Prometheus found them) or went away
            return
        marks = self._sticky_marks(gpu_marks(app.shown_statuses(), gpus), now)  # type: ignore[attr-defined]
        notes = {name: stale_note(state) for name, state in monitor.states().items()}
        for panel, gpu in zip(panels, gpus, strict=True):
            panel.update_gpu(gpu)
            panel.set_stale(notes.get(gpu.source, ""))
            mark = marks.get(gpu.key)
            panel.set_class(mark in ("near", "pending"), "-alert")
            panel.set_class(mark == "firing", "-firing")
        self._refresh_sparks(panels, now)
        latency = self.query_one(LatencyPanel)
        latency.set_stale(notes.get(monitor.latency_source() or "", ""))
        sample = monitor.latency()
        if sample is None:
            latency.set_note(
                "no latency source: configure Prometheus (--prometheus URL) or try --demo"
            )
        else:
            latency.update_latency(sample)
        self.app.refresh_rules(self.query_one(RulesPanel))  # type: ignore[attr-defined]

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
        grid = self.query_one("#gpus")
        self._compact, self._cols = choose_layout(self.size.width, self.size.height, len(gpus))

        async def swap() -> None:
            await grid.remove_children()
            await grid.mount_all(GpuPanel(g, compact=self._compact, id=_panel_id(g)) for g in gpus)
            self._apply_layout()
            self.call_after_refresh(self.refresh_view)

        self.run_worker(swap, exclusive=True, group="panels")  # type: ignore[arg-type]

    def _refresh_sparks(self, panels: list[GpuPanel], now: float) -> None:
        if not panels:
            return
        monitor = self.app.monitor  # type: ignore[attr-defined]
        window = self.app.window_s  # type: ignore[attr-defined]
        columns = panels[0].spark_columns()
        spec = SparkSpec.at_least(window, columns, MIN_CELL_S)
        latency = self.query_one(LatencyPanel)
        lat_spec = SparkSpec.at_least(window, latency.spark_columns(), MIN_CELL_S)
        state = (spec.epoch(now), columns, lat_spec.columns, monitor.store.merges)
        if state == self._spark_state:
            return
        self._spark_state = state
        for panel in panels:
            panel.update_sparks(
                {
                    m.key: closed_buckets(monitor.store, panel.key, m.key, spec, now)
                    for m in GPU_METRICS
                }
            )
        from gputop.core.store import LATENCY_KEY

        latency.update_spark(closed_buckets(monitor.store, LATENCY_KEY, "p95_s", lat_spec, now))

    # ---- navigation ----------------------------------------------------------------

    def action_move(self, dx: int, dy: int) -> None:
        panels = list(self.query(GpuPanel))
        if not panels:
            return
        focused = self.focused
        i = panels.index(focused) if focused in panels else 0
        cols = self._cols
        j = i + dx + dy * cols
        if 0 <= j < len(panels):
            panels[j].focus()

    def action_detail(self) -> None:
        if isinstance(self.focused, GpuPanel):
            self.app.open_detail(self.focused.key)  # type: ignore[attr-defined]

    def on_gpu_panel_selected(self, message: GpuPanel.Selected) -> None:
        self.app.open_detail(message.key)  # type: ignore[attr-defined]


def _panel_id(gpu: GpuSample) -> str:
    return "gpu-" + "".join(c if c.isalnum() else "-" for c in gpu.key)
