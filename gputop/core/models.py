"""Frozen sample models: what sources produce and views read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

__all__ = [
    "GPU_METRICS",
    "METRICS",
    "GpuSample",
    "Job",
    "LatencySample",
    "LostSince",
    "Metric",
    "MigInfo",
    "NodeSnapshot",
    "ProcessSample",
    "ServingSample",
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
JobKind = Literal["pod", "slurm", "container", "user"]


@dataclass(frozen=True, slots=True)
class Job:
    """Who is on a GPU: a Kubernetes pod, a Slurm job, a container or a user. Every field is
    outside text (a pod's name, a job id) and may be unknown: a pod found by its cgroup is
    known by its UID only."""

    kind: JobKind
    name: str | None = None
    namespace: str | None = None
    container: str | None = None
    uid: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "name": self.name,
            "namespace": self.namespace,
            "container": self.container,
            "uid": self.uid,
        }


@dataclass(frozen=True, slots=True)
class MigInfo:
    """What makes a GPU sample one MIG instance of a GPU: its GPU instance (and compute
    instance, when one) and profile. `unavailable` says, per field, why it is n/a."""

    gi: int
    ci: int | None
    profile: str | None
    parent_uuid: str
    unavailable: tuple[tuple[str, str], ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "gi": self.gi,
            "ci": self.ci,
            "profile": self.profile,
            "parent_uuid": self.parent_uuid,
            "unavailable": dict(self.unavailable),
        }


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
    mig: MigInfo | None = None  # set on a MIG instance: its row is its own
    mig_mode: bool | None = None  # on a whole GPU: MIG enabled (None: unknown or n/a)
    jobs: tuple[Job, ...] = ()

    @property
    def label(self) -> str:
        """How a screen names it: "GPU 3", or "GPU 0 GI 7" for a MIG instance."""
        return f"GPU {self.index}" + (f" GI {self.mig.gi}" if self.mig is not None else "")

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
        """Stable identity of the GPU across samples and sources; a MIG instance is known by
        its parent and GPU instance id, as both NVML and dcgm-exporter can name it."""
        if self.mig is not None:
            return f"{self.mig.parent_uuid or f'{self.host}/{self.index}'}/gi{self.mig.gi}"
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
            "mig": None if self.mig is None else self.mig.as_json(),
            "mig_mode": self.mig_mode,
            "jobs": [job.as_json() for job in self.jobs],
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
    gpu_instance: int | None = None  # the MIG GPU instance it runs in (gpu_uuid is its uuid)
    jobs: tuple[Job, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "gpu_index": self.gpu_index,
            "gpu_uuid": self.gpu_uuid,
            "gpu_instance": self.gpu_instance,
            "pid": self.pid,
            "user": self.user,
            "command": self.command,
            "gpu_memory_mib": self.gpu_memory_mib,
            "cpu_pct": self.cpu_pct,
            "started": self.started,
            "jobs": [job.as_json() for job in self.jobs],
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
class ServingSample:
    """One model of an inference server (vLLM, SGLang, TGI, Triton) at one time: quantiles
    of time to first token, time per output token and end-to-end latency (seconds), requests
    running and waiting, KV-cache use (%, of the fullest replica) and tokens per second."""

    engine: str
    model: str
    time: float
    ttft_p50_s: float | None = None
    ttft_p95_s: float | None = None
    ttft_p99_s: float | None = None
    tpot_p50_s: float | None = None
    tpot_p95_s: float | None = None
    tpot_p99_s: float | None = None
    e2e_p50_s: float | None = None
    e2e_p95_s: float | None = None
    e2e_p99_s: float | None = None
    running: float | None = None
    waiting: float | None = None
    kv_cache_pct: float | None = None
    tokens_per_s: float | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "model": self.model,
            "ttft_p50_s": self.ttft_p50_s,
            "ttft_p95_s": self.ttft_p95_s,
            "ttft_p99_s": self.ttft_p99_s,
            "tpot_p50_s": self.tpot_p50_s,
            "tpot_p95_s": self.tpot_p95_s,
            "tpot_p99_s": self.tpot_p99_s,
            "e2e_p50_s": self.e2e_p50_s,
            "e2e_p95_s": self.e2e_p95_s,
            "e2e_p99_s": self.e2e_p99_s,
            "running": self.running,
            "waiting": self.waiting,
            "kv_cache_pct": self.kv_cache_pct,
            "tokens_per_s": self.tokens_per_s,
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


class LostSince(dict[str, float]):
    """GPU key -> when the GPU was first seen lost."""

    def note(self, gpus: Iterable[GpuSample], now: float) -> None:
        """Remember since when each GPU is lost; forget the ones that answer again."""
        for gpu in gpus:
            if gpu.state == "lost":
                self.setdefault(gpu.key, now)
            else:
                self.pop(gpu.key, None)
