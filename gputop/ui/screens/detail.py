"""One GPU, large: its identity and who is on it (its jobs), current readings, its rules, four
history charts and its processes. A MIG instance is shown as its own GPU: its profile, GI and
CI, its memory; what NVML gives only for the whole GPU is named as such.

The rules touching this GPU are listed with their state, value against threshold and countdown,
and the header box takes the colour of the worst of them. A rule threshold is drawn on its
metric's chart only when the metric can reach it; one off the chart's scale (a 0–1 ratio rule
compared with 95, on a 0–100 % chart) is listed as off-scale with the reason instead, and the
chart keeps the metric's own range.

The charts are `plotext` plots over a selectable range (`widgets.metric_chart`). They are
rebuilt only while this screen is shown, and only when time has moved by a chart step (at
least one second). Below
each curve, red bars mark when the GPU's rules on that metric would have been firing, from a
backtest over the chart's range run in a worker (`ui.firing_history`); `b` opens that
backtest in full.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.widgets import Static

from gputop.core.jobs import job_words
from gputop.core.models import GPU_METRICS, GpuSample, Job, NodeSnapshot, ProcessSample
from gputop.core.units import format_since, format_value
from gputop.core.untrusted import visible
from gputop.rules.model import RuleStatus
from gputop.rules.text import STATE_LABELS, rule_detail
from gputop.ui.firing_history import FiringHistory
from gputop.ui.safetext import plain, plain_lines
from gputop.ui.screens.base import GpuTopScreen
from gputop.ui.views.backtest import chart_windows, rule_metrics
from gputop.ui.views.processes import COLUMNS, on_gpu, process_cells, sort_processes
from gputop.ui.views.readings import spark_bounds
from gputop.ui.views.rules import gpu_statuses
from gputop.ui.widgets.key_bar import KeyBar
from gputop.ui.widgets.metric_chart import MIN_STEP_S, MetricChart, chart_segments, series_points
from gputop.ui.widgets.status_bar import StatusBar

__all__ = ["RANGES", "DetailScreen"]

#: Selectable chart ranges: (label, seconds), on keys 1..4.
RANGES: tuple[tuple[str, float], ...] = (
    ("1m", 60.0),
    ("5m", 300.0),
    ("15m", 900.0),
    ("1h", 3600.0),
)
DEFAULT_RANGE = 1
PROCESS_ROWS = 4
#: Rule lines in the header box: fewer on short terminals, where the charts need the room.
RULE_LINES = (3, 6)
#: How each state's word is drawn; without colour: FIRING reverse, PENDING bold, NEAR plain.
STATE_STYLES = {
    "firing": "bold reverse red",
    "pending": "bold yellow",
    "near": "yellow",
    "unknown": "dim",
    "ok": "green",
}
#: The range keys share one footer item: "1234 Range".
_RANGE_KEYS = Binding.Group("Range", compact=True)


class DetailScreen(GpuTopScreen):
    CSS_PATH = "detail.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(str(i + 1), f"range({i})", f"Last {label}", group=_RANGE_KEYS)
            for i, (label, _) in enumerate(RANGES)
        ),
        Binding("b", "backtest", "Backtest", tooltip="Backtest this GPU's rules"),
        Binding("escape,backspace", "back", "Back"),
    ]

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.range_index = DEFAULT_RANGE
        self.gpu: GpuSample | None = None
        self._drawn: tuple[object, ...] | None = None
        self._history = FiringHistory()
        self._rule_metrics: dict[str, str | None] = {}

    @property
    def range_label(self) -> str:
        return RANGES[self.range_index][0]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Vertical(id="identity"):
            yield Static("", id="ident", markup=False)
            yield Static("", id="who", markup=False)
            yield Static("", id="values")
            yield Static("", id="gpu-rules")
        with Grid(id="charts"):
            for metric in GPU_METRICS:
                yield MetricChart(metric, id=f"chart-{metric.key.replace('_', '-')}")
        yield Static("", id="procs", markup=False)  # commands and jobs: outside text
        yield KeyBar()

    def on_mount(self) -> None:
        self.refresh_view()

    def on_resize(self) -> None:
        # small terminals give the charts the room the process list would take
        self.query_one("#procs").set_class(self.size.height < 30, "-hidden")
        self._drawn = None
        self.call_after_refresh(self.refresh_view)

    def on_screen_resume(self) -> None:
        self._drawn = None
        self.refresh_view()

    # ---- data ----------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Update the numbers every call; rebuild the charts once per chart step at most."""
        app = self.app
        monitor = app.monitor
        now = monitor.clock.now()
        app.update_status(self.query_one(StatusBar))
        current = next((g for g in monitor.gpus() if g.key == self.key), None)
        gone = current is None
        if current is not None:
            self.gpu = current
        gpu = self.gpu
        if gpu is None:
            self._update("#values", "this GPU is not reported by any source")
            return
        self._show_identity(gpu, monitor.latest, gone, now)
        self._show_rules(gpu, now)
        self._show_processes(gpu, monitor.processes(), now)
        self._redraw_charts(gpu, now)
        if self._history.due(RANGES[self.range_index][1], now):
            self.run_worker(
                self._refresh_history(gpu), exclusive=True, group="firing", exit_on_error=False
            )

    def _update(self, selector: str, lines: str | Sequence[str], layout: bool = False) -> None:
        """Show a line, or lines, holding outside words (names, reasons, commands) as text."""
        widget = self.query_one(selector, Static)
        shown = plain_lines((lines,) if isinstance(lines, str) else lines)
        if str(widget.content) != shown.plain:
            widget.update(shown, layout=layout)

    def _show_identity(
        self, gpu: GpuSample, snap: NodeSnapshot | None, gone: bool, now: float
    ) -> None:
        box = self.query_one("#identity")
        name = gpu.name.replace("NVIDIA ", "")
        mig = gpu.mig
        if mig is not None:
            name = f"MIG {mig.profile or '?'} of {name}"
        elif gpu.mig_mode:
            name += " · MIG mode"
        title = plain(f"{gpu.label} · {name} · last {self.range_label}")
        box.border_title = title
        self.sub_title = title.plain
        driver = snap.driver_version if snap is not None else None
        ident = f"UUID {gpu.uuid or 'n/a'}   host {gpu.host}   source {gpu.source}"
        if mig is not None:
            ci = "" if mig.ci is None else f"   CI {mig.ci}"
            ident = f"GI {mig.gi}{ci}   GPU {gpu.index} {mig.parent_uuid}   " + ident
        self._update("#ident", ident + (f"   driver {driver}" if driver else ""))
        who = self.query_one("#who", Static)
        words = plain(_jobs_words(gpu.jobs), "dim" if not gpu.jobs else "")
        if who.content != words:
            who.update(words)
        values = self.query_one("#values", Static)
        lost = gpu.state == "lost" or gone
        values.set_class(lost, "-lost")
        if gpu.state == "lost":
            since = self.app.monitor.lost_since(gpu.key)
            when = "" if since is None else f" since {format_since(since, now)}"
            self._update("#values", f"LOST{when} — {gpu.reason or 'the GPU stopped answering'}")
        elif gone:
            self._update("#values", "LOST — this GPU is no longer reported by any source")
        else:
            self._update("#values", _values_text(gpu))

    def _show_rules(self, gpu: GpuSample, now: float) -> None:
        """The rules touching this GPU, worst first, and thresholds off their chart's scale;
        the header box takes the worst state's colour."""
        statuses = gpu_statuses(self.app.shown_statuses(), gpu)
        self._rule_metrics = rule_metrics(statuses)
        worst = statuses[0].state if statuses else "ok"
        box = self.query_one("#identity")
        box.set_class(worst == "firing", "-firing")
        box.set_class(worst in ("pending", "near"), "-alert")
        limit = RULE_LINES[0] if self.size.height < 30 else RULE_LINES[1]
        off_scale = self.app.off_scale(self.key)
        text = Text()
        lines = 0
        for st in statuses[: max(0, limit - len(off_scale))]:
            text.append("\n" if lines else "")
            text.append_text(_rule_text(st, now))
            lines += 1
        hidden = len(statuses) - lines
        if hidden > 0:
            text.append(("\n" if lines else "") + f"+{hidden} more rules on this GPU", "dim")
            lines += 1
        for note in off_scale:
            text.append(("\n" if lines else "") + visible(note), "dim italic")
            lines += 1
        widget = self.query_one("#gpu-rules", Static)
        if lines == 0:
            text = Text("no rule is about this GPU", "dim")
            lines = 1
        if widget.styles.height is None or widget.styles.height.value != lines:
            widget.styles.height = lines
        if text.plain != str(widget.content) or widget.content != text:
            widget.update(text)

    def _show_processes(self, gpu: GpuSample, procs: Sequence[ProcessSample], now: float) -> None:
        box = self.query_one("#procs", Static)
        if box.has_class("-hidden"):
            return
        here = gpu.source != "prometheus" or gpu.host == self.app.monitor.host
        mine = [p for p in procs if here and on_gpu(p, gpu)]
        mine = sort_processes(mine, "mem", True)
        box.border_title = f"Processes on {gpu.label} · {len(mine)}"
        if not mine:
            self._update("#procs", "no processes", layout=True)
            return
        # the GPU column is the same for every row here: leave it out
        heads = [h for _, h, _ in COLUMNS[1:]]
        rows = [process_cells(p, now)[1:] for p in mine[:PROCESS_ROWS]]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip()]
        lines += [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        if len(mine) > PROCESS_ROWS:
            lines.append(f"… {len(mine) - PROCESS_ROWS} more (p: all processes)")
        self._update("#procs", lines, layout=True)  # the row count may change

    def _redraw_charts(self, gpu: GpuSample, now: float, force: bool = False) -> None:
        label, range_s = RANGES[self.range_index]
        charts = list(self.query(MetricChart))
        width = max((c.size.width for c in charts), default=0)
        max_points = max(16, 2 * width)  # braille: two dots per cell
        step = max(MIN_STEP_S, range_s / max_points)
        merges = self.app.monitor.store.merges
        state = (self.range_index, math.floor(now / step), width, gpu.state, merges)
        if state == self._drawn and not force:
            return
        self._drawn = state
        store = self.app.monitor.store
        thresholds = self._thresholds()
        for chart in charts:
            metric = chart.metric
            points, gap = series_points(store.get(self.key, metric.key), now, range_s, max_points)
            segments = [([t - now for t in xs], ys) for xs, ys in chart_segments(points, gap)]
            bounds = spark_bounds(metric, gpu)
            firing = [
                (max(a - now, -range_s), min(b - now, 0.0))
                for a, b in chart_windows(self._history.windows, self._rule_metrics, metric.key)
                if b >= now - range_s
            ]
            chart.draw(segments, label, range_s, bounds, thresholds(metric.key), firing)

    def _thresholds(self) -> Callable[[str], list[tuple[str, float]]]:
        source = self.app.thresholds
        return lambda metric: list(source(self.key, metric))

    # ---- actions -------------------------------------------------------------------

    async def _refresh_history(self, gpu: GpuSample) -> None:
        names = set(self._rule_metrics)
        monitor = self.app.monitor
        if await self._history.refresh(monitor, gpu, names, RANGES[self.range_index][1]):
            self._redraw_charts(gpu, monitor.clock.now(), force=True)

    def action_backtest(self) -> None:
        gpu = self.gpu
        about = f"GPU {gpu.index} @ {gpu.host}" if gpu is not None else self.key
        self.app.open_backtest(list(self._rule_metrics), RANGES[self.range_index][1], about)

    def action_range(self, index: int) -> None:
        self.range_index = index
        self._drawn = None
        self.refresh_view()

    def action_back(self) -> None:
        self.dismiss()


def _rule_text(status: RuleStatus, now: float) -> Text:
    """One rule line: state (glyph and word), rule, value against threshold and countdown."""
    text = Text()
    text.append(STATE_LABELS[status.state].ljust(10), STATE_STYLES.get(status.state, ""))
    text.append(visible(status.name), "bold")
    text.append("  " + visible(rule_detail(status, now)))
    return text


def _jobs_words(jobs: Sequence[Job]) -> str:
    """Who is on the GPU, each job with what is known of it."""
    if not jobs:
        return "no job known on this GPU"
    parts = []
    for job in jobs:
        extra = [f"container {job.container}"] if job.container else []
        extra += [f"uid {job.uid}"] if job.uid and job.kind == "pod" else []
        parts.append(job_words(job) + (f" ({', '.join(extra)})" if extra else ""))
    return "Jobs: " + " · ".join(parts)


def _values_text(gpu: GpuSample) -> list[str]:
    """Current readings in two lines; what the GPU does not report reads n/a."""
    mem = (
        f"{format_value(gpu.memory_used_pct, '%')} "
        f"({_gib(gpu.memory_used_mib)} of {_gib(gpu.memory_total_mib)})"
    )
    if gpu.mig is not None:  # a MIG instance: its memory; the rest is its GPU's
        why = dict(gpu.mig.unavailable).get("utilization_gpu_pct")
        util = format_value(gpu.utilization_gpu_pct, "%") + (f" ({why})" if why else "")
        return [
            f"MEM {mem}   UTIL {util}",
            f"TEMP, POWER, CLOCKS: NVML and DCGM read them for the whole GPU {gpu.index}",
        ]
    first = [
        f"MEM {mem}",
        f"TEMP {format_value(gpu.temperature_c, '°C')}",
        f"UTIL {format_value(gpu.utilization_gpu_pct, '%')}",
        f"MEM BUS {format_value(gpu.utilization_memory_pct, '%')}",
    ]
    second = [
        f"POWER {format_value(gpu.power_w, 'W')} of {format_value(gpu.power_limit_w, 'W')}",
        f"SM {format_value(gpu.sm_clock_mhz, 'MHz')}",
        f"MEM CLK {format_value(gpu.mem_clock_mhz, 'MHz')}",
        f"FAN {format_value(gpu.fan_pct, '%')}",
    ]
    return ["   ".join(first), "   ".join(second)]


def _gib(mib: float | None) -> str:
    return "n/a" if mib is None else f"{mib / 1024:.1f}GiB"
