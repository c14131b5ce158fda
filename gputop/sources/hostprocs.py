"""What the host says of a GPU's processes: user, command, start time, CPU share and job
(`procjobs`: its cgroup's pod, Slurm job or container, else its owner), read through psutil
and /proc once per pid and kept while the pid is listed. A pid not visible from here
(another pid namespace) or gone is a process with no details, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from gputop.core.models import Job, ProcessSample
from gputop.sources.procjobs import ProcJobs

if TYPE_CHECKING:
    import psutil

__all__ = ["HostProcesses"]


@dataclass(slots=True)
class _HostProcess:
    """What the host knows of a pid; `process` is None when the pid is not visible here."""

    process: psutil.Process | None
    user: str | None = None
    command: str | None = None
    started: float | None = None
    primed: bool = False  # cpu_percent() has a previous reading to measure against
    jobs: tuple[Job, ...] = ()


class HostProcesses:
    """The details of the pids listed in the last sample."""

    def __init__(self, proc_root: str | None = None) -> None:
        self._known: dict[int, _HostProcess] = {}
        self._jobs = ProcJobs(proc_root)

    def clear(self) -> None:
        self._known.clear()

    def details(self, processes: list[ProcessSample]) -> tuple[ProcessSample, ...]:
        """Add user, command, CPU, start time and jobs; one lookup per pid per sample."""
        pids = {p.pid for p in processes}
        for gone in self._known.keys() - pids:
            del self._known[gone]
        cpu = {pid: self._cpu_percent(pid) for pid in pids}
        known = self._known
        return tuple(
            replace(
                p,
                user=known[p.pid].user,
                command=known[p.pid].command,
                cpu_pct=cpu[p.pid],
                started=known[p.pid].started,
                jobs=known[p.pid].jobs,
            )
            for p in processes
        )

    def _cpu_percent(self, pid: int) -> float | None:
        info = self._known.get(pid)
        if info is None:
            info = self._known[pid] = _describe(pid)
            info.jobs = self._jobs.jobs(pid, info.user)
        if info.process is None:
            return None
        import psutil  # loaded with the first process seen

        try:
            value = info.process.cpu_percent(interval=None)
        except psutil.Error:  # exited (or was hidden) since the last sample
            self._known[pid] = _HostProcess(process=None, jobs=info.jobs)
            return None
        first, info.primed = not info.primed, True
        return None if first else _finite(value)  # the first call only starts the measurement


def _describe(pid: int) -> _HostProcess:
    import psutil  # loaded with the first process seen

    try:
        process = psutil.Process(pid)
        with process.oneshot():
            info = _HostProcess(process=process, started=_finite(process.create_time()))
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


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    result = float(value)
    return result if math.isfinite(result) else None
