"""The fleet: every GPU Prometheus sees, grouped by node, one line each, sortable.

Nodes are ordered by their worst value of the sort metric and GPUs within a node likewise
(`n`: by name and index), so the first GPU line is the fleet's worst. A cursor picks a GPU,
Enter opens its detail; the glyph before a GPU is the worst rule touching it (● firing,
◐ pending, ○ near), explained in the help. The sort keys are offered only when there is
something to sort. The table draws only
the lines in view; after each refresh it compares every visible line with what it drew and
repaints only the lines that changed, cut just after their last changed cell.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from gputop.core.models import GPU_METRICS, METRICS, TEMPERATURE, GpuSample
from gputop.core.store import MetricStore
from gputop.core.units import format_duration, format_value
from gputop.core.untrusted import visible
from gputop.sources.base import RemoteSource
from gputop.sources.promqueries import LABELS_EVERY_S
from gputop.ui.app import GpuTopScreen
from gputop.ui.spark import spark_runs
from gputop.ui.view import NumberLevels, SparkSpec, closed_buckets, spark_bounds
from gputop.ui.widgets.fleet_table import Field, FleetLines, FleetTable, Line
from gputop.ui.widgets.key_bar import KeyBar
from gputop.ui.widgets.status_bar import StatusBar

__all__ = [
    "NO_PROMETHEUS",
    "SORTS",
    "FleetLayout",
    "FleetScreen",
    "GpuRow",
    "NodeRow",
    "fleet_rows",
    "gpu_line",
    "heading_line",
    "node_line",
    "pod_text",
]

NO_PROMETHEUS = "no Prometheus configured (--prometheus URL)"


@dataclass(frozen=True, slots=True)
class Sort:
    metric: str  # store metric of the order and the sparkline
    label: str  # words for the title
    heading: str  # the sparkline's column heading


#: key -> sort; `n` keeps node and index order and charts temperature.
SORTS: dict[str, Sort] = {
    "t": Sort("temperature_c", "worst temperature ↓", "TEMP"),
    "m": Sort("memory_used_pct", "memory ↓", "MEM"),
    "u": Sort("utilization_gpu_pct", "utilization ↓", "UTIL"),
    "n": Sort("temperature_c", "node, index ↑", "TEMP"),
}
_MARKS = {"firing": ("●", "firing"), "pending": ("◐", "pending"), "near": ("○", "near")}
_LEVEL = ("value", "warn", "crit")
MODEL_W = 15
SPARK_MIN = 10


@dataclass(frozen=True, slots=True)
class NodeRow:
    host: str
    gpus: int
    hottest: GpuSample | None  # the GPU of the node's worst temperature
    lost: int

    @property
    def worst_c(self) -> float | None:
        return None if self.hottest is None else self.hottest.temperature_c

    @property
    def key(self) -> str:
        return f"node:{self.host}"

    @property
    def spark_key(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class GpuRow:
    gpu: GpuSample
    pod: str
    mark: str | None  # firing | pending | near

    @property
    def key(self) -> str:
        return self.gpu.key

    @property
    def spark_key(self) -> str:
        return self.gpu.key


FleetRow = NodeRow | GpuRow


def pod_text(labels: Mapping[str, str]) -> str:
    """namespace/pod when DCGM reports the Kubernetes pod, else ""."""
    pod = labels.get("pod") or labels.get("exported_pod") or ""
    namespace = labels.get("namespace") or labels.get("exported_namespace") or ""
    return f"{namespace}/{pod}" if pod and namespace else pod


def _value(gpu: GpuSample, metric: str) -> float | None:
    value = None if gpu.state == "lost" else gpu.metric(metric)
    return None if value is None or not math.isfinite(value) else value


def fleet_rows(
    gpus: Iterable[GpuSample],
    sort: str,
    *,
    pods: Mapping[str, str] | None = None,
    marks: Mapping[str, str] | None = None,
) -> list[FleetRow]:
    """A header per node, then its GPUs, in the order of `sort` (a key of SORTS)."""
    metric = SORTS[sort].metric
    by_host: dict[str, list[GpuSample]] = {}
    for gpu in gpus:
        by_host.setdefault(gpu.host, []).append(gpu)
    groups: list[tuple[float | None, str, list[GpuSample]]] = []
    for host, members in by_host.items():
        members.sort(key=lambda g: (g.index, g.key))
        if sort != "n":
            # by the shown (whole) number, so jitter below it does not reorder lines
            known = [g for g in members if _value(g, metric) is not None]
            known.sort(key=lambda g: -round(_value(g, metric) or 0.0))
            members = known + [g for g in members if _value(g, metric) is None]
        top = _value(members[0], metric) if sort != "n" else None
        groups.append((None if top is None else round(top), host, members))
    groups.sort(key=lambda g: (g[0] is None, -(g[0] or 0), g[1]))
    rows: list[FleetRow] = []
    for _, host, members in groups:
        hot = [g for g in members if _value(g, "temperature_c") is not None]
        hottest = max(hot, key=lambda g: g.temperature_c or 0.0, default=None)
        lost = sum(1 for g in members if g.state == "lost")
        rows.append(NodeRow(host, len(members), hottest, lost))
        for gpu in members:
            key = gpu.key
            rows.append(GpuRow(gpu, (pods or {}).get(key, ""), (marks or {}).get(key)))
    return rows


@dataclass(frozen=True, slots=True)
class FleetLayout:
    """Column widths of a line at a given width; the sparkline takes what is left."""

    width: int
    node_w: int
    pod_w: int
    spark_w: int

    @classmethod
    def fit(cls, width: int, longest_host: int) -> FleetLayout:
        node_w = min(max(longest_host, 4), 20)
        fixed = 3 + node_w + 1 + 4 + MODEL_W + 1 + sum(m.width + 1 for m in GPU_METRICS)
        left = max(0, width - fixed)
        pod_w = min(32, left - SPARK_MIN - 1)
        pod_w = pod_w if pod_w >= 12 else 0  # too narrow to read: the pod goes first
        spark_w = max(0, left - (pod_w + 1 if pod_w else 0))
        return cls(width, node_w, pod_w, spark_w)


def _cell(text: str, width: int) -> str:
    """A field of `width` cells; its text (a node, a model, a pod) shown with controls visible."""
    return visible(text).ljust(width)[:width] + " "


def heading_line(layout: FleetLayout, sort: Sort, window_s: float) -> Line:
    texts = ["   ", _cell("NODE", layout.node_w), "GPU ", _cell("MODEL", MODEL_W)]
    if layout.pod_w:
        texts.append(_cell("POD", layout.pod_w))
    for metric in GPU_METRICS:
        texts.append(metric.label.rjust(metric.width) + " ")
    chart = f"{sort.heading} · last {format_duration(window_s)}"
    if len(chart) > layout.spark_w:
        chart = f"{sort.heading} {format_duration(window_s)}"
    texts.append(chart[: layout.spark_w])
    return (("".join(texts), "heading"),)


def node_line(row: NodeRow, levels: NumberLevels) -> Line:
    worst = format_value(row.worst_c, TEMPERATURE.unit)
    level = 0 if row.hottest is None else levels.level(TEMPERATURE, row.hottest)
    fields: list[Field] = [
        (visible(f"▾ {row.host}"), "node"),
        (f" · {row.gpus} GPU{'s' if row.gpus != 1 else ''} · worst ", "muted"),
        (worst, _LEVEL[level] if level else "node"),
    ]
    if row.lost:
        fields.append((f" · {row.lost} lost", "lost"))
    return tuple(fields)


def gpu_line(
    row: GpuRow,
    layout: FleetLayout,
    spark: Sequence[float | None],
    sort: Sort,
    levels: NumberLevels,
) -> Line:
    gpu = row.gpu
    glyph, mark_cls = _MARKS.get(row.mark or "", (" ", "muted"))
    fields: list[Field] = [
        (f"{glyph} ", mark_cls),
        (_cell(gpu.host, layout.node_w), "muted"),
        (f"{gpu.index:>3} " if gpu.index >= 0 else "  ? ", "value"),
        (_cell(gpu.name.replace("NVIDIA ", ""), MODEL_W), "model"),
    ]
    if layout.pod_w:
        fields.append((_cell(row.pod, layout.pod_w), "muted"))
    if gpu.state == "lost":
        fields.append((visible(f"LOST — {gpu.reason or 'the GPU is lost'}"), "lost"))
        return tuple(fields)
    for metric in GPU_METRICS:
        text, width = format_value(gpu.metric(metric.key), metric.unit), metric.width
        fields.append((text.rjust(width)[-width:] + " ", _LEVEL[levels.level(metric, gpu)]))
    fields.extend(_spark_fields(spark, layout.spark_w, sort.metric, gpu, levels))
    return tuple(fields)


def _spark_fields(
    values: Sequence[float | None],
    width: int,
    metric_key: str,
    gpu: GpuSample,
    levels: NumberLevels,
) -> list[Field]:
    metric = METRICS[metric_key]
    shown = list(values[-width:]) if width else []
    lo, hi = spark_bounds(metric, gpu)
    fields: list[Field] = [(" " * (width - len(shown)), "spark")] if len(shown) < width else []
    for text, level in spark_runs(shown, lo, hi, levels.spark_warn(metric_key)):
        fields.append((text, "spark-warn" if level == 1 else "spark"))
    return fields


@dataclass(frozen=True, slots=True)
class _Sparks:
    """Closed buckets of one metric from the store, for the lines in view."""

    store: MetricStore
    metric: str
    window_s: float
    now: float

    def token(self, columns: int) -> Hashable:
        spec = SparkSpec(self.window_s, columns)
        # merges (history from Prometheus) can fill buckets that were already closed
        return (self.metric, columns, spec.epoch(self.now), self.store.merges)

    def values(self, key: str, columns: int) -> tuple[float | None, ...]:
        spec = SparkSpec(self.window_s, columns)
        return closed_buckets(self.store, key, self.metric, spec, self.now)


class FleetScreen(GpuTopScreen):
    CSS_PATH = "fleet.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "sort('t')", "Temp", tooltip="Sort by worst temperature"),
        Binding("m", "sort('m')", "Memory", tooltip="Sort by memory used"),
        Binding("u", "sort('u')", "Util", tooltip="Sort by utilization"),
        Binding("n", "sort('n')", "Node", tooltip="Sort by node, then GPU index"),
        Binding("enter", "open", "Detail", tooltip="Open the detail of the GPU under the cursor"),
        Binding("escape", "back", "Back"),
    ]

    #: The glyphs of the fleet's lines, for the help.
    LEGEND: ClassVar[list[tuple[str, str]]] = [
        ("●", "a rule fires on this GPU"),
        ("◐", "a rule is pending on it"),
        ("○", "a rule is near firing on it"),
        ("▶", "the cursor"),
        ("▾", "a node: its GPUs and its worst temperature"),
    ]

    def __init__(self, *, sort: str = "n") -> None:
        super().__init__()
        self.sort_key = sort
        self._pods: dict[str, str] = {}
        self._pods_at = -math.inf
        self._rows: list[FleetRow] = []
        self._given: tuple[object, ...] = ()
        self._has_gpus = False

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield FleetLines(id="fleet-title")
        yield FleetTable(id="fleet")
        yield KeyBar()

    def on_mount(self) -> None:
        self.refresh_view()
        self.query_one(FleetTable).focus()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    def on_resize(self) -> None:
        self.call_after_refresh(self.refresh_view)

    @property
    def rows(self) -> list[FleetRow]:
        """What the table holds, top to bottom."""
        return list(self._rows)

    @property
    def gpu_keys(self) -> list[str]:
        """Keys of the GPU lines, top to bottom."""
        return [r.gpu.key for r in self._rows if isinstance(r, GpuRow)]

    def refresh_view(self) -> None:
        """Bring the lines in view up to date; cheap when nothing in view changed."""
        app = self.app
        monitor = app.monitor
        now = monitor.clock.now()
        app.update_status(self.query_one(StatusBar))
        title = self.query_one(FleetLines)
        table = self.query_one(FleetTable)
        remote = monitor.remote
        if remote is None:
            title.set_lines([((NO_PROMETHEUS, "note"),)])
            return
        gpus = tuple(remote.gpus())
        if bool(gpus) != self._has_gpus:  # the sort keys are offered once there are GPUs
            self._has_gpus = bool(gpus)
            self.refresh_bindings()
        pods_changed = self._refresh_pods(remote, gpus, now)
        marks = app.gpu_marks(gpus)
        levels = app.number_levels()
        sort = SORTS[self.sort_key]
        given = (gpus, marks, self.sort_key)
        if pods_changed or given != self._given:  # the same readings keep the same rows
            self._given = given
            self._rows = fleet_rows(gpus, self.sort_key, pods=self._pods, marks=marks)
        longest = max((len(r.host) for r in self._rows if isinstance(r, NodeRow)), default=0)
        layout = FleetLayout.fit(table.scrollable_content_region.width, longest)
        table.show(
            self._rows,
            look=(layout, self.sort_key, levels),
            spark_columns=layout.spark_w,
            feed=_Sparks(monitor.store, sort.metric, app.window_s, now),
            word=lambda row, spark: _line(row, layout, spark, sort, levels),
        )
        title.set_lines([self._title_line(remote, gpus), heading_line(layout, sort, app.window_s)])

    def _title_line(self, remote: RemoteSource, gpus: Sequence[GpuSample]) -> Line:
        sort = SORTS[self.sort_key]
        nodes = len({g.host for g in gpus})
        if not gpus:
            state = remote.state
            why = state.reason if not state.ok and state.reason else "no DCGM metrics seen yet"
            return ((visible(f"Fleet · waiting for Prometheus: {why}"), "note"),)
        lost = sum(1 for g in gpus if g.state == "lost")
        fields: list[Field] = [
            ("Fleet", "title"),
            (f" · {len(gpus)} GPUs on {nodes} node{'s' if nodes != 1 else ''}", "muted"),
            (f" · sort {sort.label}", "title"),
        ]
        if lost:
            fields.append((f" · {lost} lost", "lost"))
        return tuple(fields)

    def _refresh_pods(self, remote: RemoteSource, gpus: Sequence[GpuSample], now: float) -> bool:
        """Pod names change rarely: read them for new GPUs, and all of them once a minute."""
        stale = now - self._pods_at >= LABELS_EVERY_S
        if stale:
            self._pods_at = now
        changed = False
        for gpu in gpus:
            if stale or gpu.key not in self._pods:
                pod = pod_text(remote.labels(gpu.key))
                changed = changed or pod != self._pods.get(gpu.key)
                self._pods[gpu.key] = pod
        return changed

    # ---- actions -------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("sort", "open"):
            return self._has_gpus  # nothing to sort or open: not in the footer
        return True

    def action_open(self) -> None:
        key = self.query_one(FleetTable).cursor_key
        if key is not None and key in self.gpu_keys:
            self.app.open_detail(key)

    def action_sort(self, key: str) -> None:
        if key != self.sort_key:
            self.sort_key = key
            self.refresh_view()
            self.query_one(FleetTable).action_scroll_home()  # the worst first, under the cursor

    def action_back(self) -> None:
        self.dismiss()


def _line(
    row: FleetRow,
    layout: FleetLayout,
    spark: Sequence[float | None],
    sort: Sort,
    levels: NumberLevels,
) -> Line:
    if isinstance(row, NodeRow):
        return node_line(row, levels)
    return gpu_line(row, layout, spark, sort, levels)
