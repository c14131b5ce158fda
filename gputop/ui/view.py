"""What the screens show, computed from the monitor: plain data, no widgets.

A sparkline is drawn from *closed* fixed time buckets only, so its cells change once per
bucket while the number beside it follows every sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gputop.core.models import GPU_METRICS, GpuSample, Metric
from gputop.core.store import MetricStore
from gputop.core.units import format_value

__all__ = [
    "DEFAULT_WINDOW_S",
    "SparkSpec",
    "closed_buckets",
    "metric_level",
    "metric_text",
    "spark_warn",
    "spark_bounds",
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


METRICS = GPU_METRICS
