"""The job of a local GPU process: its cgroup (a pod, a Slurm job, a container), else its
owner, read from `/proc/<pid>/cgroup` and `/proc/<pid>/status`.

The proc root is `/proc` unless `GPUTOP_PROC_ROOT` (or the `root` argument) names another
folder laid out the same way: the tests build a fake one, never reading this machine's
cgroups. A file that cannot be read (the pid has gone, another pid namespace, no permission)
gives no job, never an error.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from gputop.core.jobs import jobs_from_cgroup
from gputop.core.models import Job

__all__ = ["PROC_ROOT_ENV", "ProcJobs"]

#: The environment variable naming another proc root (tests, containers with /host/proc).
PROC_ROOT_ENV = "GPUTOP_PROC_ROOT"
#: More of a file than this is not read: a cgroup file is a few lines.
_MAX_BYTES = 64 * 1024


class ProcJobs:
    """Reads the jobs of pids under one proc root."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root if root is not None else os.environ.get(PROC_ROOT_ENV) or "/proc")

    def jobs(self, pid: int, user: str | None = None) -> tuple[Job, ...]:
        """The pod, Slurm job or container the pid's cgroup names; else its owner (`user`
        when known, else the `Uid:` of its status file)."""
        found = jobs_from_cgroup(self._read(pid, "cgroup"))
        if found:
            return found
        owner = user or self._owner(pid)
        return (Job("user", name=owner),) if owner else ()

    def _read(self, pid: int, name: str) -> str:
        try:
            with open(self.root / str(pid) / name, "rb") as f:
                return f.read(_MAX_BYTES).decode("utf-8", "replace")
        except OSError:
            return ""

    def _owner(self, pid: int) -> str | None:
        for line in self._read(pid, "status").splitlines():
            if line.startswith("Uid:"):
                fields = line.split()
                if len(fields) < 2 or not fields[1].isdigit():
                    return None
                uid = int(fields[1])
                try:
                    return pwd.getpwuid(uid).pw_name
                except KeyError:  # no name for it here (another user namespace)
                    return f"uid {uid}"
        return None
