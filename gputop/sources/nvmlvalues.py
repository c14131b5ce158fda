"""What NVML answers, as values to show: its not-available sentinels and non-finite numbers
as None, names as text, a process as a sample, and why NVML cannot start as one line.
"""

from __future__ import annotations

import math
from typing import Any

from gputop.core.models import ProcessSample

try:
    import pynvml
except ImportError:  # the source itself says the bindings are missing
    pynvml = None

__all__ = [
    "MIB",
    "NOT_FOUND_MESSAGE",
    "init_failure",
    "number",
    "percent",
    "process_sample",
    "text",
]

NOT_FOUND_MESSAGE = (
    "NVML not found (libnvidia-ml.so.1 could not be loaded: is the NVIDIA driver installed?)"
)
MIB = 1024 * 1024
_UINT_NA = 0xFFFF_FFFF  # NVML_VALUE_NOT_AVAILABLE for unsigned int fields
_ULL_NA = 0xFFFF_FFFF_FFFF_FFFF  # ... and for unsigned long long fields


def process_sample(
    index: int, uuid: str, info: Any, gpu_instance: int | None = None
) -> ProcessSample:
    return ProcessSample(
        gpu_index=index,
        gpu_uuid=uuid,
        pid=int(info.pid),
        gpu_memory_mib=number(info.usedGpuMemory, 1 / MIB),
        gpu_instance=gpu_instance,
    )


def init_failure(exc: Exception) -> str:
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


def text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return value or None


def number(value: Any, scale: float = 1.0) -> float | None:
    """A finite float, or None for missing values and NVML's not-available sentinels."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int) and value in (_UINT_NA, _ULL_NA):
        return None
    result = float(value) * scale
    return result if math.isfinite(result) else None


def percent(value: Any) -> float | None:
    result = number(value)
    return result if result is not None and 0.0 <= result <= 100.0 else None
