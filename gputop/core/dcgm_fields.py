"""The dcgm-exporter fields: every field of its default and DCP counter sets, and the few
other DCGM fields rules are written on (those NVML reads, the power limits, the fan).

Facts, not code, from dcgm-exporter's `etc/default-counters.csv` and
`etc/dcp-metrics-included.csv` (which fields exist, their Prometheus type, which are on by
default) and DCGM's field documentation (units: MiB, MHz, W, mJ, and ns for the violation
counters). The Prometheus type is the one dcgm-exporter declares, so it agrees with the
server's `/api/v1/metadata`. `default=True` marks the fields a default install exports.
"""

from __future__ import annotations

from gputop.core.metric_info import MetricInfo, MetricKind

__all__ = ["DCGM_METRICS", "LABEL_FIELDS", "NOT_METRICS", "OLD_NAMES", "RENAMED"]

# (lo, hi) of the values a metric can take.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "pct": (0.0, 100.0),
    "ratio": (0.0, 1.0),
    "nonneg": (0.0, None),
    "any": (None, None),
}


def _f(
    name: str,
    unit: str,
    kind: MetricKind,
    values: str,
    meaning: str,
    *,
    default: bool = False,
    store: str | None = None,
    scale: float = 1.0,
    reading: str | None = None,
    equivalent: str | None = None,
) -> MetricInfo:
    lo, hi = _RANGES[values]
    return MetricInfo(
        name=name,
        unit=unit,
        kind=kind,
        meaning=meaning,
        lo=lo,
        hi=hi,
        store_field=store,
        store_scale=scale,
        reading=reading,
        default_export=default,
        equivalent=equivalent,
    )


_DEV = "DCGM_FI_DEV_"
_PROF = "DCGM_FI_PROF_"
_FB_SUM = "DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE + DCGM_FI_DEV_FB_RESERVED"
_REMAP = (
    "on A100 and newer GPUs, which remap rows instead of retiring pages: "
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS and DCGM_FI_DEV_ROW_REMAP_FAILURE"
)

# fmt: off
DCGM_METRICS: tuple[MetricInfo, ...] = (
    # Clocks
    _f(_DEV + "SM_CLOCK", "MHz", "gauge", "nonneg", "SM clock", default=True,
       store="sm_clock_mhz"),
    _f(_DEV + "MEM_CLOCK", "MHz", "gauge", "nonneg", "memory clock", default=True,
       store="mem_clock_mhz"),
    _f(_DEV + "VIDEO_CLOCK", "MHz", "gauge", "nonneg", "video encoder/decoder clock"),
    _f(_DEV + "MAX_SM_CLOCK", "MHz", "gauge", "nonneg", "highest SM clock the GPU supports"),
    _f(_DEV + "MAX_MEM_CLOCK", "MHz", "gauge", "nonneg", "highest memory clock it supports"),
    _f(_DEV + "CLOCKS_EVENT_REASONS", "bitmask", "gauge", "nonneg",
       "why the clocks are held down now: a bitmask of DCGM_CLOCKS_EVENT_REASON_*"),
    # Temperature
    _f(_DEV + "MEMORY_TEMP", "°C", "gauge", "any", "HBM memory temperature", default=True),
    _f(_DEV + "GPU_TEMP", "°C", "gauge", "any", "GPU die temperature", default=True,
       store="temperature_c"),
    _f(_DEV + "SLOWDOWN_TEMP", "°C", "gauge", "any", "temperature at which the GPU slows down"),
    _f(_DEV + "SHUTDOWN_TEMP", "°C", "gauge", "any", "temperature at which the GPU shuts down"),
    _f(_DEV + "GPU_MAX_OP_TEMP", "°C", "gauge", "any", "highest operating GPU temperature"),
    _f(_DEV + "MEM_MAX_OP_TEMP", "°C", "gauge", "any", "highest operating memory temperature"),
    # Power
    _f(_DEV + "POWER_USAGE", "W", "gauge", "nonneg", "board power draw", default=True,
       store="power_w"),
    _f(_DEV + "TOTAL_ENERGY_CONSUMPTION", "mJ", "counter", "nonneg",
       "energy used since the driver loaded", default=True),
    _f(_DEV + "POWER_MGMT_LIMIT", "W", "gauge", "nonneg", "power management limit",
       reading="power_limit_w"),
    _f(_DEV + "ENFORCED_POWER_LIMIT", "W", "gauge", "nonneg",
       "power limit the driver enforces after every limiter", reading="power_limit_w"),
    _f(_DEV + "POWER_MGMT_LIMIT_MIN", "W", "gauge", "nonneg", "lowest settable power limit"),
    _f(_DEV + "POWER_MGMT_LIMIT_MAX", "W", "gauge", "nonneg", "highest settable power limit"),
    _f(_DEV + "POWER_MGMT_LIMIT_DEF", "W", "gauge", "nonneg", "default power limit"),
    _f(_DEV + "PSTATE", "code", "gauge", "nonneg", "performance state, 0 (fastest) to 15"),
    _f(_DEV + "FAN_SPEED", "%", "gauge", "pct", "fan speed", reading="fan_pct"),
    # PCIe
    _f(_DEV + "PCIE_REPLAY_COUNTER", "count", "counter", "nonneg", "PCIe retries",
       default=True),
    _f(_DEV + "PCIE_TX_THROUGHPUT", "KB/s", "counter", "nonneg",
       "PCIe bytes sent, deprecated by DCGM", equivalent=_PROF + "PCIE_TX_BYTES"),
    _f(_DEV + "PCIE_RX_THROUGHPUT", "KB/s", "counter", "nonneg",
       "PCIe bytes received, deprecated by DCGM", equivalent=_PROF + "PCIE_RX_BYTES"),
    _f(_DEV + "PCIE_LINK_GEN", "code", "gauge", "nonneg", "current PCIe link generation"),
    _f(_DEV + "PCIE_LINK_WIDTH", "lanes", "gauge", "nonneg", "current PCIe link width"),
    _f(_PROF + "PCIE_TX_BYTES", "B/s", "gauge", "nonneg",
       "PCIe bytes sent per second, headers included", default=True),
    _f(_PROF + "PCIE_RX_BYTES", "B/s", "gauge", "nonneg",
       "PCIe bytes received per second, headers included", default=True),
    # Utilization
    _f(_DEV + "GPU_UTIL", "%", "gauge", "pct",
       "GPU utilization: share of time a kernel was running", default=True,
       store="utilization_gpu_pct"),
    _f(_DEV + "MEM_COPY_UTIL", "%", "gauge", "pct",
       "memory-bus utilization: share of time device memory was read or written "
       "(busy time, not occupancy)", default=True, store="utilization_memory_pct"),
    _f(_DEV + "ENC_UTIL", "%", "gauge", "pct", "video encoder utilization", default=True),
    _f(_DEV + "DEC_UTIL", "%", "gauge", "pct", "video decoder utilization", default=True),
    # Errors and violations
    _f(_DEV + "XID_ERRORS", "code", "gauge", "any",
       "the code of the last XID error, not a count", default=True),
    _f(_DEV + "POWER_VIOLATION", "ns", "counter", "nonneg", "time held back by the power cap"),
    _f(_DEV + "THERMAL_VIOLATION", "ns", "counter", "nonneg", "time held back by heat"),
    _f(_DEV + "SYNC_BOOST_VIOLATION", "ns", "counter", "nonneg", "time held back by sync boost"),
    _f(_DEV + "BOARD_LIMIT_VIOLATION", "ns", "counter", "nonneg",
       "time held back by the board limit"),
    _f(_DEV + "LOW_UTIL_VIOLATION", "ns", "counter", "nonneg",
       "time held back by low utilization"),
    _f(_DEV + "RELIABILITY_VIOLATION", "ns", "counter", "nonneg",
       "time held back by reliability limits"),
    # Memory
    _f(_DEV + "FB_FREE", "MiB", "gauge", "nonneg", "framebuffer (device) memory free",
       default=True, store="memory_free_mib"),
    _f(_DEV + "FB_USED", "MiB", "gauge", "nonneg", "framebuffer (device) memory used",
       default=True, store="memory_used_mib"),
    _f(_DEV + "FB_RESERVED", "MiB", "gauge", "nonneg", "framebuffer memory the driver reserves",
       default=True),
    _f(_DEV + "FB_TOTAL", "MiB", "gauge", "nonneg", "framebuffer memory in all",
       reading="memory_total_mib", equivalent=_FB_SUM),
    _f(_DEV + "FB_USED_PERCENT", "ratio", "gauge", "ratio",
       "framebuffer used / (total - reserved), despite its name a 0–1 ratio",
       equivalent="DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)"),
    # ECC
    _f(_DEV + "ECC_SBE_VOL_TOTAL", "count", "counter", "nonneg",
       "single-bit ECC errors since the driver loaded"),
    _f(_DEV + "ECC_DBE_VOL_TOTAL", "count", "counter", "nonneg",
       "double-bit ECC errors since the driver loaded"),
    _f(_DEV + "ECC_SBE_AGG_TOTAL", "count", "counter", "nonneg",
       "single-bit ECC errors over the GPU's life"),
    _f(_DEV + "ECC_DBE_AGG_TOTAL", "count", "counter", "nonneg",
       "double-bit ECC errors over the GPU's life"),
    # Retired pages and remapped rows
    _f(_DEV + "RETIRED_SBE", "count", "counter", "nonneg", "pages retired for single-bit errors",
       equivalent=_REMAP),
    _f(_DEV + "RETIRED_DBE", "count", "counter", "nonneg", "pages retired for double-bit errors",
       equivalent=_REMAP),
    _f(_DEV + "RETIRED_PENDING", "count", "counter", "nonneg", "pages waiting to be retired",
       equivalent=_REMAP),
    _f(_DEV + "UNCORRECTABLE_REMAPPED_ROWS", "count", "counter", "nonneg",
       "memory rows remapped for uncorrectable errors", default=True),
    _f(_DEV + "CORRECTABLE_REMAPPED_ROWS", "count", "counter", "nonneg",
       "memory rows remapped for correctable errors", default=True),
    _f(_DEV + "ROW_REMAP_FAILURE", "bool", "gauge", "ratio",
       "1 when a row remapping has failed", default=True),
    # NVLink
    _f(_DEV + "NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL", "count", "counter", "nonneg",
       "NVLink flow-control CRC errors"),
    _f(_DEV + "NVLINK_CRC_DATA_ERROR_COUNT_TOTAL", "count", "counter", "nonneg",
       "NVLink data CRC errors"),
    _f(_DEV + "NVLINK_REPLAY_ERROR_COUNT_TOTAL", "count", "counter", "nonneg", "NVLink retries"),
    _f(_DEV + "NVLINK_RECOVERY_ERROR_COUNT_TOTAL", "count", "counter", "nonneg",
       "NVLink recovery errors"),
    _f(_DEV + "NVLINK_BANDWIDTH_TOTAL", "count", "counter", "nonneg",
       "NVLink bandwidth counters of all lanes", default=True),
    _f(_DEV + "NVLINK_BANDWIDTH_L0", "B", "counter", "nonneg",
       "NVLink lane 0 bytes, headers included"),
    # vGPU
    _f(_DEV + "VGPU_LICENSE_STATUS", "code", "gauge", "nonneg",
       "vGPU license status (1 licensed)", default=True),
    # Profiling (DCP)
    _f(_PROF + "GR_ENGINE_ACTIVE", "ratio", "gauge", "ratio",
       "graphics/compute engine active: ratio of time any kernel ran", default=True,
       store="utilization_gpu_pct", scale=0.01),
    _f(_PROF + "SM_ACTIVE", "ratio", "gauge", "ratio", "cycles an SM had a warp"),
    _f(_PROF + "SM_OCCUPANCY", "ratio", "gauge", "ratio", "resident warps / maximum"),
    _f(_PROF + "PIPE_TENSOR_ACTIVE", "ratio", "gauge", "ratio", "tensor pipe active",
       default=True),
    _f(_PROF + "DRAM_ACTIVE", "ratio", "gauge", "ratio", "cycles device memory was busy",
       default=True),
    _f(_PROF + "PIPE_FP64_ACTIVE", "ratio", "gauge", "ratio", "FP64 pipe active"),
    _f(_PROF + "PIPE_FP32_ACTIVE", "ratio", "gauge", "ratio", "FP32 pipe active"),
    _f(_PROF + "PIPE_FP16_ACTIVE", "ratio", "gauge", "ratio", "FP16 pipe active"),
    # dcgm-exporter's own fields
    _f("DCGM_EXP_CLOCK_EVENTS_COUNT", "count", "counter", "nonneg",
       "clock events reported, by reason"),
    _f("DCGM_EXP_XID_ERRORS_COUNT", "count", "counter", "nonneg",
       "XID errors reported in the last window, by XID"),
    _f("DCGM_EXP_GPU_HEALTH_STATUS", "code", "gauge", "nonneg", "DCGM health status"),
    _f("DCGM_EXP_P2P_STATUS", "code", "gauge", "nonneg", "peer-to-peer NVLink status"),
)
# fmt: on

#: Other names of a catalogued field (DCGM renamed a few; both are exported as written).
RENAMED: dict[str, str] = {
    _DEV + "CLOCK_THROTTLE_REASONS": _DEV + "CLOCKS_EVENT_REASONS",
    "DCGM_FI_EXP_CLOCK_THROTTLE_REASONS_COUNT": "DCGM_EXP_CLOCK_EVENTS_COUNT",
}

#: dcgm-exporter 1.x metric names and the current name of the same field.
OLD_NAMES: dict[str, str] = {
    "dcgm_sm_clock": _DEV + "SM_CLOCK",
    "dcgm_memory_clock": _DEV + "MEM_CLOCK",
    "dcgm_memory_temp": _DEV + "MEMORY_TEMP",
    "dcgm_gpu_temp": _DEV + "GPU_TEMP",
    "dcgm_power_usage": _DEV + "POWER_USAGE",
    "dcgm_total_energy_consumption": _DEV + "TOTAL_ENERGY_CONSUMPTION",
    "dcgm_pcie_replay_counter": _DEV + "PCIE_REPLAY_COUNTER",
    "dcgm_gpu_utilization": _DEV + "GPU_UTIL",
    "dcgm_mem_copy_utilization": _DEV + "MEM_COPY_UTIL",
    "dcgm_enc_utilization": _DEV + "ENC_UTIL",
    "dcgm_dec_utilization": _DEV + "DEC_UTIL",
    "dcgm_xid_errors": _DEV + "XID_ERRORS",
    "dcgm_power_violation": _DEV + "POWER_VIOLATION",
    "dcgm_thermal_violation": _DEV + "THERMAL_VIOLATION",
    "dcgm_sync_boost_violation": _DEV + "SYNC_BOOST_VIOLATION",
    "dcgm_board_limit_violation": _DEV + "BOARD_LIMIT_VIOLATION",
    "dcgm_low_util_violation": _DEV + "LOW_UTIL_VIOLATION",
    "dcgm_reliability_violation": _DEV + "RELIABILITY_VIOLATION",
    "dcgm_fb_free": _DEV + "FB_FREE",
    "dcgm_fb_used": _DEV + "FB_USED",
    "dcgm_ecc_sbe_volatile_total": _DEV + "ECC_SBE_VOL_TOTAL",
    "dcgm_ecc_dbe_volatile_total": _DEV + "ECC_DBE_VOL_TOTAL",
    "dcgm_ecc_sbe_aggregate_total": _DEV + "ECC_SBE_AGG_TOTAL",
    "dcgm_ecc_dbe_aggregate_total": _DEV + "ECC_DBE_AGG_TOTAL",
    "dcgm_retired_pages_sbe": _DEV + "RETIRED_SBE",
    "dcgm_retired_pages_dbe": _DEV + "RETIRED_DBE",
    "dcgm_retired_pages_pending": _DEV + "RETIRED_PENDING",
    "dcgm_nvlink_flit_crc_error_count_total": _DEV + "NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL",
    "dcgm_nvlink_data_crc_error_count_total": _DEV + "NVLINK_CRC_DATA_ERROR_COUNT_TOTAL",
    "dcgm_nvlink_replay_error_count_total": _DEV + "NVLINK_REPLAY_ERROR_COUNT_TOTAL",
    "dcgm_nvlink_recovery_error_count_total": _DEV + "NVLINK_RECOVERY_ERROR_COUNT_TOTAL",
    "dcgm_nvlink_bandwidth_total": _DEV + "NVLINK_BANDWIDTH_TOTAL",
    "dcgm_fi_prof_gr_engine_active": _PROF + "GR_ENGINE_ACTIVE",
    "dcgm_fi_prof_sm_active": _PROF + "SM_ACTIVE",
    "dcgm_fi_prof_sm_occupancy": _PROF + "SM_OCCUPANCY",
    "dcgm_fi_prof_pipe_tensor_active": _PROF + "PIPE_TENSOR_ACTIVE",
    "dcgm_fi_prof_dram_active": _PROF + "DRAM_ACTIVE",
    "dcgm_fi_prof_pcie_tx_bytes": _PROF + "PCIE_TX_BYTES",
    "dcgm_fi_prof_pcie_rx_bytes": _PROF + "PCIE_RX_BYTES",
}

#: Fields dcgm-exporter puts on every series as a label, never as a metric of their own.
LABEL_FIELDS: frozenset[str] = frozenset(
    {
        "DCGM_FI_DRIVER_VERSION",
        "DCGM_FI_NVML_VERSION",
        _DEV + "BRAND",
        _DEV + "SERIAL",
        _DEV + "OEM_INFOROM_VER",
        _DEV + "ECC_INFOROM_VER",
        _DEV + "POWER_INFOROM_VER",
        _DEV + "INFOROM_IMAGE_VER",
        _DEV + "VBIOS_VERSION",
    }
)

#: DCGM fields that are no metric at all, and why.
NOT_METRICS: dict[str, str] = {
    _DEV + "COMPUTE_PIDS": "a list of processes, which dcgm-exporter cannot export as a metric",
    _DEV + "GRAPHICS_PIDS": "a list of processes, which dcgm-exporter cannot export as a metric",
    _DEV + "ACCOUNTING_DATA": "a binary record, which dcgm-exporter cannot export as a metric",
    _DEV + "SUPPORTED_CLOCKS": "a binary record, which dcgm-exporter cannot export as a metric",
}
