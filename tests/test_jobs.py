"""Jobs from series labels and cgroup paths, and how they are worded."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputop.core.jobs import job_text, jobs_from_labels, jobs_text, merge_jobs
from gputop.core.models import Job
from gputop.sources.procjobs import ProcJobs, jobs_from_cgroup

UID = "0c9b8a7f-6e5d-4c3b-2a19-876543210fed"
CID = "9" * 64


@pytest.mark.parametrize(
    ("cgroup", "job"),
    [
        # cgroup v2, systemd driver, containerd / CRI-O
        (
            f"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
            f"{UID.replace('-', '_')}.slice/cri-containerd-{CID}.scope",
            Job("pod", container=CID[:12], uid=UID),
        ),
        (
            f"0::/kubepods.slice/kubepods-pod{UID.replace('-', '_')}.slice/crio-{CID}.scope",
            Job("pod", container=CID[:12], uid=UID),
        ),
        # cgroup v1, cgroupfs driver: the same path under every controller
        (
            f"11:memory:/kubepods/burstable/pod{UID}/{CID}\n10:cpu:/kubepods/burstable/pod{UID}/{CID}",
            Job("pod", container=CID[:12], uid=UID),
        ),
        ("0::/slurm/uid_1000/job_4242/step_batch/user/task_0", Job("slurm", name="4242")),
        ("0::/system.slice/slurmstepd.scope/job_77/step_0/user/task_0", Job("slurm", name="77")),
        (f"0::/docker/{CID}", Job("container", name=CID[:12], uid=CID)),
        (f"0::/system.slice/docker-{CID}.scope", Job("container", name=CID[:12], uid=CID)),
        (f"0::/machine.slice/libpod-{CID}.scope", Job("container", name=CID[:12], uid=CID)),
        ("0::/user.slice/user-1000.slice/session-2.scope", None),
        ("0::/", None),
        ("", None),
        ("garbage without colons\n::::", None),
    ],
)
def test_cgroup_paths(cgroup: str, job: Job | None) -> None:
    assert jobs_from_cgroup(cgroup) == ((job,) if job else ())


def test_labels_name_pods_and_hpc_jobs() -> None:
    labels = {"pod": "t2v-worker-1", "namespace": "inference", "container": "worker", "gpu": "1"}
    (pod,) = jobs_from_labels(labels)
    assert pod == Job("pod", name="t2v-worker-1", namespace="inference", container="worker")
    assert job_text(pod) == "inference/t2v-worker-1"
    exported = {"exported_pod": "p", "exported_namespace": "ns", "pod": ""}
    assert [job_text(j) for j in jobs_from_labels(exported)] == ["ns/p"]
    assert [job_text(j) for j in jobs_from_labels({"hpc_job": "4242"})] == ["job 4242"]
    assert jobs_from_labels({"gpu": "0", "pod": ""}) == ()


def test_wording() -> None:
    assert job_text(Job("pod", uid=UID)) == "pod 0c9b8a7f"
    assert job_text(Job("container", name="abc")) == "container abc"
    assert job_text(Job("user", name="alice")) == "user alice"
    jobs = (Job("slurm", name="1"), Job("user", name="bob"), Job("slurm", name="1"))
    assert merge_jobs([jobs, jobs]) == jobs[:2]
    assert jobs_text(merge_jobs([jobs])) == "job 1 +1"
    assert jobs_text(()) == ""


def test_proc_root_reads_cgroup_then_owner(tmp_path: Path) -> None:
    (tmp_path / "10").mkdir()
    (tmp_path / "10" / "cgroup").write_text("0::/slurm/uid_0/job_9/step_0\n")
    (tmp_path / "11").mkdir()
    (tmp_path / "11" / "cgroup").write_text("0::/user.slice\n")
    (tmp_path / "11" / "status").write_text("Name:\tx\nUid:\t0\t0\t0\t0\n")
    (tmp_path / "12").mkdir()
    (tmp_path / "12" / "status").write_text("Uid:\t4000000\t0\t0\t0\n")  # no such user here
    jobs = ProcJobs(tmp_path)
    assert jobs.jobs(10) == (Job("slurm", name="9"),)
    assert jobs.jobs(11) == (Job("user", name="root"),)
    assert jobs.jobs(11, "alice") == (Job("user", name="alice"),)
    assert jobs.jobs(12) == (Job("user", name="uid 4000000"),)
    assert jobs.jobs(13) == ()  # gone, or never there


def test_proc_root_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GPUTOP_PROC_ROOT", str(tmp_path))
    assert ProcJobs().root == tmp_path
