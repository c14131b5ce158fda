"""The local GPUs, read through NVML (the `pynvml` bindings of nvidia-ml-py).

Every NVML call goes through one wrapper, `NvmlSource._call`, which turns NVML errors into
values the screen can show:

- NotSupported / FunctionNotFound: that field is None (not available) and is not asked again;
- any other per-field error: that field is None, the error text lands in the snapshot's
  `extra` under `gpu<index>.<field>`;
- GpuIsLost / ResetRequired (or every call failing with Unknown): the GPU is marked
  `state="lost"` with the reason; it stays listed and is re-checked with backoff.

A GPU in MIG mode is followed by one row per GPU instance (see `nvmlmig`): its memory, its
processes. Each process names its job (`procjobs`: its cgroup's pod, Slurm job or container,
else its owner), and each GPU the jobs of its processes.

The library or driver being absent is a `SourceUnavailable` with one line to show.
"""

from __future__ import annotations

import contextlib
import functools
import math
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gputop.core.backoff import Backoff
from gputop.core.clock import Clock
from gputop.core.jobs import gpus_with_jobs
from gputop.core.models import GpuSample, MigInfo, NodeSnapshot, ProcessSample
from gputop.sources.base import SourceError, SourceUnavailable
from gputop.sources.hostprocs import HostProcesses
from gputop.sources.nvmlmig import NO_MIG_UTILIZATION, MigInstance, list_instances
from gputop.sources.nvmlvalues import (
    MIB,
    NOT_FOUND_MESSAGE,
    init_failure,
    number,
    percent,
    process_sample,
    text,
)

try:
    import pynvml
except ImportError:  # the bindings are a dependency, but a broken install must not crash
    pynvml = None

__all__ = ["NOT_FOUND_MESSAGE", "NvmlSource"]

_UNNAMED = "(unknown GPU)"
#: How often the MIG instances of a GPU in MIG mode are listed again (they change only when
#: an administrator reconfigures the GPU).
MIG_LIST_EVERY_S = 30.0


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
    mig_mode: bool | None = None
    instances: list[MigInstance] = field(default_factory=list)
    instances_at: float = -math.inf  # when the MIG instances were last listed
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


class NvmlSource:
    """The GPUs of this machine. Thread-safe: `sample()` may run on a worker thread."""

    name = "nvml"

    def __init__(
        self, clock: Clock, *, host: str | None = None, proc_root: str | None = None
    ) -> None:
        self._clock = clock
        self.host = host or socket.gethostname()
        self._lock = threading.Lock()
        self._devices: list[_Device] | None = None
        self._driver_version: str | None = None
        self._cuda_version: str | None = None
        self._host = HostProcesses(proc_root)
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
                raise SourceUnavailable(init_failure(exc)) from None
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
            self._driver_version = text(driver)
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
                rows, procs, calls = self._sample_device(dev, now)
                gpus.extend(rows)
                processes.extend(procs)
                errors = calls.errors if calls else {}
                extra.update({f"gpu{dev.index}.{k}": v for k, v in errors.items()})
                answered = answered or calls is None or calls.ok > 0 or not errors
            if not answered:  # NVML itself is failing, not one GPU: the monitor retries later
                raise SourceError(f"NVML: {next(iter(extra.values()))}")
            detailed = self._host.details(processes)
            return NodeSnapshot(
                time=now,
                host=self.host,
                source=self.name,
                gpus=gpus_with_jobs(gpus, detailed),
                processes=detailed,
                driver_version=self._driver_version,
                cuda_version=self._cuda_version,
                extra=extra,
            )

    def close(self) -> None:
        with self._lock:
            if self._devices is None:
                return
            self._devices = None
            self._host.clear()
            _shutdown()

    # ---- the one wrapper around NVML calls ----------------------------------------------

    def _call(
        self,
        dev: _Device | MigInstance | None,
        calls: _Calls,
        name: str,
        fn: Callable[..., Any],
        *args: Any,
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
        dev.uuid = text(call("uuid", pynvml.nvmlDeviceGetUUID, h)) or dev.uuid
        dev.name = text(call("name", pynvml.nvmlDeviceGetName, h)) or dev.name
        memory = call("memory", self._memory, h)
        dev.memory_total_mib = number(getattr(memory, "total", None), 1 / MIB)
        limit = call("power_limit", pynvml.nvmlDeviceGetEnforcedPowerLimit, h)
        dev.power_limit_w = number(limit, 1e-3)
        self._list_instances(dev, h, call, now)
        if calls.gone:
            self._mark_lost(dev, calls.lost or "Unknown Error", now)
            return False
        dev.handle = h
        dev.lost_reason = None
        dev.backoff.reset()
        return True

    def _list_instances(
        self, dev: _Device, handle: Any, call: Callable[..., Any], now: float
    ) -> None:
        """MIG mode, and the GPU instances when it is on (again every MIG_LIST_EVERY_S)."""
        mode = call("mig_mode", pynvml.nvmlDeviceGetMigMode, handle)
        dev.mig_mode = None if mode is None else bool(mode[0])
        dev.instances = list_instances(handle, call, text) if dev.mig_mode else []
        dev.instances_at = now
        for inst in dev.instances:
            memory = call("mig_memory", self._memory, inst.handle)
            inst.memory_total_mib = number(getattr(memory, "total", None), 1 / MIB)

    def _sample_device(
        self, dev: _Device, now: float
    ) -> tuple[list[GpuSample], list[ProcessSample], _Calls | None]:
        """Read one GPU (and its MIG instances); the calls made are returned (None when it
        was not asked at all)."""
        if dev.lost_reason is not None:
            if now < dev.retry_at:
                return [self._lost_sample(dev, now)], [], None
            if dev.handle is None and not self._attach(dev, now):  # lost while opening
                return [self._lost_sample(dev, now)], [], None
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
        if dev.mig_mode is not None and now - dev.instances_at >= MIG_LIST_EVERY_S:
            self._list_instances(dev, h, call, now)
        # in MIG mode the processes are read per instance, where they run
        procs = None if dev.instances else call("processes", self._compute_processes, h)
        instances = [self._sample_instance(dev, inst, calls, now) for inst in dev.instances]
        if calls.gone:
            self._mark_lost(dev, calls.lost or calls.errors.get("memory") or "Unknown Error", now)
            return [self._lost_sample(dev, now)], [], None
        if dev.lost_reason is not None:  # it answered again
            dev.lost_reason = None
            dev.backoff.reset()
        gpu = self._gpu(
            dev,
            now,
            memory_used_mib=number(getattr(memory, "used", None), 1 / MIB),
            utilization_gpu_pct=percent(getattr(util, "gpu", None)),
            utilization_memory_pct=percent(getattr(util, "memory", None)),
            temperature_c=number(temperature),
            power_w=number(power, 1e-3),
            sm_clock_mhz=number(sm),
            mem_clock_mhz=number(mem),
            fan_pct=percent(fan),
            mig_mode=dev.mig_mode,
        )
        processes = [process_sample(dev.index, dev.uuid, p) for p in procs or ()]
        for _, inst_procs in instances:
            processes.extend(inst_procs)
        return [gpu, *(row for row, _ in instances)], processes, calls

    def _sample_instance(
        self, dev: _Device, inst: MigInstance, calls: _Calls, now: float
    ) -> tuple[GpuSample, list[ProcessSample]]:
        """One MIG instance: its memory, its utilization where NVML gives it, its processes."""
        call = functools.partial(self._call, inst, calls)
        memory = call("mig_memory", self._memory, inst.handle)
        util = call("utilization", pynvml.nvmlDeviceGetUtilizationRates, inst.handle)
        procs = call("mig_processes", self._compute_processes, inst.handle)
        no_util = "utilization" in inst.unsupported  # not an error: NVML has none to give
        unavailable = (("utilization_gpu_pct", NO_MIG_UTILIZATION),) if no_util else ()
        row = GpuSample(
            index=dev.index,
            uuid=inst.uuid,
            name=dev.name,
            host=self.host,
            source=self.name,
            time=now,
            memory_used_mib=number(getattr(memory, "used", None), 1 / MIB),
            memory_total_mib=inst.memory_total_mib,
            utilization_gpu_pct=percent(getattr(util, "gpu", None)),
            utilization_memory_pct=percent(getattr(util, "memory", None)),
            mig=MigInfo(inst.gi, inst.ci, inst.profile, dev.uuid, unavailable),
        )
        processes = [
            process_sample(dev.index, inst.uuid, p, gpu_instance=inst.gi) for p in procs or ()
        ]
        return row, processes

    def _mark_lost(self, dev: _Device, reason: str, now: float) -> None:
        dev.lost_reason = reason
        dev.retry_at = now + dev.backoff.next_delay()

    def _lost_sample(self, dev: _Device, now: float) -> GpuSample:
        # its MIG instances are not listed while it is lost: they are read through it
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


def _shutdown() -> None:
    with contextlib.suppress(pynvml.NVMLError):  # nothing left to release
        pynvml.nvmlShutdown()
