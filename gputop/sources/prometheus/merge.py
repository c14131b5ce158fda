"""Writing Prometheus' answers into the store: one GPU and metric at a time, never over the
live data of the local source, and what is known of each GPU seen (`gpus`: identity, labels,
jobs, latest points) and of the latency, for the readings the feed hands out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

from gputop.core.store import LATENCY_KEY, SERIES_FIELDS, MetricStore
from gputop.sources.prometheus.api import PromSeries
from gputop.sources.prometheus.gpus import GpuTable
from gputop.sources.prometheus.queries import LATENCY_METRICS

__all__ = ["Point", "StoreWriter", "held_points", "later"]

Point = tuple[float, float | None]
_MEMORY = frozenset({"memory_used_mib", "memory_free_mib"})


class StoreWriter:
    """Merges range answers into the store and keeps what the feed knows of each GPU."""

    def __init__(
        self, store: MetricStore, capacity: int, local_keys: Callable[[], set[str]]
    ) -> None:
        self._store = store
        self._capacity = capacity  # points kept per series
        self._local_keys = local_keys
        self.gpus = GpuTable()
        self.latency: dict[str, Point] = {}
        self._merged_last: dict[str, float] = {}  # entity -> newest time this source wrote
        self._local_since: dict[str, float] = {}  # entity -> first time the local source holds

    def local(self, now: float) -> set[str]:
        """Entities the local source writes live; remembers when each one's live data starts."""
        local = set(self._local_keys())
        for key in [k for k in self._local_since if k not in local]:
            del self._local_since[key]
        for key in local:
            if key not in self._local_since:
                self._local_since[key] = self._first_local_time(key, now)
        return local

    def _first_local_time(self, key: str, now: float) -> float:
        after = self._merged_last.get(key, -math.inf)
        first = now
        for metric in (*SERIES_FIELDS, *LATENCY_METRICS):
            series = self._store.get(key, metric)
            if series is None:
                continue
            for t, _ in series.items():
                if t > after:
                    first = min(first, t)
                    break
        return first

    def write(self, key: str, metric: str, points: Iterable[Point], local: set[str]) -> None:
        batch = sorted(points)
        if key in local:  # only history older than the live local data
            cutoff = self._local_since[key]
            batch = [p for p in batch if p[0] < cutoff]
        if batch:
            self._store.merge(key, metric, batch, capacity=self._capacity)
            self._merged_last[key] = max(self._merged_last.get(key, -math.inf), batch[-1][0])

    def merge_gpus(
        self, results: dict[str, tuple[PromSeries, ...]], local: set[str], *, full: bool
    ) -> float | None:
        """Merge the GPU series one GPU and metric at a time: a fleet's first fetch (400k
        points for 256 GPUs) is never held as Python objects at once. Each result is let go
        once merged; memory used and free wait for each other, for the percentage. Returns
        the newest point time received (None: none)."""
        wanted = _MEMORY & results.keys()
        memory: dict[str, dict[str, list[PromSeries]]] = {}
        received: float | None = None
        for metric in list(results):
            by_gpu: dict[str, list[PromSeries]] = {}
            for series in results.pop(metric):
                key = self.gpus.route(series.labels, metric, full=full)
                by_gpu.setdefault(key, []).append(series)
            for key, same in by_gpu.items():
                received = later(received, self.merge_gpu(key, metric, held_points(same), local))
            if metric in wanted:
                memory[metric] = by_gpu
                if memory.keys() == wanted:
                    self.merge_memory_pct(memory, local)
                    memory.clear()
        return received

    def merge_memory_pct(
        self, memory: dict[str, dict[str, list[PromSeries]]], local: set[str]
    ) -> None:
        used, free = memory.get("memory_used_mib", {}), memory.get("memory_free_mib", {})
        for key, used_series in used.items():
            used_held, free_held = held_points(used_series), held_points(free.get(key, []))
            pct = {t: _pct(u, free_held[t]) for t, u in used_held.items() if t in free_held}
            self.merge_gpu(key, "memory_used_pct", pct, local)

    def merge_gpu(
        self, key: str, metric: str, held: dict[float, float | None], local: set[str]
    ) -> float | None:
        """Write one GPU's metric; returns its newest point time (None: no point)."""
        if not held:
            return None
        self.write(key, metric, held.items(), local)
        newest = max(held)
        self.gpus.note(key, metric, newest, held[newest])
        return newest

    def merge_latency(
        self, results: Mapping[str, tuple[PromSeries, ...]], local: set[str]
    ) -> float | None:
        """Merge the latency series; returns the newest point time received (None: none)."""
        received: float | None = None
        for metric, series_list in results.items():
            held: dict[float, float | None] = {}
            for series in series_list:  # one series, unless the selector splits it
                for t, v in series.points:
                    held[t] = v if v is not None and math.isfinite(v) else None
            if not held:
                continue
            self.write(LATENCY_KEY, metric, held.items(), local)
            newest = max(held)
            received = newest if received is None else max(received, newest)
            if newest >= self.latency.get(metric, (-math.inf, None))[0]:
                self.latency[metric] = (newest, held[newest])
        return received


def held_points(same: list[PromSeries]) -> dict[float, float | None]:
    """One GPU's points of one metric; a duplicate series (the GPU twice) fills only gaps."""
    held: dict[float, float | None] = {}
    for series in same:
        for t, v in series.points:
            v = v if v is not None and math.isfinite(v) else None
            if v is not None or held.get(t) is None:  # a duplicate series may be NaN
                held[t] = v
    return held


def later(a: float | None, b: float | None) -> float | None:
    """The later of two times, either of which may be unknown."""
    if a is None:
        return b
    return a if b is None else max(a, b)


def _pct(used: float | None, free: float | None) -> float | None:
    if used is None or free is None or used + free <= 0:
        return None
    return 100.0 * used / (used + free)
