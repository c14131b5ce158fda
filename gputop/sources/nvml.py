"""The local GPUs, read through NVML (the `pynvml` bindings of nvidia-ml-py).

Every NVML call goes through one wrapper, `NvmlSource._call`, which turns NVML errors into
values the screen can show:

- NotSupported / FunctionNotFound: that field is None (not available) and is not asked again;
- any other per-field error: that field is None, the error text lands in the snapshot's
  `extra` under `gpu<index>.<field>`;
- GpuIsLost / ResetRequired (or every call failing with Unknown): the GPU is marked
  `state="lost"` with the reason; it stays listed and is re-checked with backoff.

The library or driver being absent is a `SourceUnavailable` with one line to show.
"""

from __future__ import annotations

import contextlib
import functools
import math
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from gputop.core.backoff import Backoff
from gputop.core.clock import Clock
from gputop.core.models import GpuSample, NodeSnapshot, ProcessSample
from gputop.sources.base import SourceError, SourceUnavailable

if TYPE_CHECKING:
    import psutil

try:
    import pynvml
except ImportError:  # the bindings are a dependency, but a broken install must not crash
    pynvml = None

__all__ = ["NOT_FOUND_MESSAGE", "NvmlSource"]

NOT_FOUND_MESSAGE = (
    "NVML not found (libnvidia-ml.so.1 could not be loaded: is the NVIDIA driver installed?)"
)
_MIB = 1024 * 1024
_UINT_NA = 0xFFFF_FFFF  # NVML_VALUE_NOT_AVAILABLE for unsigned int fields
_ULL_NA = 0xFFFF_FFFF_FFFF_FFFF  # ... and for unsigned long long fields
_UNNAMED = "(unknown GPU)"


@dataclass(slots=True)
class _Device:
    """One GPU as opened: its handle and static fields, read once."""

    index: int
    handle: Any = None
    uuid: str = ""
    name: str = _UNNAMED
    memory_total_mib: float | None = None
    power_limit_w: float | None = None
    unsupported: set[str] = field(default_factory=set)
    lost_reason: str | None = None
    retry_at: float = 0.0
    backoff: Backoff = field(default_factory=lambda: Backoff(base=2.0, factor=2.0, cap=60.0))


@dataclass(slots=True)
class _Calls:
    """The outcome of one round of NVML calls on one GPU."""

    lost: str | None = None
    ok: int = 0
    unknown: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def gone(self) -> bool:
        return self.lost is not None or (self.ok == 0 and self.unknown > 0)


@dataclass(slots=True)
class _HostProcess:
    """What the host knows of a pid; `process` is None when the pid is not visible here."""

    process: psutil.Process | None
    user: str | None = None
    command: str | None = None
    started: float | None = None
    primed: bool = False  # cpu_percent() has a previous reading to measure against


class NvmlSource:
    """The GPUs of this machine. Thread-safe: `sample()` may run on a worker thread."""

    name = "nvml"

    def __init__(self, clock: Clock, *, host: str | None = None) -> None:
        self._clock = clock
        self.host = host or socket.gethostname()
        self._lock = threading.Lock()
        self._devices: list[_Device] | None = None
        self._driver_version: str | None = None
        self._cuda_version: str | None = None
        self._host_processes: dict[int, _HostProcess] = {}
        self._memory_v2 = pynvml is not None and hasattr(pynvml, "nvmlMemory_v2")
        self._temperature_v = pynvml is not None and hasattr(pynvml, "nvmlDeviceGetTemperatureV")
        self._processes_v3 = True

    # ---- LocalSource ------------------------------------------------------------------

    def open(self) -> None:
        with self._lock:
            if self._devices is not None:
                return
            if pynvml is None:
                raise SourceUnavailable("NVML bindings missing (pip install nvidia-ml-py)")
            try:
                pynvml.nvmlInit()
            except pynvml.NVMLError as exc:
                raise SourceUnavailable(_init_failure(exc)) from None
            try:
                count = pynvml.nvmlDeviceGetCount()
            except pynvml.NVMLError as exc:
                _shutdown()
                raise SourceUnavailable(f"NVML could not count the GPUs ({exc})") from None
            if count == 0:
                _shutdown()
                raise SourceUnavailable("NVML sees no GPU on this machine")
            calls = _Calls()
            driver = self._call(None, calls, "driver", pynvml.nvmlSystemGetDriverVersion)
            self._driver_version = _text(driver)
            cuda = self._call(None, calls, "cuda", pynvml.nvmlSystemGetCudaDriverVersion)
            self._cuda_version = f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None
            now = self._clock.now()
            devices = [_Device(index=i) for i in range(count)]
            for dev in devices:
                self._attach(dev, now)
            self._devices = devices

    def sample(self) -> NodeSnapshot:
        with self._lock:
            if self._devices is None:
                raise SourceError("NVML is not open")
            now = self._clock.now()
            gpus: list[GpuSample] = []
            processes: list[ProcessSample] = []
            extra: dict[str, str] = {}
            answered = False
            for dev in self._devices:
                gpu, procs, calls = self._sample_device(dev, now)
                gpus.append(gpu)
                processes.extend(procs)
                errors = calls.errors if calls else {}
                extra.update({f"gpu{dev.index}.{k}": v for k, v in errors.items()})
                answered = answered or calls is None or calls.ok > 0 or not errors
            if not answered:  # NVML itself is failing, not one GPU: the monitor retries later
                raise SourceError(f"NVML: {next(iter(extra.values()))}")
            return NodeSnapshot(
                time=now,
                host=self.host,
                source=self.name,
                gpus=tuple(gpus),
                processes=self._with_host_details(processes),
                driver_version=self._driver_version,
                cuda_version=self._cuda_version,
                extra=extra,
            )

    def close(self) -> None:
        with self._lock:
            if self._devices is None:
                return
            self._devices = None
            self._host_processes.clear()
            _shutdown()

    # ---- the one wrapper around NVML calls ----------------------------------------------

    def _call(
        self, dev: _Device | None, calls: _Calls, name: str, fn: Callable[..., Any], *args: Any
    ) -> Any:
        """Call NVML once; any error becomes None for this field (see the module docstring)."""
        if calls.lost is not None or (dev is not None and name in dev.unsupported):
            return None  # the GPU is gone, or the field never exists on it
        try:
            value = fn(*args)
        except pynvml.NVMLError as exc:
            if isinstance(exc, (pynvml.NVMLError_GpuIsLost, pynvml.NVMLError_ResetRequired)):
                calls.lost = str(exc)
            elif isinstance(
                exc, (pynvml.NVMLError_NotSupported, pynvml.NVMLError_FunctionNotFound)
            ):
                if dev is not None:
                    dev.unsupported.add(name)
            else:
                calls.unknown += isinstance(exc, pynvml.NVMLError_Unknown)
                calls.errors[name] = str(exc)
            return None
        except UnicodeDecodeError:  # a garbled string from the driver
            calls.errors[name] = "undecodable text"
            return None
        calls.ok += 1
        return value

    # ---- per device -------------------------------------------------------------------

    def _attach(self, dev: _Device, now: float) -> bool:
        """Look up the handle and static fields; on failure the GPU is (still) lost."""
        calls = _Calls()
        call = functools.partial(self._call, dev, calls)
        h = call("handle", pynvml.nvmlDeviceGetHandleByIndex, dev.index)
        if h is None:
            self._mark_lost(dev, calls.lost or calls.errors.get("handle") or "no handle", now)
            return False
        dev.uuid = _text(call("uuid", pynvml.nvmlDeviceGetUUID, h)) or dev.uuid
        dev.name = _text(call("name", pynvml.nvmlDeviceGetName, h)) or dev.name
        memory = call("memory", self._memory, h)
        dev.memory_total_mib = _number(getattr(memory, "total", None), 1 / _MIB)
        limit = call("power_limit", pynvml.nvmlDeviceGetEnforcedPowerLimit, h)
        dev.power_limit_w = _number(limit, 1e-3)
        if calls.gone:
            self._mark_lost(dev, calls.lost or "Unknown Error", now)
            return False
        dev.handle = h
        dev.lost_reason = None
        dev.backoff.reset()
        return True

    def _sample_device(
        self, dev: _Device, now: float
    ) -> tuple[GpuSample, list[ProcessSample], _Calls | None]:
        """Read one GPU; the calls made are returned (None when it was not asked at all)."""
        if dev.lost_reason is not None:
            if now < dev.retry_at:
                return self._lost_sample(dev, now), [], None
            if dev.handle is None and not self._attach(dev, now):  # lost while opening
                return self._lost_sample(dev, now), [], None
        calls = _Calls()
        call = functools.partial(self._call, dev, calls)
        h = dev.handle
        memory = call("memory", self._memory, h)
        util = call("utilization", pynvml.nvmlDeviceGetUtilizationRates, h)
        temperature = call("temperature", self._temperature, h)
        power = call("power", pynvml.nvmlDeviceGetPowerUsage, h)
        sm = call("sm_clock", pynvml.nvmlDeviceGetClockInfo, h, pynvml.NVML_CLOCK_SM)
        mem = call("mem_clock", pynvml.nvmlDeviceGetClockInfo, h, pynvml.NVML_CLOCK_MEM)
        fan = call("fan", pynvml.nvmlDeviceGetFanSpeed, h)
        procs = call("processes", self._compute_processes, h)
        if calls.gone:
            self._mark_lost(dev, calls.lost or calls.errors.get("memory") or "Unknown Error", now)
            return self._lost_sample(dev, now), [], None
        if dev.lost_reason is not None:  # it answered again
            dev.lost_reason = None
            dev.backoff.reset()
        gpu = self._gpu(
            dev,
            now,
            memory_used_mib=_number(getattr(memory, "used", None), 1 / _MIB),
            utilization_gpu_pct=_percent(getattr(util, "gpu", None)),
            utilization_memory_pct=_percent(getattr(util, "memory", None)),
            temperature_c=_number(temperature),
            power_w=_number(power, 1e-3),
            sm_clock_mhz=_number(sm),
            mem_clock_mhz=_number(mem),
            fan_pct=_percent(fan),
        )
        processes = [
            ProcessSample(
                gpu_index=dev.index,
                gpu_uuid=dev.uuid,
                pid=int(p.pid),
                gpu_memory_mib=_number(p.usedGpuMemory, 1 / _MIB),
            )
            for p in procs or ()
        ]
        return gpu, processes, calls

    def _mark_lost(self, dev: _Device, reason: str, now: float) -> None:
        dev.lost_reason = reason
        dev.retry_at = now + dev.backoff.next_delay()

    def _lost_sample(self, dev: _Device, now: float) -> GpuSample:
        return self._gpu(dev, now, state="lost", reason=dev.lost_reason)

    def _gpu(self, dev: _Device, now: float, **readings: Any) -> GpuSample:
        """A sample of `dev` with its identity and static fields, plus `readings`."""
        return GpuSample(
            index=dev.index,
            uuid=dev.uuid,
            name=dev.name,
            host=self.host,
            source=self.name,
            time=now,
            memory_total_mib=dev.memory_total_mib,
            power_limit_w=dev.power_limit_w,
            **readings,
        )

    # ---- NVML calls with a fallback for older drivers -----------------------------------

    def _memory(self, handle: Any) -> Any:
        if self._memory_v2:
            try:
                return pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
            except (pynvml.NVMLError_FunctionNotFound, pynvml.NVMLError_ArgumentVersionMismatch):
                self._memory_v2 = False
        return pynvml.nvmlDeviceGetMemoryInfo(handle)

    def _temperature(self, handle: Any) -> Any:
        if self._temperature_v:
            try:
                return pynvml.nvmlDeviceGetTemperatureV(handle, pynvml.NVML_TEMPERATURE_GPU)
            except (pynvml.NVMLError_FunctionNotFound, pynvml.NVMLError_ArgumentVersionMismatch):
                self._temperature_v = False
        return pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)

    def _compute_processes(self, handle: Any) -> Any:
        if self._processes_v3:
            try:
                return pynvml.nvmlDeviceGetComputeRunningProcesses_v3(handle)
            except pynvml.NVMLError_FunctionNotFound:
                self._processes_v3 = False
        return pynvml.nvmlDeviceGetComputeRunningProcesses_v2(handle)

    # ---- host-side process details ------------------------------------------------------

    def _with_host_details(self, processes: list[ProcessSample]) -> tuple[ProcessSample, ...]:
        """Add user, command, CPU and start time from psutil; one lookup per pid per sample."""
        pids = {p.pid for p in processes}
        for gone in self._host_processes.keys() - pids:
            del self._host_processes[gone]
        cpu = {pid: self._cpu_percent(pid) for pid in pids}
        known = self._host_processes
        return tuple(
            replace(
                p,
                user=known[p.pid].user,
                command=known[p.pid].command,
                cpu_pct=cpu[p.pid],
                started=known[p.pid].started,
            )
            for p in processes
        )

    def _cpu_percent(self, pid: int) -> float | None:
        info = self._host_processes.get(pid)
        if info is None:
            info = self._host_processes[pid] = _describe(pid)
        if info.process is None:
            return None
        import psutil  # loaded with the first process seen

        try:
            value = info.process.cpu_percent(interval=None)
        except psutil.Error:  # exited (or was hidden) since the last sample
            self._host_processes[pid] = _HostProcess(process=None)
            return None
        first, info.primed = not info.primed, True
        return None if first else _number(value)  # the first call only starts the measurement


def _describe(pid: int) -> _HostProcess:
    import psutil  # loaded with the first process seen

    try:
        process = psutil.Process(pid)
        with process.oneshot():
            info = _HostProcess(process=process, started=_number(process.create_time()))
            info.user = _quietly(process.username)
            cmdline = _quietly(process.cmdline)
            info.command = " ".join(cmdline) if cmdline else _quietly(process.name)
    except psutil.Error:  # not visible from here (another pid namespace) or already gone
        return _HostProcess(process=None)
    return info


def _quietly(fn: Callable[[], Any]) -> Any:
    import psutil

    try:
        return fn() or None
    except (psutil.AccessDenied, psutil.ZombieProcess, KeyError):
        return None


def _init_failure(exc: Exception) -> str:
    """One line saying why NVML cannot start here."""
    if isinstance(exc, pynvml.NVMLError_LibraryNotFound):
        return NOT_FOUND_MESSAGE
    if isinstance(exc, pynvml.NVMLError_DriverNotLoaded):
        return "NVIDIA driver not loaded (NVML: Driver Not Loaded)"
    if isinstance(exc, pynvml.NVMLError_LibRmVersionMismatch):
        return "NVML and the NVIDIA kernel driver differ in version (reload the driver)"
    if isinstance(exc, pynvml.NVMLError_NoPermission):
        return "NVML: no permission to open the GPUs"
    return f"NVML could not start ({exc})"


def _shutdown() -> None:
    with contextlib.suppress(pynvml.NVMLError):  # nothing left to release
        pynvml.nvmlShutdown()


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return value or None


def _number(value: Any, scale: float = 1.0) -> float | None:
    """A finite float, or None for missing values and NVML's not-available sentinels."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int) and value in (_UINT_NA, _ULL_NA):
        return None
    result = float(value) * scale
    return result if math.isfinite(result) else None


def _percent(value: Any) -> float | None:
    result = _number(value)
    return result if result is not None and 0.0 <= result <= 100.0 else None
