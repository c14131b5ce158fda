"""The fleet's lines as plain data: every GPU Prometheus sees, grouped by node, in the order of
a sort key, and each line's fields (no widgets). Nodes are ordered by their worst value of the
sort metric and GPUs within a node likewise (`n`: by name and index), so the first GPU line is
the fleet's worst; the glyph before a GPU is the worst rule touching it.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from gputop.core.jobs import jobs_from_labels, jobs_text
from gputop.core.models import GPU_METRICS, METRICS, TEMPERATURE, GpuSample
from gputop.core.store import MetricStore
from gputop.core.units import format_duration, format_value
from gputop.core.untrusted import visible
from gputop.ui.spark import spark_runs
from gputop.ui.views.readings import (
    NumberLevels,
    SparkSpec,
    closed_buckets,
    spark_bounds,
)
from gputop.ui.widgets.fleet_table import Field, Line

__all__ = [
    "FLEET_LEGEND",
    "NO_PROMETHEUS",
    "SORTS",
    "FleetLayout",
    "FleetRow",
    "FleetSparks",
    "GpuRow",
    "NodeRow",
    "Sort",
    "fleet_line",
    "fleet_rows",
    "gpu_line",
    "heading_line",
    "node_line",
    "pod_text",
]

#: The glyphs of the fleet's lines, for the help.
FLEET_LEGEND: list[tuple[str, str]] = [
    ("●", "a rule fires on this GPU"),
    ("◐", "a rule is pending on it"),
    ("○", "a rule is near firing on it"),
    ("▶", "the cursor"),
    ("▾", "a node: its GPUs and its worst temperature"),
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
    """The job DCGM reports on a GPU: namespace/pod, `job <id>` (HPC mapping), else ""."""
    return jobs_text(jobs_from_labels(labels))


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
        members = _instances_under_gpus(members)
        hot = [g for g in members if _value(g, "temperature_c") is not None]
        hottest = max(hot, key=lambda g: g.temperature_c or 0.0, default=None)
        lost = sum(1 for g in members if g.state == "lost")
        whole = sum(1 for g in members if g.mig is None)  # MIG instances are not GPUs
        rows.append(NodeRow(host, whole, hottest, lost))
        for gpu in members:
            key = gpu.key
            rows.append(GpuRow(gpu, (pods or {}).get(key, ""), (marks or {}).get(key)))
    return rows


def _instances_under_gpus(members: list[GpuSample]) -> list[GpuSample]:
    """Each MIG instance right after its GPU, in GPU instance order, wherever the sort put it."""
    instances: dict[tuple[int, str], list[GpuSample]] = {}
    for g in members:
        if g.mig is not None:
            instances.setdefault((g.index, g.mig.parent_uuid), []).append(g)
    if not instances:
        return members
    out: list[GpuSample] = []
    for g in members:
        if g.mig is not None:
            continue
        out.append(g)
        mine = instances.pop((g.index, g.uuid), [])
        out.extend(sorted(mine, key=lambda i: i.mig.gi if i.mig else 0))
    for orphans in instances.values():  # their GPU is not listed: they still are
        out.extend(orphans)
    return out


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
        texts.append(_cell("JOB", layout.pod_w))
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
    if gpu.mig is not None:  # under its GPU: "  ╰ GI 7 1g.10gb"
        index, model = "  ╰ ", f"GI {gpu.mig.gi} {gpu.mig.profile or ''}".rstrip()
    else:
        index = f"{gpu.index:>3} " if gpu.index >= 0 else "  ? "
        model = gpu.name.replace("NVIDIA ", "")
    fields: list[Field] = [
        (f"{glyph} ", mark_cls),
        (_cell(gpu.host, layout.node_w), "muted"),
        (index, "value"),
        (_cell(model, MODEL_W), "model"),
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
class FleetSparks:
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


def fleet_line(
    row: FleetRow,
    layout: FleetLayout,
    spark: Sequence[float | None],
    sort: Sort,
    levels: NumberLevels,
) -> Line:
    if isinstance(row, NodeRow):
        return node_line(row, levels)
    return gpu_line(row, layout, spark, sort, levels)
