"""MIG instances and the jobs behind GPU processes, read through the real pynvml bindings from
the stand-in library (`FAKE_NVML_MIG`), with a fake proc root (`GPUTOP_PROC_ROOT`): the
machine's own cgroups are never read."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from gputop.sources.nvmlmig import NO_MIG_UTILIZATION
from gputop.sources.procjobs import PROC_ROOT_ENV
from tests.support.fake_nvml import FakeNvml

FROZEN = 1_767_226_834.5
MIG = "0:3g.40gb,1g.10gb,1g.10gb;2:7g.80gb"
#: (slot, profile, GPU instance id, total MiB) of GPU 0, as fake_nvml.c places them.
GPU0 = ((0, "3g.40gb", 1, 40192), (1, "1g.10gb", 7, 9856), (2, "1g.10gb", 8, 9856))

POD_UID = "4f3c2b1a-9e8d-4c7b-a6f5-e4d3c2b1a098"
CONTAINER = "3f2a9c1b0d4e" + "5" * 52
CGROUPS = {
    # GPU 0 GI 1: a Kubernetes pod (cgroup v2, systemd driver, containerd)
    (0, 0): "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
    + POD_UID.replace("-", "_")
    + f".slice/cri-containerd-{CONTAINER}.scope\n",
    # GPU 0 GI 7: a Slurm job (cgroup v1: one line per controller)
    (0, 1): "12:memory:/slurm/uid_1000/job_4242/step_0\n"
    "11:cpu,cpuacct:/slurm/uid_1000/job_4242/step_0\n",
    # GPU 0 GI 8: a Docker container outside Kubernetes
    (0, 2): f"0::/system.slice/docker-{'ab' * 32}.scope\n",
    # GPU 2 GI 0: only a login session: its owner is the job
    (2, 0): "0::/user.slice/user-0.slice/session-4.scope\n",
}

READER = r"""
import json
from gputop.core.clock import RealClock
from gputop.sources.nvml import NvmlSource
source = NvmlSource(RealClock(), host="testhost")
source.open()
snap = source.sample()
source.close()
print(json.dumps({"gpus": [g.as_json() for g in snap.gpus],
                  "processes": [p.as_json() for p in snap.processes], "extra": snap.extra}))
"""


def _mig_used(total: int, gpu: int, slot: int, t: float) -> int:
    share = 0.3 + 0.25 * (1 + math.sin(2 * math.pi * t / 300 + 1.3 * gpu + 0.7 * slot))
    return math.floor(total * share + 0.5)


def _mig_pid(gpu: int, slot: int) -> int:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    return pid_max + 1 + 512 + 64 * gpu + 8 * slot


@pytest.fixture
def proc_root(tmp_path: Path) -> Path:
    """A fake /proc holding the cgroup and status files of the stand-in's MIG processes."""
    for (gpu, slot), text in CGROUPS.items():
        folder = tmp_path / "proc" / str(_mig_pid(gpu, slot))
        folder.mkdir(parents=True)
        (folder / "cgroup").write_text(text)
        (folder / "status").write_text("Name:\tworker\nUid:\t0\t0\t0\t0\n")
    return tmp_path / "proc"


def read(fake: FakeNvml, proc_root: Path, **settings: Any) -> dict[str, Any]:
    done = fake.run(
        [sys.executable, "-c", READER],
        extra_env={PROC_ROOT_ENV: str(proc_root)},
        time=FROZEN,
        gpus=3,
        mig=MIG,
        **settings,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_each_gpu_instance_is_its_own_row_with_its_own_memory(
    fake_nvml: FakeNvml, proc_root: Path
) -> None:
    out = read(fake_nvml, proc_root)
    assert out["extra"] == {}  # no utilization per instance is not an error
    rows = [(g["index"], (g["mig"] or {}).get("gi")) for g in out["gpus"]]
    assert rows == [(0, None), (0, 1), (0, 7), (0, 8), (1, None), (2, None), (2, 0)]
    parent, *instances = out["gpus"][:4]
    assert parent["mig_mode"] is True and parent["mig"] is None
    assert out["gpus"][4]["mig_mode"] is False  # GPU 1: MIG off
    used = []
    for row, (slot, profile, gi, total) in zip(instances, GPU0, strict=True):
        mig = row["mig"]
        assert mig["gi"] == gi and mig["ci"] == 0 and mig["profile"] == profile
        assert mig["parent_uuid"] == parent["uuid"]
        assert row["uuid"].startswith("MIG-") and row["uuid"] != parent["uuid"]
        assert row["memory_total_mib"] == total
        assert row["memory_used_mib"] == _mig_used(total, 0, slot, FROZEN)
        used.append(row["memory_used_mib"])
        # NVML has no utilization per MIG device: n/a, and why
        assert row["utilization_gpu_pct"] is None
        assert mig["unavailable"] == {"utilization_gpu_pct": NO_MIG_UTILIZATION}
        # device-level readings are the parent's, shown once
        assert row["temperature_c"] is None and row["power_w"] is None
    assert len(set(used)) == 3  # three numbers, not one instance's picked three times
    # the parent: its own readings, and its memory the sum of its instances' (the stand-in's)
    assert parent["temperature_c"] is not None and parent["power_w"] is not None
    assert parent["memory_used_mib"] == sum(used)
    assert parent["utilization_gpu_pct"] is None  # NVML has none in MIG mode


def test_processes_are_placed_on_their_instance_with_their_jobs(
    fake_nvml: FakeNvml, proc_root: Path
) -> None:
    out = read(fake_nvml, proc_root)
    by_pid = {p["pid"]: p for p in out["processes"]}
    gpus = {(g["index"], (g["mig"] or {}).get("gi")): g for g in out["gpus"]}
    want: dict[tuple[int, int], tuple[str, dict[str, Any]]] = {
        (0, 0): ("pod", {"uid": POD_UID, "container": CONTAINER[:12], "name": None}),
        (0, 1): ("slurm", {"name": "4242"}),
        (0, 2): ("container", {"name": "ab" * 6, "uid": "ab" * 32}),
        (2, 0): ("user", {"name": "root"}),
    }
    for (gpu, slot), (kind, fields) in want.items():
        proc = by_pid[_mig_pid(gpu, slot)]
        gi = proc["gpu_instance"]
        row = gpus[(gpu, gi)]
        assert proc["gpu_uuid"] == row["uuid"] and proc["gpu_index"] == gpu
        (job,) = proc["jobs"]
        assert job["kind"] == kind and {k: job[k] for k in fields} == fields
        assert row["jobs"] == proc["jobs"]  # the instance names who runs in it
    # a GPU in MIG mode names the jobs of all its instances, in instance order
    assert [j["kind"] for j in gpus[(0, None)]["jobs"]] == ["pod", "slurm", "container"]
    # processes in MIG mode are read per instance, never twice
    assert sum(1 for p in out["processes"] if p["gpu_index"] == 0) == 3


def test_without_a_proc_entry_a_process_has_no_job(fake_nvml: FakeNvml, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = read(fake_nvml, empty, procs=1)
    workers = [p for p in out["processes"] if p["gpu_instance"] is not None]
    assert workers and all(p["jobs"] == [] for p in workers)
