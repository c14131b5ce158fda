"""Who is on a GPU: jobs (Kubernetes pods, Slurm jobs, containers, users) from the labels
dcgm-exporter puts on a GPU's series, and how they are worded. (A local process's job comes
from its cgroup: `gputop.sources.procjobs`.)

Every string here comes from outside (pod names, namespaces, job ids), so it is only ever
shown as plain text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import lru_cache

from gputop.core.models import GpuSample, Job, ProcessSample

__all__ = [
    "JOB_LABELS",
    "gpus_with_jobs",
    "job_text",
    "job_words",
    "jobs_from_labels",
    "jobs_text",
    "merge_jobs",
]

#: Series labels that name a job: dcgm-exporter's Kubernetes and HPC mappings (and the
#: `exported_` names they get when the scrape's own target has the same labels).
JOB_LABELS = frozenset(
    {
        "pod",
        "namespace",
        "container",
        "exported_pod",
        "exported_namespace",
        "exported_container",
        "hpc_job",
    }
)


def _label(labels: Mapping[str, str], name: str) -> str | None:
    return labels.get(name) or labels.get(f"exported_{name}") or None


def jobs_from_labels(labels: Mapping[str, str]) -> tuple[Job, ...]:
    """The jobs a series' labels name: dcgm-exporter's `pod`/`namespace`/`container`, and
    `hpc_job` (its HPC mapping, one Slurm job per series)."""
    pod = _label(labels, "pod")
    hpc = labels.get("hpc_job")
    if not pod and not hpc:
        return ()
    return _jobs(pod, _label(labels, "namespace"), _label(labels, "container"), hpc)


@lru_cache(maxsize=4096)
def _jobs(
    pod: str | None, namespace: str | None, container: str | None, hpc: str | None
) -> tuple[Job, ...]:
    """One tuple per distinct job: a fleet's thousands of rule series share their GPU's."""
    jobs: list[Job] = []
    if pod:
        jobs.append(Job("pod", name=pod, namespace=namespace, container=container))
    if hpc:
        jobs.append(Job("slurm", name=hpc))
    return tuple(jobs)


def merge_jobs(groups: Iterable[Iterable[Job]]) -> tuple[Job, ...]:
    """Every job of the groups once, in the order first seen."""
    return tuple(dict.fromkeys(job for group in groups for job in group))


def job_text(job: Job) -> str:
    """A job in a few words: `inference/t2v-worker-1`, `job 4242`, `pod 1f2e3d4c`,
    `container 3f2a9c1b0d4e`, `user alice`."""
    if job.kind == "pod":
        if job.name:
            return f"{job.namespace}/{job.name}" if job.namespace else job.name
        return f"pod {(job.uid or '?')[:8]}"
    if job.kind == "slurm":
        return f"job {job.name or '?'}"
    if job.kind == "container":
        return f"container {job.name or '?'}"
    return f"user {job.name or '?'}"


def job_words(job: Job) -> str:
    """A job with its kind, where `job_text` leaves it out: `pod inference/t2v-worker-1`,
    `Slurm job 4242`."""
    text = job_text(job)
    if job.kind == "pod" and not text.startswith("pod "):
        return f"pod {text}"
    return f"Slurm {text}" if job.kind == "slurm" else text


def jobs_text(jobs: Iterable[Job]) -> str:
    """The first job and how many more: `inference/t2v-worker-1 +2`; "" for none."""
    return _jobs_text(tuple(jobs))


@lru_cache(maxsize=4096)
def _jobs_text(shown: tuple[Job, ...]) -> str:
    """One string per distinct set of jobs: a fleet's rule rows share their GPU's."""
    if not shown:
        return ""
    more = f" +{len(shown) - 1}" if len(shown) > 1 else ""
    return job_text(shown[0]) + more


def gpus_with_jobs(
    gpus: Iterable[GpuSample], processes: Iterable[ProcessSample]
) -> tuple[GpuSample, ...]:
    """Each GPU with the jobs of its processes: a MIG instance those running in it, a whole
    GPU those of all its instances."""
    by_uuid: dict[str, list[tuple[Job, ...]]] = {}
    by_index: dict[int, list[tuple[Job, ...]]] = {}
    for p in processes:
        by_uuid.setdefault(p.gpu_uuid, []).append(p.jobs)
        by_index.setdefault(p.gpu_index, []).append(p.jobs)
    out = []
    for g in gpus:
        groups = by_uuid.get(g.uuid, []) if g.mig is not None else by_index.get(g.index, [])
        out.append(replace(g, jobs=merge_jobs(groups)) if groups else g)
    return tuple(out)
