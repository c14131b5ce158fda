"""The job of a local GPU process: its cgroup (a pod, a Slurm job, a container), else its
owner, read from `/proc/<pid>/cgroup` and `/proc/<pid>/status`.

The cgroup paths recognised (cgroup v1 and v2, systemd and cgroupfs drivers):

- Kubernetes: `.../kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope`,
  `/kubepods/besteffort/pod<uid>/<id>`: a pod, known here by its UID (its name is the API
  server's), and the container's id;
- Slurm: `/slurm/uid_1000/job_4242/step_0`, `/system.slice/slurmstepd.scope/job_4242/...`;
- containers outside Kubernetes: `/docker/<id>`, `docker-<id>.scope`, `cri-containerd-<id>`,
  `crio-<id>`, `libpod-<id>` (podman).

The proc root is `/proc` unless `GPUTOP_PROC_ROOT` (or the `root` argument) names another
folder laid out the same way: the tests build a fake one, never reading this machine's
cgroups. A file that cannot be read (the pid has gone, another pid namespace, no permission)
gives no job, never an error.
"""

from __future__ import annotations

import functools
import os
import pwd
import re
from pathlib import Path

from gputop.core.models import Job

__all__ = ["PROC_ROOT_ENV", "ProcJobs", "jobs_from_cgroup"]

#: The environment variable naming another proc root (tests, containers with /host/proc).
PROC_ROOT_ENV = "GPUTOP_PROC_ROOT"
#: More of a file than this is not read: a cgroup file is a few lines.
_MAX_BYTES = 64 * 1024


_UID = r"[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}"
_SHORT_ID = 12


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """A pod, a container id, a Slurm job: compiled at the first process seen, not at start."""
    return (
        re.compile(rf"kubepods.*?pod({_UID})(?:\.slice)?(?:/|$)"),
        re.compile(r"(?:^|[/-])([0-9a-f]{64})(?:\.scope)?$"),
        re.compile(r"slurm.*?/job_(\d+)(?:/|$)"),
    )


def jobs_from_cgroup(text: str) -> tuple[Job, ...]:
    """The job a process's `/proc/<pid>/cgroup` names (a pod, a Slurm job or a container),
    or () when it names none. Lines of every hierarchy are read; the first that names a job
    counts (cgroup v1 repeats the same path per controller)."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1].strip()
        if not path or path == "/":
            continue
        job = _job_of_path(path)
        if job is not None:
            return (job,)
    return ()


def _job_of_path(path: str) -> Job | None:
    pod_re, container_re, slurm_re = _patterns()
    container = container_re.search(path)
    container_id = container.group(1)[:_SHORT_ID] if container else None
    pod = pod_re.search(path)
    if pod:
        uid = pod.group(1).replace("_", "-")
        return Job("pod", container=container_id, uid=uid)
    slurm = slurm_re.search(path)
    if slurm:
        return Job("slurm", name=slurm.group(1))
    if container is not None:
        return Job("container", name=container_id, uid=container.group(1))
    return None


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
