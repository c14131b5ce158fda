"""The dcgm-exporter metric catalogue: what each metric measures, in which unit and range.

The lint uses it for unit sense (a 0–1 ratio compared with 95 never fires), the local
evaluator for the mapping of DCGM metrics onto the store's series.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CATALOGUE",
    "GPU_LABELS",
    "HISTOGRAM_SUFFIXES",
    "MetricInfo",
    "lookup",
]

MetricKind = Literal["gauge", "counter", "histogram"]

#: Labels dcgm-exporter puts on every per-GPU series (Kubernetes adds namespace/pod/container).
GPU_LABELS: tuple[str, ...] = (
    "gpu",
    "UUID",
    "device",
    "modelName",
    "Hostname",
    "namespace",
    "pod",
    "container",
)
#: Series a Prometheus histogram is exposed as.
HISTOGRAM_SUFFIXES: tuple[str, ...] = ("_bucket", "_sum", "_count")


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """One metric: unit, kind, the range its values can take, what it means.

    `store_field` names the MetricStore series it maps to locally; `store_scale` converts the
    store's value into the metric's unit (e.g. a percentage into a 0–1 ratio).
    """

    name: str
    unit: str
    kind: MetricKind
    meaning: str
    lo: float | None = None
    hi: float | None = None
    store_field: str | None = None
    store_scale: float = 1.0

    @property
    def range_name(self) -> str | None:
        """ "ratio 0–1" or "percent 0–100" for bounded metrics, else None."""
        if self.lo == 0.0 and self.hi == 1.0:
            return "ratio 0–1"
        if self.lo == 0.0 and self.hi == 100.0:
            return "percent 0–100"
        return None


# fmt: off
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "pct": (0.0, 100.0),
    "ratio": (0.0, 1.0),
    "nonneg": (0.0, None),
    "any": (None, None),
}


def _metric(
    name: str,
    unit: str,
    kind: MetricKind,
    values: str,
    meaning: str,
    store_field: str | None = None,
    store_scale: float = 1.0,
) -> MetricInfo:
    lo, hi = _RANGES[values]
    return MetricInfo(name, unit, kind, meaning, lo, hi, store_field, store_scale)


_METRICS: tuple[MetricInfo, ...] = (
    # name, unit, kind, range, meaning[, store series, scale]
    _metric(
        "DCGM_FI_DEV_GPU_UTIL", "%", "gauge", "pct",
        "GPU utilization: share of time a kernel was running", "utilization_gpu_pct",
    ),
    _metric(
        "DCGM_FI_DEV_MEM_COPY_UTIL", "%", "gauge", "pct",
        "memory-bus utilization: share of time device memory was read or written "
        "(busy time, not occupancy)", "utilization_memory_pct",
    ),
    _metric("DCGM_FI_DEV_ENC_UTIL", "%", "gauge", "pct", "video encoder utilization"),
    _metric("DCGM_FI_DEV_DEC_UTIL", "%", "gauge", "pct", "video decoder utilization"),
    _metric(
        "DCGM_FI_DEV_FB_USED", "MiB", "gauge", "nonneg", "framebuffer (device) memory used",
        "memory_used_mib",
    ),
    _metric(
        "DCGM_FI_DEV_FB_FREE", "MiB", "gauge", "nonneg", "framebuffer (device) memory free",
        "memory_free_mib",
    ),
    _metric("DCGM_FI_DEV_FB_TOTAL", "MiB", "gauge", "nonneg", "framebuffer memory total"),
    _metric("DCGM_FI_DEV_FB_RESERVED", "MiB", "gauge", "nonneg", "memory the driver reserves"),
    _metric(
        "DCGM_FI_DEV_GPU_TEMP", "°C", "gauge", "any", "GPU die temperature", "temperature_c"
    ),
    _metric("DCGM_FI_DEV_MEMORY_TEMP", "°C", "gauge", "any", "HBM memory temperature"),
    _metric("DCGM_FI_DEV_POWER_USAGE", "W", "gauge", "nonneg", "board power draw", "power_w"),
    _metric("DCGM_FI_DEV_POWER_MGMT_LIMIT", "W", "gauge", "nonneg", "power limit"),
    _metric("DCGM_FI_DEV_SM_CLOCK", "MHz", "gauge", "nonneg", "SM clock", "sm_clock_mhz"),
    _metric("DCGM_FI_DEV_MEM_CLOCK", "MHz", "gauge", "nonneg", "memory clock", "mem_clock_mhz"),
    _metric("DCGM_FI_DEV_FAN_SPEED", "%", "gauge", "pct", "fan speed"),
    _metric(
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "mJ", "counter", "nonneg",
        "energy used since the driver loaded",
    ),
    _metric("DCGM_FI_DEV_XID_ERRORS", "code", "gauge", "any", "last XID error code"),
    _metric("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "count", "counter", "nonneg", "PCIe replays"),
    _metric("DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "count", "counter", "nonneg", "NVLink traffic"),
    _metric("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "count", "counter", "nonneg", "single-bit ECC errors"),
    _metric("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "count", "counter", "nonneg", "double-bit ECC errors"),
    _metric("DCGM_FI_DEV_POWER_VIOLATION", "µs", "counter", "nonneg", "time power-throttled"),
    _metric("DCGM_FI_DEV_THERMAL_VIOLATION", "µs", "counter", "nonneg", "time heat-throttled"),
    _metric("DCGM_FI_DEV_RETIRED_SBE", "count", "gauge", "nonneg", "pages retired (SBE)"),
    _metric("DCGM_FI_DEV_RETIRED_DBE", "count", "gauge", "nonneg", "pages retired (DBE)"),
    _metric("DCGM_FI_DEV_RETIRED_PENDING", "count", "gauge", "nonneg", "pages to retire"),
    _metric("DCGM_FI_PROF_PCIE_TX_BYTES", "B/s", "gauge", "nonneg", "PCIe bytes sent"),
    _metric("DCGM_FI_PROF_PCIE_RX_BYTES", "B/s", "gauge", "nonneg", "PCIe bytes received"),
    _metric(
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "ratio", "gauge", "ratio",
        "graphics/compute engine active: ratio of time any kernel ran",
        "utilization_gpu_pct", 0.01,
    ),
    _metric("DCGM_FI_PROF_SM_ACTIVE", "ratio", "gauge", "ratio", "cycles an SM had a warp"),
    _metric("DCGM_FI_PROF_SM_OCCUPANCY", "ratio", "gauge", "ratio", "resident warps / maximum"),
    _metric("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "ratio", "gauge", "ratio", "tensor pipe active"),
    _metric("DCGM_FI_PROF_PIPE_FP64_ACTIVE", "ratio", "gauge", "ratio", "FP64 pipe active"),
    _metric("DCGM_FI_PROF_PIPE_FP32_ACTIVE", "ratio", "gauge", "ratio", "FP32 pipe active"),
    _metric("DCGM_FI_PROF_PIPE_FP16_ACTIVE", "ratio", "gauge", "ratio", "FP16 pipe active"),
    _metric("DCGM_FI_PROF_DRAM_ACTIVE", "ratio", "gauge", "ratio", "cycles DRAM was busy"),
    _metric(
        "t2v_inference_duration_seconds", "s", "histogram", "nonneg",
        "end-to-end duration of one text-to-video inference job",
    ),
    _metric(
        "t2v_jobs_completed_total", "jobs", "counter", "nonneg", "inference jobs completed"
    ),
    _metric("t2v_queue_depth", "jobs", "gauge", "nonneg", "inference jobs waiting for a GPU"),
    _metric("up", "bool", "gauge", "ratio", "1 when the target's last scrape succeeded"),
)
# fmt: on

#: Every catalogued metric by name.
CATALOGUE: dict[str, MetricInfo] = {m.name: m for m in _METRICS}


def lookup(name: str) -> MetricInfo | None:
    """The catalogue entry of a metric, also for a histogram's _bucket/_sum/_count series."""
    info = CATALOGUE.get(name)
    if info is not None:
        return info
    for suffix in (*HISTOGRAM_SUFFIXES, "_created"):
        if not name.endswith(suffix):
            continue
        stem = name.removesuffix(suffix)
        base = CATALOGUE.get(stem)
        if base is not None and base.kind == "histogram":
            return base
        # OpenMetrics exposes a counter's creation time as <name without _total>_created.
        counter = CATALOGUE.get(stem + "_total")
        if suffix == "_created" and counter is not None and counter.kind == "counter":
            return counter
    return None
