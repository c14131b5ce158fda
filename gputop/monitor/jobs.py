"""Every rule status about a GPU names its jobs (`RuleStatus.who`): those its own labels name
(a rule that keeps dcgm-exporter's `pod` or `hpc_job`), else those of the GPU (or MIG
instance) it is about, which the monitor adds (a copy of the status only where needed: a
fleet's thousands of series mostly keep their labels).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping

from gputop.core.jobs import jobs_from_labels
from gputop.core.labels import MIG_LABEL, node_of
from gputop.core.models import GpuSample, Job
from gputop.rules.model import RuleStatus

__all__ = ["StatusJobs"]

JobIndex = dict[tuple[str, ...], tuple[Job, ...]]


class StatusJobs:
    """Rule statuses with their jobs: the same list until the statuses or the jobs change."""

    def __init__(self) -> None:
        self._from: list[RuleStatus] | None = None
        self._at = -1  # the second the GPUs' jobs were last looked at
        self._index: JobIndex = {}
        self._out: list[RuleStatus] = []
        # the remote GPUs' jobs by GPU, built again only when its `jobs_version` moves
        self._remote: tuple[object, JobIndex] = (None, {})

    def of(
        self,
        statuses: list[RuleStatus],
        now: float,
        *,
        version: object,
        remote: Callable[[], Iterable[GpuSample]],
        local: Iterable[GpuSample],
    ) -> list[RuleStatus]:
        """Each status with the jobs on its GPU; the GPUs' jobs are looked at once a second.
        `remote`: the fleet's GPUs, worked out again only when `version` (its source's
        `jobs_version`) moves (None: always); `local`: this node's GPUs, which win."""
        second = int(now)
        if statuses is self._from and second == self._at:
            return self._out
        index = self._gpu_jobs(version, remote, local) if any(st.labels for st in statuses) else {}
        self._at = second
        if statuses is self._from and index == self._index:
            return self._out
        self._from, self._index = statuses, index
        out: list[RuleStatus] = []
        for st in statuses:
            jobs = _status_jobs(st.labels, index)
            out.append(st if jobs == st.jobs else dataclasses.replace(st, jobs=jobs))
        self._out = out
        return out

    def _gpu_jobs(
        self,
        version: object,
        remote: Callable[[], Iterable[GpuSample]],
        local: Iterable[GpuSample],
    ) -> JobIndex:
        """The jobs of every GPU known, local ones first."""
        if version is None or version != self._remote[0]:
            self._remote = (version, _jobs_index(remote()))
        return {**self._remote[1], **_jobs_index(local)}


def _jobs_index(gpus: Iterable[GpuSample]) -> JobIndex:
    """The jobs of each GPU and MIG instance, by (UUID, GI) and by (node, index, GI), as a
    rule's series names it (a MIG instance by its parent's UUID and `GPU_I_ID`)."""
    index: JobIndex = {}
    for gpu in gpus:
        if not gpu.jobs:
            continue
        gi = "" if gpu.mig is None else str(gpu.mig.gi)
        uuid = gpu.uuid if gpu.mig is None else gpu.mig.parent_uuid
        if uuid:
            index[("uuid", uuid, gi)] = gpu.jobs
        index[("node", gpu.host, str(gpu.index), gi)] = gpu.jobs
    return index


def _status_jobs(
    labels: Mapping[str, str], index: Mapping[tuple[str, ...], tuple[Job, ...]]
) -> tuple[Job, ...]:
    """The jobs of the GPU a rule's series is about, when its labels name none."""
    if not labels or jobs_from_labels(labels):
        return ()  # none, or its own labels name them (`RuleStatus.who`)
    gi = labels.get(MIG_LABEL, "")
    uuid = labels.get("UUID")
    if uuid:
        return index.get(("uuid", uuid, gi), ())
    host, gpu = node_of(labels, instance=False), labels.get("gpu")
    if host is None or gpu is None:
        return ()
    return index.get(("node", host, gpu, gi), ())
