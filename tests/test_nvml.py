"""The NVML source: through the real pynvml bindings against the stand-in library (in a
subprocess, since pynvml loads the library once per process), and fast unit tests with the
pynvml functions replaced in-process."""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest

from gputop.core.clock import FakeClock
from gputop.sources.base import SourceError, SourceUnavailable
from gputop.sources.nvml import NOT_FOUND_MESSAGE, NvmlSource
from tests.support.fake_nvml import FakeNvml

MIB = 1024 * 1024
FROZEN = 1_767_226_834.5  # a fixed time for the stand-in's clock (FAKE_NVML_TIME)

# Opens an NvmlSource, samples argv[1] times argv[2] seconds apart, prints JSON.
READER = r"""
import json, os, sys, time
from gputop.core.clock import RealClock
from gputop.sources.base import SourceUnavailable
from gputop.sources.nvml import NvmlSource
count, pause = int(sys.argv[1]), float(sys.argv[2])
source = NvmlSource(RealClock(), host="testhost")
try:
    source.open()
except SourceUnavailable as exc:
    print(json.dumps({"unavailable": exc.reason}))
    sys.exit(0)
samples = []
for k in range(count):
    if k:
        time.sleep(pause)
    snap = source.sample()
    samples.append({
        "gpus": [g.as_json() for g in snap.gpus],
        "processes": [p.as_json() for p in snap.processes],
        "driver": snap.driver_version, "cuda": snap.cuda_version, "extra": snap.extra,
    })
source.close()
print(json.dumps({"pid": os.getpid(), "samples": samples}))
"""


def read(fake: FakeNvml, count: int = 1, pause: float = 0.0, **settings: Any) -> dict[str, Any]:
    result = fake.run([sys.executable, "-c", READER, str(count), str(pause)], **settings)
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


# ---- what fake_nvml.c is defined to return (its header comment) ----------------------------


def _round(x: float) -> int:
    return math.floor(x + 0.5)  # C lround for the positive values used here


def expected_gpu(i: int, t: float) -> dict[str, float]:
    util = _round(50 + 45 * math.sin(2 * math.pi * t / 60 + 0.9 * i))
    used = 28900 + 1500 * i + _round(15000 + 15000 * math.sin(2 * math.pi * t / 300 + 1.3 * i))
    return {
        "utilization_gpu_pct": util,
        "utilization_memory_pct": util * 45 // 100,
        "memory_used_mib": used,
        "memory_total_mib": 81920,
        "temperature_c": 35 + util * 35 // 100 + i,
        "power_w": (62000 + 3000 * util + 1000 * i) / 1000,
        "power_limit_w": 400,
        "sm_clock_mhz": 1410,
        "mem_clock_mhz": 1593,
    }


MEASURED = (*expected_gpu(0, 0.0), "fan_pct")


# ---- through pynvml and the stand-in -------------------------------------------------------


def test_values_match_what_the_library_returns(fake_nvml: FakeNvml) -> None:
    out = read(fake_nvml, 2, 0.0, time=FROZEN)
    first, second = out["samples"]
    assert first["driver"] == "550.54.15" and first["cuda"] == "12.4"
    assert [g["index"] for g in first["gpus"]] == list(range(8))
    for g in first["gpus"]:
        want = expected_gpu(g["index"], FROZEN)
        assert {k: g[k] for k in want} == want
        assert g["fan_pct"] is None  # an A100 has no fan reading
        assert g["state"] == "ok" and g["name"] == "NVIDIA A100-SXM4-80GB"
        assert g["host"] == "testhost"
    uuids = [g["uuid"] for g in first["gpus"]]
    assert len(set(uuids)) == 8 and all(u.startswith("GPU-") and len(u) == 40 for u in uuids)
    assert uuids == [g["uuid"] for g in second["gpus"]]
    # Two processes per GPU: a worker whose pid is not visible here, and the reader itself.
    by_gpu: dict[int, list[dict[str, Any]]] = {}
    for p in first["processes"]:
        by_gpu.setdefault(p["gpu_index"], []).append(p)
    assert sorted(by_gpu) == list(range(8))
    for i, procs in by_gpu.items():
        worker, me = procs
        assert worker["gpu_memory_mib"] == expected_gpu(i, FROZEN)["memory_used_mib"] - 512
        assert worker["user"] is None and worker["command"] is None and worker["cpu_pct"] is None
        assert me["pid"] == out["pid"] and me["gpu_memory_mib"] == 512
        assert me["user"] and "python" in me["command"] and me["started"] <= time.time()
        assert me["gpu_uuid"] == uuids[i]
    # cpu_pct is measured between samples: none on the first, a number on the second.
    assert all(p["cpu_pct"] is None for p in first["processes"])
    mine = [p for p in second["processes"] if p["pid"] == out["pid"]]
    assert len(mine) == 8 and all(isinstance(p["cpu_pct"], float) for p in mine)


def test_values_move_and_identity_stays(fake_nvml: FakeNvml) -> None:
    samples = read(fake_nvml, 3, 0.25, gpus=4, speed=30)["samples"]
    assert [len(s["gpus"]) for s in samples] == [4, 4, 4]
    for i in range(4):
        seen = [s["gpus"][i] for s in samples]
        assert len({(g["uuid"], g["name"], g["index"]) for g in seen}) == 1
        # The readings move (the first and last may fall either side of a peak, so compare all).
        assert len({g["memory_used_mib"] for g in seen}) > 1, seen
        for g in seen:
            assert g["memory_total_mib"] == 81920
            assert 28900 <= g["memory_used_mib"] <= 81920
            assert 5 <= g["utilization_gpu_pct"] <= 95 and 35 <= g["temperature_c"] <= 100
            assert 62 <= g["power_w"] <= g["power_limit_w"] == 400


@pytest.mark.parametrize(
    ("not_supported", "missing"),
    [
        ("power", {"power_w"}),
        ("temperature,clocks", {"temperature_c", "sm_clock_mhz", "mem_clock_mhz"}),
        (
            "memory,utilization,power_limit",
            {
                "memory_used_mib",
                "memory_total_mib",
                "utilization_gpu_pct",
                "utilization_memory_pct",
                "power_limit_w",
            },
        ),
    ],
)
def test_a_field_not_supported_is_none_and_the_rest_filled(
    fake_nvml: FakeNvml, not_supported: str, missing: set[str]
) -> None:
    out = read(fake_nvml, 2, 0.0, gpus=2, not_supported=not_supported, fan=True)
    for sample in out["samples"]:
        assert sample["extra"] == {}  # not supported is not an error
        for g in sample["gpus"]:
            assert g["state"] == "ok"
            assert {k for k in MEASURED if g[k] is None} == missing
            assert 30 <= g["fan_pct"] <= 55
        assert len(sample["processes"]) == 4


def test_processes_not_supported_leaves_the_gpus_complete(fake_nvml: FakeNvml) -> None:
    sample = read(fake_nvml, 1, gpus=2, not_supported="processes")["samples"][0]
    assert sample["processes"] == []
    assert all(g[k] is not None for g in sample["gpus"] for k in MEASURED if k != "fan_pct")


def test_gpu_lost_mid_run_stays_listed_and_the_others_go_on(fake_nvml: FakeNvml) -> None:
    samples = read(fake_nvml, 5, 0.25, gpus=4, lost_gpu=2, lost_after=0.3, speed=30)["samples"]
    before, after = samples[0]["gpus"][2], samples[-1]["gpus"][2]
    assert before["state"] == "ok" and before["memory_used_mib"] is not None
    assert after["state"] == "lost" and after["reason"] == "GPU is lost"
    assert (after["index"], after["uuid"], after["name"]) == (2, before["uuid"], before["name"])
    assert all(after[k] is None for k in MEASURED if k not in {"memory_total_mib", "power_limit_w"})
    assert all(p["gpu_index"] != 2 for p in samples[-1]["processes"])
    moving = ("memory_used_mib", "temperature_c", "power_w", "utilization_gpu_pct")
    for i in (0, 1, 3):
        g, earlier = samples[-1]["gpus"][i], samples[-2]["gpus"][i]
        assert g["state"] == "ok"
        assert all(g[k] is not None for k in MEASURED if k != "fan_pct")
        # still read: its readings move (one of them may sit at a turning point)
        assert any(g[k] != earlier[k] for k in moving)
    assert {p["gpu_index"] for p in samples[-1]["processes"]} == {0, 1, 3}


def test_gpu_lost_before_open_is_listed_by_index(fake_nvml: FakeNvml) -> None:
    gpus = read(fake_nvml, 1, gpus=3, lost_gpu=1)["samples"][0]["gpus"]
    assert [g["state"] for g in gpus] == ["ok", "lost", "ok"]
    assert gpus[1]["index"] == 1 and gpus[1]["reason"] == "GPU is lost"


def test_no_library_is_unavailable_with_one_clear_line(no_nvml: FakeNvml) -> None:
    assert read(no_nvml) == {"unavailable": NOT_FOUND_MESSAGE}
    assert "\n" not in NOT_FOUND_MESSAGE and "libnvidia-ml.so.1" in NOT_FOUND_MESSAGE


def test_driver_not_loaded_is_unavailable(fake_nvml: FakeNvml) -> None:
    reason = read(fake_nvml, no_driver=True)["unavailable"]
    assert "driver not loaded" in reason.lower() and "--demo" not in reason  # the CLI hints


def test_no_gpu_is_unavailable(fake_nvml: FakeNvml) -> None:
    assert "no GPU" in read(fake_nvml, gpus=0)["unavailable"]


# ---- the CLI contract: `gputop --once --json` -----------------------------------------------

needs_cli = pytest.mark.skipif(
    not (Path(__file__).parents[1] / "gputop" / "cli.py").exists(),
    reason="gputop/cli.py is not written yet",
)


def run_cli(fake: FakeNvml, **settings: Any) -> Any:
    return fake.run([sys.executable, "-m", "gputop", "--once", "--json"], **settings)


@needs_cli
def test_cli_once_json_reports_the_eight_gpus(fake_nvml: FakeNvml) -> None:
    result = run_cli(fake_nvml)
    assert result.returncode == 0, result.stderr
    gpus = json.loads(result.stdout)["gpus"]
    assert len(gpus) == 8 and all(g["state"] == "ok" for g in gpus)
    assert all(g["memory_total_mib"] == 81920 for g in gpus)


@needs_cli
def test_cli_once_json_shows_a_lost_gpu(fake_nvml: FakeNvml) -> None:
    result = run_cli(fake_nvml, lost_gpu=5)
    assert result.returncode == 0, result.stderr
    gpus = json.loads(result.stdout)["gpus"]
    assert [g["state"] for g in gpus] == ["ok"] * 5 + ["lost"] + ["ok"] * 2
    ok = [g for g in gpus if g["state"] == "ok"]
    assert all(g[k] is not None for g in ok for k in MEASURED if k != "fan_pct")


@needs_cli
def test_cli_without_nvml_exits_2_with_one_line(no_nvml: FakeNvml) -> None:
    result = run_cli(no_nvml)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "NVML" in lines[0] and "try --demo" in lines[0]


@needs_cli
def test_cli_check_without_any_source_is_unknown_not_critical(no_nvml: FakeNvml) -> None:
    # 2 would read as "critical" to a monitoring system; nothing to check is "unknown"
    result = no_nvml.run([sys.executable, "-m", "gputop", "--once", "--check"])
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gputop: nothing to check: NVML")
    assert "--demo" not in lines[0]  # no hint where it does not help a script


# ---- unit tests: pynvml replaced in-process -------------------------------------------------


class Driver:
    """Stands in for the pynvml functions NvmlSource calls; counts calls, injects errors."""

    SETUP = (
        "nvmlInit",
        "nvmlShutdown",
        "nvmlDeviceGetCount",
        "nvmlSystemGetDriverVersion",
        "nvmlSystemGetCudaDriverVersion",
        "nvmlDeviceGetHandleByIndex",
        "nvmlDeviceGetUUID",
        "nvmlDeviceGetName",
    )
    READINGS = (  # everything asked of a device's handle after its name
        "nvmlDeviceGetMemoryInfo",
        "nvmlDeviceGetEnforcedPowerLimit",
        "nvmlDeviceGetUtilizationRates",
        "nvmlDeviceGetTemperatureV",
        "nvmlDeviceGetTemperature",
        "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetClockInfo",
        "nvmlDeviceGetFanSpeed",
        "nvmlDeviceGetComputeRunningProcesses_v3",
        "nvmlDeviceGetComputeRunningProcesses_v2",
    )

    def __init__(self, gpus: int = 2) -> None:
        self.gpus = gpus
        self.calls: Counter[tuple[str, int | None]] = Counter()
        self.fail: dict[tuple[str, int | None], int] = {}  # (function, gpu) -> NVML error code
        self.values: dict[str, Any] = {}
        self.pids: list[int] = [os.getpid()]

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in self.SETUP + self.READINGS:
            monkeypatch.setattr(pynvml, name, self._entry(name))

    def count(self, name: str, gpu: int | None = None) -> int:
        return self.calls[(name, gpu)]

    def _entry(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            first = args[0] if args else None
            gpu = first if name.endswith("HandleByIndex") else getattr(first, "index", None)
            self.calls[(name, gpu)] += 1
            code = self.fail.get((name, gpu), self.fail.get((name, None)))
            if code is not None:
                raise pynvml.NVMLError(code)
            return self._value(name, gpu, args, kwargs)

        return call

    def _value(self, name: str, gpu: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if name in self.values:
            return self.values[name]
        return {
            "nvmlDeviceGetCount": self.gpus,
            "nvmlSystemGetDriverVersion": "550.54.15",
            "nvmlSystemGetCudaDriverVersion": 12040,
            "nvmlDeviceGetHandleByIndex": SimpleNamespace(index=gpu),
            "nvmlDeviceGetUUID": f"GPU-{gpu}",
            "nvmlDeviceGetName": "NVIDIA A100-SXM4-80GB",
            "nvmlDeviceGetMemoryInfo": SimpleNamespace(total=81920 * MIB, used=1000 * MIB),
            "nvmlDeviceGetEnforcedPowerLimit": 400_000,
            "nvmlDeviceGetUtilizationRates": SimpleNamespace(gpu=90, memory=40),
            "nvmlDeviceGetTemperatureV": 61,
            "nvmlDeviceGetTemperature": 60,
            "nvmlDeviceGetPowerUsage": 250_000,
            "nvmlDeviceGetClockInfo": 1410 if len(args) > 1 and args[1] == 1 else 1593,
            "nvmlDeviceGetFanSpeed": 40,
            "nvmlDeviceGetComputeRunningProcesses_v3": [
                SimpleNamespace(pid=pid, usedGpuMemory=512 * MIB) for pid in self.pids
            ],
            "nvmlDeviceGetComputeRunningProcesses_v2": [],
        }.get(name)


@pytest.fixture
def driver(monkeypatch: pytest.MonkeyPatch) -> Driver:
    d = Driver()
    d.install(monkeypatch)
    return d


def opened(clock: FakeClock | None = None) -> NvmlSource:
    source = NvmlSource(clock or FakeClock(), host="h")
    source.open()
    return source


def test_handles_and_static_fields_are_read_once(driver: Driver) -> None:
    clock = FakeClock()
    source = opened(clock)
    for _ in range(5):
        clock.advance(1)
        source.sample()
    for gpu in (0, 1):
        assert driver.count("nvmlDeviceGetHandleByIndex", gpu) == 1
        for name in ("nvmlDeviceGetUUID", "nvmlDeviceGetName", "nvmlDeviceGetEnforcedPowerLimit"):
            assert driver.count(name, gpu) == 1
        assert driver.count("nvmlDeviceGetPowerUsage", gpu) == 5
    assert driver.count("nvmlDeviceGetCount") == 1 and driver.count("nvmlInit") == 1


def test_reads_are_converted_to_units(driver: Driver) -> None:
    snap = opened().sample()
    g = snap.gpus[0]
    assert (g.memory_used_mib, g.memory_total_mib, g.power_w, g.power_limit_w) == (
        1000.0,
        81920.0,
        250.0,
        400.0,
    )
    assert (g.temperature_c, g.sm_clock_mhz, g.mem_clock_mhz, g.fan_pct) == (61.0, 1410, 1593, 40)
    assert snap.cuda_version == "12.4" and snap.host == "h" and snap.source == "nvml"
    assert NvmlSource(FakeClock()).host == socket.gethostname()


def test_not_supported_is_none_and_not_asked_again(driver: Driver) -> None:
    driver.fail[("nvmlDeviceGetFanSpeed", None)] = pynvml.NVML_ERROR_NOT_SUPPORTED
    source = opened()
    snaps = [source.sample() for _ in range(3)]
    assert all(g.fan_pct is None and g.power_w == 250.0 for s in snaps for g in s.gpus)
    assert driver.count("nvmlDeviceGetFanSpeed", 0) == 1
    assert snaps[0].extra == {}


def test_other_field_errors_are_none_and_named(driver: Driver) -> None:
    driver.fail[("nvmlDeviceGetPowerUsage", 1)] = pynvml.NVML_ERROR_NO_PERMISSION
    snap = opened().sample()
    assert snap.gpus[1].power_w is None and snap.gpus[1].state == "ok"
    assert snap.gpus[0].power_w == 250.0
    assert snap.extra == {"gpu1.power": "Insufficient Permissions"}


@pytest.mark.parametrize("value", [0xFFFF_FFFF, 101, float("nan"), None])
def test_sentinels_and_nonsense_never_leak(driver: Driver, value: Any) -> None:
    driver.values["nvmlDeviceGetPowerUsage"] = value
    driver.values["nvmlDeviceGetUtilizationRates"] = SimpleNamespace(gpu=value, memory=value)
    driver.values["nvmlDeviceGetMemoryInfo"] = SimpleNamespace(
        total=81920 * MIB, used=0xFFFF_FFFF_FFFF_FFFF if value == 0xFFFF_FFFF else value
    )
    g = opened().sample().gpus[0]
    assert g.utilization_gpu_pct is None and g.utilization_memory_pct is None
    if value != 101:  # 101 mW and 101 bytes are fine readings; 101 % is not a utilization
        assert g.power_w is None and g.memory_used_mib is None


@pytest.mark.parametrize("code", [pynvml.NVML_ERROR_GPU_IS_LOST, pynvml.NVML_ERROR_RESET_REQUIRED])
def test_lost_gpu_is_rechecked_with_backoff_and_can_come_back(driver: Driver, code: int) -> None:
    clock = FakeClock()
    source = opened(clock)
    driver.fail[("nvmlDeviceGetMemoryInfo", 1)] = code
    lost = source.sample().gpus[1]
    assert lost.state == "lost" and lost.reason == str(pynvml.NVMLError(code))
    assert (lost.index, lost.uuid, lost.name) == (1, "GPU-1", "NVIDIA A100-SXM4-80GB")
    asked = driver.count("nvmlDeviceGetMemoryInfo", 1)
    for _ in range(10):  # 1 s apart: the first re-check is 2 s on, then 4 s more, ...
        clock.advance(1)
        assert source.sample().gpus[1].state == "lost"
    assert driver.count("nvmlDeviceGetMemoryInfo", 1) - asked == 2
    assert driver.count("nvmlDeviceGetPowerUsage", 0) == 11  # the other GPU every time
    del driver.fail[("nvmlDeviceGetMemoryInfo", 1)]
    clock.advance(60)
    back = source.sample().gpus[1]
    assert back.state == "ok" and back.reason is None and back.uuid == "GPU-1"
    driver.fail[("nvmlDeviceGetMemoryInfo", 1)] = code  # lost again: backoff starts afresh
    assert source.sample().gpus[1].state == "lost"
    asked = driver.count("nvmlDeviceGetMemoryInfo", 1)
    clock.advance(2)
    source.sample()
    assert driver.count("nvmlDeviceGetMemoryInfo", 1) == asked + 1


def test_unknown_error_on_every_call_means_lost_on_one_call_not(driver: Driver) -> None:
    unknown = pynvml.NVML_ERROR_UNKNOWN
    driver.fail[("nvmlDeviceGetTemperatureV", 0)] = unknown
    for name in Driver.READINGS:
        driver.fail[(name, 1)] = unknown
    gpus = opened().sample().gpus
    assert gpus[0].state == "ok" and gpus[0].temperature_c is None
    assert gpus[1].state == "lost" and gpus[1].reason == "Unknown Error"


def test_lost_while_opening_is_found_again(driver: Driver) -> None:
    clock = FakeClock()
    driver.fail[("nvmlDeviceGetHandleByIndex", 0)] = pynvml.NVML_ERROR_GPU_IS_LOST
    source = opened(clock)
    g = source.sample().gpus[0]
    assert (g.index, g.state, g.reason) == (0, "lost", "GPU is lost")
    assert source.sample().gpus[1].state == "ok"
    del driver.fail[("nvmlDeviceGetHandleByIndex", 0)]
    clock.advance(5)
    g = source.sample().gpus[0]
    assert (g.state, g.uuid, g.memory_used_mib) == ("ok", "GPU-0", 1000.0)


def test_older_drivers_fall_back_once(driver: Driver) -> None:
    missing = pynvml.NVML_ERROR_FUNCTION_NOT_FOUND
    driver.fail[("nvmlDeviceGetTemperatureV", None)] = missing
    driver.fail[("nvmlDeviceGetComputeRunningProcesses_v3", None)] = missing
    source = opened()
    snaps = [source.sample() for _ in range(3)]
    assert snaps[-1].gpus[0].temperature_c == 60.0 and snaps[-1].processes == ()
    assert driver.count("nvmlDeviceGetTemperatureV", 0) == 1
    assert driver.count("nvmlDeviceGetComputeRunningProcesses_v2", 1) == 3
    assert snaps[-1].extra == {}


def test_host_details_are_measured_between_samples_and_dropped(driver: Driver) -> None:
    source = opened()
    assert source.sample().processes[0].cpu_pct is None
    second = source.sample().processes
    assert [p.pid for p in second] == [os.getpid()] * 2
    assert isinstance(second[0].cpu_pct, float) and second[0].user and second[0].command
    driver.pids = []
    assert source.sample().processes == ()
    driver.pids = [os.getpid()]
    assert source.sample().processes[0].cpu_pct is None  # forgotten, measured afresh


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, NOT_FOUND_MESSAGE),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "NVIDIA driver not loaded"),
        (pynvml.NVML_ERROR_NO_PERMISSION, "no permission"),
        (pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH, "differ in version"),
    ],
)
def test_init_failures_are_one_line(driver: Driver, code: int, words: str) -> None:
    driver.fail[("nvmlInit", None)] = code
    with pytest.raises(SourceUnavailable) as info:
        opened()
    assert words in info.value.reason and "\n" not in info.value.reason
    assert "--demo" not in info.value.reason  # the CLI adds the hint where it helps


def test_nvml_failing_as_a_whole_is_a_source_error(driver: Driver) -> None:
    source = opened()
    for name in Driver.READINGS:
        driver.fail[(name, None)] = pynvml.NVML_ERROR_UNINITIALIZED
    with pytest.raises(SourceError, match="NVML: Uninitialized"):
        source.sample()
    with pytest.raises(SourceError, match="not open"):
        NvmlSource(FakeClock()).sample()


def test_close_shuts_down_once(driver: Driver) -> None:
    source = opened()
    source.close()
    source.close()
    assert driver.count("nvmlShutdown") == 1


def test_samples_from_several_threads_do_not_overlap(
    driver: Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside, overlaps = threading.Lock(), []
    slow = driver._entry("nvmlDeviceGetPowerUsage")

    def power(handle: Any) -> Any:
        if not inside.acquire(blocking=False):
            overlaps.append(handle)
            return slow(handle)
        try:
            time.sleep(0.001)
            return slow(handle)
        finally:
            inside.release()

    monkeypatch.setattr(pynvml, "nvmlDeviceGetPowerUsage", power)
    source = opened()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(10):
                source.sample()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and overlaps == []
    assert driver.count("nvmlDeviceGetPowerUsage", 0) == 40
