"""Frozen sample models: what sources produce and views read."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

__all__ = [
    "GPU_METRICS",
    "METRICS",
    "GpuSample",
    "LatencySample",
    "Metric",
    "NodeSnapshot",
    "ProcessSample",
    "SourceState",
    "SourceStatus",
]


class SourceStatus(str, Enum):
    """The public states of a source (`sources.<name>.state` in --json)."""

    OK = "ok"
    STALE = "stale"  # answers, but its newest sample stopped advancing
    UNAVAILABLE = "unavailable"  # not installed / not reachable at all
    ERROR = "error"  # was reachable or configured, now failing
    OFF = "off"  # not configured


@dataclass(frozen=True, slots=True)
class SourceState:
    """A source's health. `last_ok` is when it last answered; `newest` is the time of the
    newest sample it holds, which is what freshness is judged by (an engine can answer
    every request and still have nothing new)."""

    status: SourceStatus
    reason: str | None = None
    last_ok: float | None = None  # time of the last good answer or sample
    retry_at: float | None = None  # when the next attempt is due after a failure
    newest: float | None = None  # time of the newest sample held (None: not tracked or none)
    interval_s: float | None = None  # seconds between its samples, when known
    lag_s: float | None = None  # how late the engine shows its data (its now behind ours)

    @property
    def ok(self) -> bool:
        return self.status is SourceStatus.OK

    def age_s(self, now: float) -> float | None:
        """How old the newest sample is at `now`; None when unknown."""
        return None if self.newest is None else max(0.0, now - self.newest)

    def as_json(self, now: float | None = None) -> dict[str, object]:
        """`state` and `reason`; with `now`, also `newest` (ISO 8601) and `age_s` (null when
        unknown)."""
        doc: dict[str, object] = {"state": self.status.value, "reason": self.reason}
        if now is not None:
            newest = None
            if self.newest is not None:
                when = dt.datetime.fromtimestamp(self.newest, dt.timezone.utc)
                newest = when.isoformat(timespec="seconds")
            age = self.age_s(now)
            doc["newest"] = newest
            doc["age_s"] = None if age is None else round(age, 1)
        return doc


Aggregate = Literal["max", "mean"]


@dataclass(frozen=True, slots=True)
class Metric:
    """A plottable GPU metric, and everything every view says or draws of it.

    One table for the whole UI: the card's and compact line's column label, the reading's
    fixed field width, the detail chart's title and colour, the axis bounds, and which
    aggregate of a time bucket a sparkline cell shows.
    """

    key: str  # the GpuSample field and the store series
    label: str  # column label: "MEM"
    title: str  # chart title: "Memory used %"
    unit: str
    lo: float
    hi: float | None  # None: scale to the data (or the GPU's own limit)
    width: int  # cells of its reading: "100%" is 4
    colour: str  # chart line colour (a plotext colour name)
    aggregate: Aggregate = "mean"  # peaks matter for memory and heat, averages for load


MEMORY = Metric("memory_used_pct", "MEM", "Memory used %", "%", 0.0, 100.0, 4, "cyan", "max")
TEMPERATURE = Metric(
    "temperature_c", "TEMP", "Temperature °C", "°C", 20.0, 100.0, 5, "orange", "max"
)
UTILIZATION = Metric(
    "utilization_gpu_pct", "UTIL", "GPU utilization %", "%", 0.0, 100.0, 4, "green"
)
POWER = Metric("power_w", "PWR", "Power W", "W", 0.0, None, 5, "magenta")
#: The four sparkline metrics of every GPU card, in display order.
GPU_METRICS: tuple[Metric, ...] = (MEMORY, TEMPERATURE, UTILIZATION, POWER)
#: The same, by key.
METRICS: dict[str, Metric] = {m.key: m for m in GPU_METRICS}

GpuState = Literal["ok", "lost"]


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One reading of one GPU. Any field may be None: not available (shown as n/a)."""

    index: int
    uuid: str
    name: str
    host: str
    source: str
    time: float
    state: GpuState = "ok"
    reason: str | None = None
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None
    utilization_gpu_pct: float | None = None
    utilization_memory_pct: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    sm_clock_mhz: float | None = None
    mem_clock_mhz: float | None = None
    fan_pct: float | None = None

    @property
    def memory_used_pct(self) -> float | None:
        if self.memory_used_mib is None or not self.memory_total_mib:
            return None
        return 100.0 * self.memory_used_mib / self.memory_total_mib

    @property
    def memory_free_mib(self) -> float | None:
        if self.memory_used_mib is None or self.memory_total_mib is None:
            return None
        return self.memory_total_mib - self.memory_used_mib

    @property
    def key(self) -> str:
        """Stable identity of the GPU across samples and sources."""
        return self.uuid or f"{self.host}/{self.index}"

    def metric(self, key: str) -> float | None:
        value = getattr(self, key)
        return None if value is None else float(value)

    def as_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "uuid": self.uuid,
            "name": self.name,
            "host": self.host,
            "state": self.state,
            "reason": self.reason,
            "memory_used_mib": self.memory_used_mib,
            "memory_total_mib": self.memory_total_mib,
            "utilization_gpu_pct": self.utilization_gpu_pct,
            "utilization_memory_pct": self.utilization_memory_pct,
            "temperature_c": self.temperature_c,
            "power_w": self.power_w,
            "power_limit_w": self.power_limit_w,
            "sm_clock_mhz": self.sm_clock_mhz,
            "mem_clock_mhz": self.mem_clock_mhz,
            "fan_pct": self.fan_pct,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class ProcessSample:
    gpu_index: int
    gpu_uuid: str
    pid: int
    gpu_memory_mib: float | None
    user: str | None = None
    command: str | None = None
    cpu_pct: float | None = None
    started: float | None = None  # epoch seconds

    def as_json(self) -> dict[str, object]:
        return {
            "gpu_index": self.gpu_index,
            "gpu_uuid": self.gpu_uuid,
            "pid": self.pid,
            "user": self.user,
            "command": self.command,
            "gpu_memory_mib": self.gpu_memory_mib,
            "cpu_pct": self.cpu_pct,
            "started": self.started,
        }


@dataclass(frozen=True, slots=True)
class LatencySample:
    """Inference latency quantiles (seconds) and throughput at one time."""

    time: float
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    jobs_per_min: float | None

    def as_json(self) -> dict[str, float | None]:
        return {
            "p50_s": self.p50_s,
            "p95_s": self.p95_s,
            "p99_s": self.p99_s,
            "jobs_per_min": self.jobs_per_min,
        }


@dataclass(frozen=True, slots=True)
class NodeSnapshot:
    """Everything one local source read at one time."""

    time: float
    host: str
    source: str
    gpus: tuple[GpuSample, ...] = ()
    processes: tuple[ProcessSample, ...] = ()
    driver_version: str | None = None
    cuda_version: str | None = None
    latency: LatencySample | None = None
    extra: dict[str, str] = field(default_factory=dict)
