"""What the screens show, computed from the monitor: plain data, no widgets.

A sparkline is drawn from *closed* fixed time buckets only, so its cells change once per
bucket while the number beside it follows every sample.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from gputop.core.catalogue import lookup
from gputop.core.models import GpuSample, Metric, SourceState
from gputop.core.store import MetricStore
from gputop.core.units import format_age, format_duration, format_value
from gputop.promql.analysis import PromQLSyntaxError, analyse
from gputop.rules.model import RuleStatus

__all__ = [
    "DEFAULT_WINDOW_S",
    "RULE_SPARK_BUCKET_S",
    "SparkSpec",
    "bucket_means",
    "closed_buckets",
    "gpu_marks",
    "metric_level",
    "metric_text",
    "rule_metric",
    "source_part",
    "spark_bounds",
    "spark_warn",
    "stale_note",
    "status_matches_gpu",
]

#: The overview's sparkline window: the whole row spans this much time.
DEFAULT_WINDOW_S = 600.0

# Warn/critical levels for the numbers, from the built-in rule pack's thresholds.
_LEVELS: dict[str, tuple[float, float]] = {
    "memory_used_pct": (81.0, 90.0),
    "temperature_c": (76.5, 85.0),
}
#: Bucket aggregate per metric: peaks matter for memory and heat, averages for load.
_AGG = {"memory_used_pct": "max", "temperature_c": "max"}


@dataclass(frozen=True, slots=True)
class SparkSpec:
    """Where a sparkline's buckets sit in time."""

    window_s: float
    columns: int

    @classmethod
    def at_least(cls, window_s: float, columns: int, cell_s: float) -> SparkSpec:
        """`columns` buckets of `window_s / columns`, but no bucket shorter than `cell_s`."""
        return cls(max(window_s, columns * cell_s), columns)

    @property
    def width_s(self) -> float:
        return self.window_s / max(1, self.columns)

    def epoch(self, now: float) -> int:
        """Index of the last closed bucket: changes exactly when a bucket closes."""
        return math.floor(now / self.width_s) - 1


def closed_buckets(
    store: MetricStore, key: str, metric: str, spec: SparkSpec, now: float
) -> tuple[float | None, ...]:
    """One value per column, oldest first, from the closed buckets ending before `now`."""
    if spec.columns <= 0:
        return ()
    series = store.get(key, metric)
    if series is None:
        return (None,) * spec.columns
    buckets = series.downsample(now - spec.width_s, spec.width_s, spec.columns)
    agg = _AGG.get(metric, "mean")
    return tuple(getattr(b, agg) for b in buckets)


def spark_bounds(metric: Metric, gpu: GpuSample | None) -> tuple[float, float]:
    hi = metric.hi
    if hi is None:
        hi = (gpu.power_limit_w if gpu and gpu.power_limit_w else None) or 400.0
    return metric.lo, hi


def metric_text(metric: Metric, gpu: GpuSample) -> str:
    value = gpu.metric(metric.key)
    return format_value(value, metric.unit)


def spark_warn(metric_key: str) -> float | None:
    """Cells at or above this value are drawn in the warning colour."""
    levels = _LEVELS.get(metric_key)
    return levels[1] if levels else None


def metric_level(metric: Metric, gpu: GpuSample) -> int:
    """0 normal, 1 near a threshold, 2 over it."""
    value = gpu.metric(metric.key)
    if value is None:
        return 0
    if metric.key == "power_w":
        limit = gpu.power_limit_w
        levels = (0.95 * limit, limit) if limit else None
    else:
        levels = _LEVELS.get(metric.key)
    if levels is None:
        return 0
    warn, crit = levels
    return 2 if value >= crit else 1 if value >= warn else 0


def status_matches_gpu(labels: Mapping[str, str], gpu: GpuSample) -> bool:
    """Whether a rule's series is about this GPU (by UUID, else by index and host)."""
    uuid = labels.get("UUID")
    if uuid:
        return uuid == gpu.uuid
    if labels.get("gpu") != str(gpu.index):
        return False
    host = labels.get("Hostname") or labels.get("hostname")
    return host is None or host == gpu.host


_MARK_RANK = {"firing": 3, "pending": 2, "near": 1}


def gpu_marks(statuses: Sequence[RuleStatus], gpus: Sequence[GpuSample]) -> dict[str, str]:
    """GPU key → the worst of firing/pending/near among the rules touching it."""
    by_uuid: dict[str, list[GpuSample]] = {}
    by_index: dict[str, list[GpuSample]] = {}
    for gpu in gpus:
        by_uuid.setdefault(gpu.uuid, []).append(gpu)
        by_index.setdefault(str(gpu.index), []).append(gpu)
    marks: dict[str, str] = {}
    for st in statuses:
        rank = _MARK_RANK.get(st.state)
        if rank is None or not st.labels:
            continue
        uuid = st.labels.get("UUID")
        # only the GPUs that can match: a fleet has hundreds, and a rule a series per GPU
        candidates = by_uuid.get(uuid, []) if uuid else by_index.get(st.labels.get("gpu", ""), [])
        for gpu in candidates:
            worse = rank > _MARK_RANK.get(marks.get(gpu.key, ""), 0)
            if worse and status_matches_gpu(st.labels, gpu):
                marks[gpu.key] = st.state
    return marks


@lru_cache(maxsize=256)
def rule_metric(query: str | None) -> tuple[str, float] | None:
    """(store metric, scale) a rule's compared query is measured in, for threshold lines.

    A threshold `t` on the query is drawn at `t / scale` on that metric's chart.
    """
    if not query:
        return None
    try:
        analysis = analyse(query)
    except PromQLSyntaxError:
        return None
    metrics = set(analysis.metrics)
    if metrics == {"DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"}:
        return ("memory_used_pct", 1.0)  # used / (used + free) * 100
    comparison = analysis.comparison
    unit = comparison.unit_metric if comparison is not None else None
    if unit is None and len(metrics) == 1:
        unit = next(iter(metrics))
    info = lookup(unit) if unit else None
    if info is None or info.store_field is None:
        return None
    return (info.store_field, info.store_scale)


#: A rule's history sparkline: one cell per this many seconds of evaluations.
RULE_SPARK_BUCKET_S = 15.0


def bucket_means(history: Sequence[float], per_cell: float) -> tuple[float, ...]:
    """Mean of each group of `per_cell` consecutive values (evaluations are ~1 s apart)."""
    n = max(1, round(per_cell))
    full = len(history) - len(history) % n
    return tuple(sum(history[i : i + n]) / n for i in range(0, full, n))


def stale_note(state: SourceState | None) -> str:
    """Why a panel's data is not fresh ("" when it is): the failing source's reason and since when.

    The time is the newest sample's clock time (else the last good answer's), so the note does
    not tick every second.
    """
    if state is None or state.ok or state.status.value == "off":
        return ""
    reason = state.reason or state.status.value
    since = state.newest if state.newest is not None else state.last_ok
    if since is None:
        return f"no data: {reason}"
    return f"stale since {time.strftime('%H:%M:%S', time.localtime(since))}: {reason}"


#: Lags shorter than this (beyond one sample interval) read "now" in the header.
_LAG_SHOWN_S = 2.0
#: A lag is shown in steps of this many seconds below two minutes, so it repaints rarely.
_LAG_STEP_S = 5.0


def source_part(
    name: str, state: SourceState, now: float, *, stands_in: bool = False
) -> tuple[str, str] | None:
    """How the header words one source: (text, status-bar class); None when it is off.

    Freshness is the age of the newest sample, not of the last answer: `● prometheus now`,
    `● prometheus 30s behind` (an engine that shows data late, like VictoriaMetrics),
    `✖ prometheus STALE, newest 45s ago` (it answers, nothing new), `✖ prometheus:
    unreachable, stale 2m`. `stands_in`: another source covers for this unavailable one.
    """
    status = state.status.value
    if status == "off":
        return None
    newest = state.newest if state.newest is not None else state.last_ok
    age = None if newest is None else max(0.0, now - newest)
    if state.ok:
        return f"● {name} {_freshness(age, state.interval_s)}", "status-bar--ok"
    if status == "unavailable" and stands_in:
        return f"✖ {name} unavailable", "status-bar--off"
    if status == "stale":
        return f"✖ {name} STALE, newest {format_age(age)} ago", "status-bar--bad"
    stale = f", stale {format_age(age)}" if age is not None else ""
    return f"✖ {name}: {state.reason}{stale}", "status-bar--bad"


def _freshness(age: float | None, interval_s: float | None) -> str:
    """`now` while the newest sample is as new as the sampling allows, else how far behind."""
    if age is None:
        return "no data"
    if age < (interval_s or 0.0) + _LAG_SHOWN_S:
        return "now"
    if age < 120:
        return f"{format_duration(max(_LAG_STEP_S, age // _LAG_STEP_S * _LAG_STEP_S))} behind"
    return f"{format_duration(age // 60 * 60)} behind"
