"""The metric catalogue against dcgm-exporter's counter sets and DCGM's units."""

from __future__ import annotations

import pytest

from gputop.core.catalogue import (
    CATALOGUE,
    LABEL_FIELDS,
    OLD_NAMES,
    in_namespace,
    lookup,
    suggest,
)

# dcgm-exporter's etc/default-counters.csv: the fields it exports by default ...
DEFAULT_FIELDS = [
    "DCGM_FI_DEV_SM_CLOCK",
    "DCGM_FI_DEV_MEM_CLOCK",
    "DCGM_FI_DEV_MEMORY_TEMP",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_MEM_COPY_UTIL",
    "DCGM_FI_DEV_ENC_UTIL",
    "DCGM_FI_DEV_DEC_UTIL",
    "DCGM_FI_DEV_XID_ERRORS",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_RESERVED",
    "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
    "DCGM_FI_DEV_VGPU_LICENSE_STATUS",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
    "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE",
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
    "DCGM_FI_PROF_DRAM_ACTIVE",
    "DCGM_FI_PROF_PCIE_TX_BYTES",
    "DCGM_FI_PROF_PCIE_RX_BYTES",
]
# ... and those it lists commented out (its DCP set, dcp-metrics-included.csv, is the same).
OPTIONAL_FIELDS = [
    "DCGM_FI_DEV_POWER_VIOLATION",
    "DCGM_FI_DEV_THERMAL_VIOLATION",
    "DCGM_FI_DEV_SYNC_BOOST_VIOLATION",
    "DCGM_FI_DEV_BOARD_LIMIT_VIOLATION",
    "DCGM_FI_DEV_LOW_UTIL_VIOLATION",
    "DCGM_FI_DEV_RELIABILITY_VIOLATION",
    "DCGM_EXP_CLOCK_EVENTS_COUNT",
    "DCGM_EXP_XID_ERRORS_COUNT",
    "DCGM_EXP_GPU_HEALTH_STATUS",
    "DCGM_EXP_P2P_STATUS",
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
    "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL",
    "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL",
    "DCGM_FI_DEV_RETIRED_SBE",
    "DCGM_FI_DEV_RETIRED_DBE",
    "DCGM_FI_DEV_RETIRED_PENDING",
    "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL",
    "DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL",
    "DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL",
    "DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL",
    "DCGM_FI_DEV_NVLINK_BANDWIDTH_L0",
    "DCGM_FI_PROF_SM_ACTIVE",
    "DCGM_FI_PROF_SM_OCCUPANCY",
    "DCGM_FI_PROF_PIPE_FP64_ACTIVE",
    "DCGM_FI_PROF_PIPE_FP32_ACTIVE",
    "DCGM_FI_PROF_PIPE_FP16_ACTIVE",
]


def test_every_field_of_the_counter_sets_is_catalogued_with_its_default() -> None:
    assert [f for f in DEFAULT_FIELDS if not (f in CATALOGUE and CATALOGUE[f].default_export)] == []
    assert [f for f in OPTIONAL_FIELDS if f not in CATALOGUE or CATALOGUE[f].default_export] == []
    assert "DCGM_FI_DRIVER_VERSION" in LABEL_FIELDS


@pytest.mark.parametrize(
    ("name", "unit", "kind"),
    [
        ("DCGM_FI_DEV_POWER_VIOLATION", "ns", "counter"),
        ("DCGM_FI_DEV_THERMAL_VIOLATION", "ns", "counter"),
        ("DCGM_FI_DEV_FB_TOTAL", "MiB", "gauge"),
        ("DCGM_FI_DEV_SM_CLOCK", "MHz", "gauge"),
        ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "mJ", "counter"),
        ("DCGM_FI_DEV_XID_ERRORS", "code", "gauge"),
        ("DCGM_FI_PROF_PCIE_TX_BYTES", "B/s", "gauge"),
        ("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "count", "counter"),
    ],
)
def test_units_and_kinds_as_dcgm_and_dcgm_exporter_give_them(
    name: str, unit: str, kind: str
) -> None:
    info = lookup(name)
    assert info is not None and (info.unit, info.kind) == (unit, kind)


def test_renamed_fields_and_old_names() -> None:
    throttle = lookup("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS")
    events = lookup("DCGM_FI_DEV_CLOCKS_EVENT_REASONS")
    assert throttle is not None and events is not None
    assert throttle.name == "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS"
    assert (throttle.unit, throttle.kind, throttle.meaning) == (
        events.unit,
        events.kind,
        events.meaning,
    )
    assert all(new in CATALOGUE for new in OLD_NAMES.values())
    assert OLD_NAMES["dcgm_gpu_utilization"] == "DCGM_FI_DEV_GPU_UTIL"


def test_the_namespace_is_dcgm_exporters_and_the_latency_histograms() -> None:
    assert in_namespace("DCGM_FI_DEV_NOPE") and in_namespace("dcgm_nope")
    assert in_namespace("t2v_inference_duration_seconds_bucket")
    assert in_namespace("svc_latency_seconds_count", histogram="svc_latency_seconds")
    for other in ("node_load1", "kube_pod_info", "apiserver_request_total", "up", "t2v_x"):
        assert not in_namespace(other)
    assert suggest("DCGM_FI_DEV_FB_USE") == "DCGM_FI_DEV_FB_USED"
    assert suggest("node_load1") is None


def test_the_configured_histogram_is_known() -> None:
    info = lookup("svc_latency_seconds_bucket", histogram="svc_latency_seconds")
    assert info is not None and (info.kind, info.unit) == ("histogram", "s")
    assert lookup("svc_latency_seconds_bucket") is None
