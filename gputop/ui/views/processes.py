"""What the screens show of GPU processes: table cells and their order, no widgets."""

from __future__ import annotations

from collections.abc import Iterable

from gputop.core.jobs import jobs_text
from gputop.core.models import GpuSample, ProcessSample
from gputop.core.units import format_duration, format_mib, format_value
from gputop.core.untrusted import visible

__all__ = ["COLUMNS", "SORTS", "gpu_text", "on_gpu", "process_cells", "sort_processes"]

#: (column key, heading, right-aligned)
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("gpu", "GPU", True),
    ("pid", "PID", True),
    ("user", "USER", False),
    ("mem", "GPU MEM", True),
    ("cpu", "CPU %", True),
    ("elapsed", "ELAPSED", True),
    ("job", "JOB", False),
    ("command", "COMMAND", False),
)
#: sort key -> (heading, descending first): big numbers first for memory and CPU.
SORTS: dict[str, tuple[str, bool]] = {
    "mem": ("GPU MEM", True),
    "cpu": ("CPU %", True),
    "pid": ("PID", False),
    "gpu": ("GPU", False),
}


def process_cells(proc: ProcessSample, now: float) -> tuple[str, ...]:
    """The table cells of one process, in COLUMNS order; missing values read n/a. A user's
    name and command line are theirs to choose: their controls are made visible."""
    elapsed = "n/a" if proc.started is None else format_duration(max(0.0, now - proc.started))
    return (
        gpu_text(proc),
        str(proc.pid),
        visible(proc.user or "n/a"),
        format_mib(proc.gpu_memory_mib),
        format_value(proc.cpu_pct, "", 1),
        elapsed,
        visible(jobs_text(proc.jobs) or "n/a"),
        visible(proc.command or "n/a"),
    )


def gpu_text(proc: ProcessSample) -> str:
    """The GPU a process runs on: "3", or "0 GI 7" in a MIG instance."""
    gi = proc.gpu_instance
    return str(proc.gpu_index) if gi is None else f"{proc.gpu_index} GI {gi}"


def on_gpu(proc: ProcessSample, gpu: GpuSample) -> bool:
    """Whether a process runs on this GPU: a MIG instance's own, or any of a GPU's."""
    if gpu.mig is not None:
        return proc.gpu_uuid == gpu.uuid or (
            proc.gpu_index == gpu.index and proc.gpu_instance == gpu.mig.gi
        )
    return (
        proc.gpu_uuid == gpu.uuid
        or (not proc.gpu_uuid and proc.gpu_index == gpu.index)
        or (proc.gpu_instance is not None and proc.gpu_index == gpu.index)
    )


def _sort_value(proc: ProcessSample, key: str) -> float | None:
    return {
        "mem": proc.gpu_memory_mib,
        "cpu": proc.cpu_pct,
        "pid": float(proc.pid),
        "gpu": float(proc.gpu_index),
    }[key]


def sort_processes(
    procs: Iterable[ProcessSample], key: str, descending: bool
) -> list[ProcessSample]:
    """Sorted by `key`; processes whose value is missing always come last."""
    # a stable base order first, so equal values keep GPU then PID order
    base = sorted(procs, key=lambda p: (p.gpu_index, p.pid))
    present = [p for p in base if _sort_value(p, key) is not None]
    missing = [p for p in base if _sort_value(p, key) is None]
    present.sort(key=lambda p: _sort_value(p, key) or 0.0, reverse=descending)
    return present + missing
