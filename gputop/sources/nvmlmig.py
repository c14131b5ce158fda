"""The MIG instances of a GPU, as NVML lists them: one MIG device handle per compute
instance, each with its GPU instance (GI) and compute instance (CI) ids, its own memory and
its own processes.

A GPU instance is one row: its memory is the GI's whatever its compute instances, so a GI
split into several compute instances is listed once, with `ci` None. NVML reports no
utilization, temperature, power or clocks per MIG device: temperature, power and clocks are
the parent's (shown once, on it), and utilization per instance is n/a, with the reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

try:
    import pynvml
except ImportError:  # the source itself says the bindings are missing
    pynvml = None

__all__ = ["NO_MIG_UTILIZATION", "MigInstance", "list_instances", "profile_of"]

#: Why a MIG instance's utilization is n/a.
NO_MIG_UTILIZATION = "NVML gives no utilization per MIG instance"
_PROFILE = re.compile(r"\bMIG\s+(\S+)\s*$")

Call = Callable[..., Any]


@dataclass(slots=True)
class MigInstance:
    """One GPU instance of a GPU in MIG mode: the handle of its (first) MIG device."""

    handle: Any
    gi: int
    ci: int | None
    uuid: str
    profile: str | None
    memory_total_mib: float | None = None
    unsupported: set[str] = field(default_factory=set)


def profile_of(name: str | None, attributes: Any = None) -> str | None:
    """The MIG profile ("1g.10gb"): from the MIG device's name ("NVIDIA A100-SXM4-80GB MIG
    1g.10gb"), else from its slice count and memory size."""
    if name:
        found = _PROFILE.search(name)
        if found:
            return found.group(1)
    slices = getattr(attributes, "gpuInstanceSliceCount", None)
    memory_mb = getattr(attributes, "memorySizeMB", None)
    if isinstance(slices, int) and isinstance(memory_mb, int) and slices and memory_mb:
        return f"{slices}g.{math.ceil(memory_mb / 1024)}gb"
    return None


def list_instances(handle: Any, call: Call, text: Callable[[Any], str | None]) -> list[MigInstance]:
    """The GPU instances behind `handle` (a GPU in MIG mode). `call(name, fn, *args)` is the
    source's one wrapper around NVML calls; a MIG slot with no device is skipped."""
    count = call("mig_count", pynvml.nvmlDeviceGetMaxMigDeviceCount, handle) or 0
    found: dict[int, MigInstance] = {}
    for slot in range(count):
        try:
            mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
        except pynvml.NVMLError:  # NotFound: no MIG device in this slot
            continue
        gi = call("mig_gi", pynvml.nvmlDeviceGetGpuInstanceId, mig)
        if gi is None:
            continue
        if gi in found:  # another compute instance of the same GPU instance
            found[gi].ci = None
            continue
        name = text(call("mig_name", pynvml.nvmlDeviceGetName, mig))
        attributes = None if name and _PROFILE.search(name) else _attributes(mig, call)
        found[gi] = MigInstance(
            handle=mig,
            gi=int(gi),
            ci=call("mig_ci", pynvml.nvmlDeviceGetComputeInstanceId, mig),
            uuid=text(call("mig_uuid", pynvml.nvmlDeviceGetUUID, mig)) or "",
            profile=profile_of(name, attributes),
        )
    return [found[gi] for gi in sorted(found)]


def _attributes(mig: Any, call: Call) -> Any:
    return call("mig_attributes", pynvml.nvmlDeviceGetAttributes, mig)
