"""The store: one bounded RingSeries per (entity, metric), filled by sources, read by views."""

from __future__ import annotations

from collections.abc import Iterable

from gputop.core.models import GpuSample, LatencySample
from gputop.core.series import RingSeries

__all__ = ["LATENCY_KEY", "SERIES_FIELDS", "MetricStore", "serving_key"]

#: GpuSample fields (and derived properties) kept as history.
SERIES_FIELDS: tuple[str, ...] = (
    "memory_used_pct",
    "memory_used_mib",
    "memory_free_mib",
    "temperature_c",
    "utilization_gpu_pct",
    "utilization_memory_pct",
    "power_w",
    "sm_clock_mhz",
    "mem_clock_mhz",
)
#: Entity key of the node-wide inference latency series.
LATENCY_KEY = "latency"


def serving_key(engine: str, model: str) -> str:
    """Entity key of one model's inference-server series (`ServingSample` fields)."""
    return f"serving/{engine}/{model}"


class MetricStore:
    """Bounded history for every GPU metric and the latency quantiles.

    Memory is fixed by `capacity` points per series times the number of series; entities
    that disappear can be dropped with `forget`.
    """

    def __init__(self, capacity: int = 3600) -> None:
        self.capacity = capacity
        self._series: dict[tuple[str, str], RingSeries] = {}
        self.version = 0  # bumped on every change; views cache on it
        self.merges = 0  # bumped by merges (remote history), which can change closed buckets

    def series(self, entity: str, metric: str, capacity: int | None = None) -> RingSeries:
        """The series, created with `capacity` points (default: the store's) if new."""
        key = (entity, metric)
        s = self._series.get(key)
        if s is None:
            s = self._series[key] = RingSeries(capacity or self.capacity)
        return s

    def get(self, entity: str, metric: str) -> RingSeries | None:
        return self._series.get((entity, metric))

    def add_gpu(self, sample: GpuSample) -> None:
        for name in SERIES_FIELDS:
            value = None if sample.state == "lost" else getattr(sample, name)
            self.series(sample.key, name).append(sample.time, value)
        self.version += 1

    def add_latency(self, sample: LatencySample) -> None:
        for name in ("p50_s", "p95_s", "p99_s", "jobs_per_min"):
            self.series(LATENCY_KEY, name).append(sample.time, getattr(sample, name))
        self.version += 1

    def merge(
        self,
        entity: str,
        metric: str,
        points: Iterable[tuple[float, float | None]],
        *,
        capacity: int | None = None,
    ) -> int:
        """Insert remote history; a new series holds `capacity` points (a fleet's GPUs need
        only their range at the query step, not an hour of one-second samples)."""
        added = self.series(entity, metric, capacity).merge(points)
        if added:
            self.version += 1
            self.merges += 1
        return added

    def entities(self) -> set[str]:
        return {e for e, _ in self._series}

    def series_keys(self) -> list[tuple[str, str]]:
        """(entity, metric) of every series held."""
        return list(self._series)

    def forget(self, entity: str) -> None:
        for key in [k for k in self._series if k[0] == entity]:
            del self._series[key]
        self.version += 1
