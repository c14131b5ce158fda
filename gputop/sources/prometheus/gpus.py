"""The GPUs seen in Prometheus: each one's identity, labels, jobs and latest points, and its
MIG instances.

A series is about a GPU by `UUID` (else by node and `gpu` index). dcgm-exporter gives each
MIG GPU instance its own series, with the GPU's `gpu` and `UUID` plus `GPU_I_ID` and
`GPU_I_PROFILE`: each instance is a row of its own, under its GPU, with its own memory, and
rules about it match it alone. Device-level fields (temperature, power, clocks), which DCGM
repeats on every instance's series, are the GPU's, shown once on it; the GPU has no memory
or utilization of its own then (never one instance's number picked as the whole GPU's).

A GPU is lost when its node (scrape target) misses its scrapes while others go on (see
`freshness.Feed.missing`), or when its own series stop while its node's go on (it fell off
the bus).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from gputop.core.jobs import jobs_from_labels, merge_jobs
from gputop.core.labels import MIG_LABEL, node_of
from gputop.core.models import GpuSample, Job, MigInfo
from gputop.sources.prometheus.freshness import Feed

__all__ = ["DEVICE_LEVEL", "GpuTable"]

Point = tuple[float, float | None]
#: Store metrics DCGM reads for the whole GPU, even from a MIG instance's series.
DEVICE_LEVEL = frozenset({"temperature_c", "power_w", "sm_clock_mhz", "mem_clock_mhz"})
_PROFILE_LABEL = "GPU_I_PROFILE"
#: Labels that belong to one instance (or its job), not to its GPU.
_INSTANCE_LABELS = frozenset({MIG_LABEL, _PROFILE_LABEL, "pod", "namespace", "container"})


@dataclass(slots=True)
class _Gpu:
    """What is known of one GPU (or MIG instance) seen in Prometheus."""

    key: str
    uuid: str
    host: str
    index: int
    gi: int | None = None  # a MIG instance: its GPU instance id
    instance: str = ""  # the scrape target it comes from
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    jobs: tuple[Job, ...] = ()
    instances: tuple[str, ...] = ()  # a GPU in MIG mode: their keys
    latest: dict[str, Point] = field(default_factory=dict)
    time: float = -math.inf  # its newest point (of any metric): kept, asked many times a second


class GpuTable:
    """Every GPU and MIG instance seen, by key (the same key as `GpuSample.key`)."""

    def __init__(self) -> None:
        self._gpus: dict[str, _Gpu] = {}
        self.new_seen = False  # a GPU appeared in a slim answer: its full labels are due
        self.jobs_version = 0  # bumped when a GPU appears or its jobs change

    def __contains__(self, key: str) -> bool:
        return key in self._gpus

    def get(self, key: str) -> _Gpu | None:
        return self._gpus.get(key)

    def for_labels(self, labels: Mapping[str, str], *, full: bool) -> _Gpu:
        """The GPU (or instance) of a series; `full` labels (not only identity) also update
        its name, labels and jobs."""
        uuid = labels.get("UUID") or labels.get("uuid") or ""
        host = node_of(labels) or ""
        try:
            index = int(labels.get("gpu", ""))
        except ValueError:
            index = -1
        parent_key = uuid or f"{host}/{index}"  # the same identity as GpuSample.key
        gi = _instance_id(labels)
        key = parent_key if gi is None else f"{parent_key}/gi{gi}"
        gpu = self._gpus.get(key)
        if gpu is None:
            gpu = self._gpus[key] = _Gpu(key, uuid, host, index, gi)
            self.new_seen = self.new_seen or not full
            self.jobs_version += 1
        gpu.instance = labels.get("instance", gpu.instance)
        if gi is not None:
            parent = self._gpus.get(parent_key)
            if parent is None:
                parent = self._gpus[parent_key] = _Gpu(parent_key, uuid, host, index)
            parent.instance = gpu.instance
            if key not in parent.instances:
                self.jobs_version += 1
                keys = (*parent.instances, key)
                parent.instances = tuple(sorted(keys, key=lambda k: self._gpus[k].gi or 0))
            if full:
                parent.name = labels.get("modelName") or parent.name
                parent.labels = {
                    k: v for k, v in labels.items() if k != "__name__" and k not in _INSTANCE_LABELS
                }
        if full:
            gpu.name = labels.get("modelName") or gpu.name
            gpu.labels = {k: v for k, v in labels.items() if k != "__name__"}
            jobs = jobs_from_labels(gpu.labels)
            if jobs != gpu.jobs:
                gpu.jobs = jobs
                self.jobs_version += 1
        return gpu

    def route(self, labels: Mapping[str, str], metric: str, *, full: bool) -> str:
        """The key a series' points of `metric` are written under: a device-level field of
        a MIG instance's series is its GPU's."""
        gpu = self.for_labels(labels, full=full)
        if gpu.gi is not None and metric in DEVICE_LEVEL:
            return gpu.key.rsplit("/gi", 1)[0]
        return gpu.key

    def note(self, key: str, metric: str, time: float, value: float | None) -> None:
        gpu = self._gpus[key]
        if time >= gpu.latest.get(metric, (-math.inf, None))[0]:
            gpu.latest[metric] = (time, value)
            gpu.time = max(gpu.time, time)

    def samples(
        self, now: float, range_s: float, step: float, feed: Feed, source: str
    ) -> tuple[GpuSample, ...]:
        """The latest reading of every GPU and instance seen within the range, in fleet
        order (host, index, the GPU before its instances); `feed`: the GPU group's, whose
        targets say which nodes miss their scrapes, `step`: the range queries' step."""
        seen = [g for g in self._gpus.values() if g.time >= now - range_s]
        newest = max((g.time for g in seen), default=now)
        missing = {i: feed.missing(i, now) for i in {g.instance for g in seen}}  # once a node
        out: list[GpuSample] = []
        for g in sorted(seen, key=lambda g: (g.host, g.index, g.gi is not None, g.gi or 0, g.key)):
            values = {m: v for m, (_, v) in g.latest.items()}
            used, free = values.get("memory_used_mib"), values.get("memory_free_mib")
            target = feed.targets.get(g.instance)
            since = missing[g.instance]
            if since is not None:
                silent = now - since
            elif target is not None and target.newest is not None:
                # the GPU alone: silent while its node's samples go on (since they resumed)
                interval = target.interval_s or 0.0
                allowed = max(3 * step, 3 * interval, 60.0)
                silent = min(target.newest, feed.asked or -math.inf) - max(g.time, target.resumed)
                silent = silent if silent > allowed else 0.0
            else:  # no probe of its node: against the fleet's newest point
                silent = newest - g.time
                silent = silent if silent > max(3 * step, 60.0) else 0.0
            lost = since is not None or silent > 0
            out.append(
                GpuSample(
                    index=g.index,
                    uuid=g.uuid,
                    name=g.name,
                    host=g.host,
                    source=source,
                    time=g.time,
                    state="lost" if lost else "ok",
                    reason=f"no data from Prometheus for {silent:.0f} s" if lost else None,
                    memory_used_mib=used,
                    memory_total_mib=None if used is None or free is None else used + free,
                    utilization_gpu_pct=values.get("utilization_gpu_pct"),
                    utilization_memory_pct=values.get("utilization_memory_pct"),
                    temperature_c=values.get("temperature_c"),
                    power_w=values.get("power_w"),
                    sm_clock_mhz=values.get("sm_clock_mhz"),
                    mem_clock_mhz=values.get("mem_clock_mhz"),
                    mig=self._mig(g),
                    mig_mode=True if g.instances else None,
                    jobs=self._jobs(g),
                )
            )
        return tuple(out)

    def labels(self, key: str) -> dict[str, str]:
        g = self._gpus.get(key)
        return dict(g.labels) if g else {}

    def _mig(self, g: _Gpu) -> MigInfo | None:
        if g.gi is None:
            return None
        return MigInfo(g.gi, None, g.labels.get(_PROFILE_LABEL) or None, g.uuid)

    def _jobs(self, g: _Gpu) -> tuple[Job, ...]:
        if not g.instances:
            return g.jobs
        return merge_jobs([g.jobs, *(self._gpus[k].jobs for k in g.instances)])


def _instance_id(labels: Mapping[str, str]) -> int | None:
    text = labels.get(MIG_LABEL)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return None
