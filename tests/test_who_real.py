"""Who is on each GPU, against a real Prometheus scraping `gputop sim-exporter --scenario
hot-gpu --mig 1 --slurm 1 --vllm`: GPU 0 of the node is split into MIG instances (each with its
own pod), GPU 7 runs a Slurm job, the others pods, and a vLLM server serves beside them.

- every MIG instance is a row of its own with its own memory, never one instance's number as
  the GPU's; rules evaluate per instance;
- the rule firing on a pod's GPU names the pod, in `--once --json`, in `--once` and on screen;
- the vLLM panel's TTFT P95 is Prometheus' own `histogram_quantile`.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gputop.rules.servingrules import serving_rules
from gputop.sources.prometheus.serving import ENGINES
from gputop.sources.simvllm import MODEL
from gputop.ui.app import GpuTopApp
from gputop.ui.widgets.rules_panel import RulesPanel
from gputop.ui.widgets.serving_panel import ServingPanel
from tests.support.cli import cli_monitor
from tests.support.prometheus_server import PromStack
from tests.support.ui import screen_lines

pytestmark = pytest.mark.prometheus

REPO = Path(__file__).resolve().parents[1]
RULES = Path(__file__).parent / "data" / "rules-jobs.yml"
#: With this seed GPU 3 of sim-node-00 runs above 85 C from 590 s into the simulation on.
SEED = 148
HOST = "sim-node-00"
HOT_GPU = 3
POD = f"t2v-serve-{HOST}-{HOT_GPU}"
#: GPU 0's instances as the exporter splits it: (GI, profile, MiB).
INSTANCES = ((1, "3g.40gb", 40192.0), (7, "1g.10gb", 9856.0), (8, "1g.10gb", 9856.0))
TTFT_P95 = (
    "histogram_quantile(0.95, sum by (le, model_name) "
    "(rate(vllm:time_to_first_token_seconds_bucket[5m])))"
)


@pytest.fixture(scope="module")
def stack(
    module_prometheus_factory: Callable[..., PromStack], tmp_path_factory: pytest.TempPathFactory
) -> PromStack:
    serving = tmp_path_factory.mktemp("rules") / "serving.yml"
    serving.write_text(serving_rules(e for e in ENGINES if e.key == "vllm"))
    stack = module_prometheus_factory(
        scenario="hot-gpu", seed=SEED, mig=1, slurm=1, vllm=True, history_s=600,
        rule_files=[RULES, serving],
    )  # fmt: skip
    deadline = time.monotonic() + 40
    while _firing(stack.url) < {"JobsGpuHot", "JobsGpuHotByGpu"}:
        assert time.monotonic() < deadline, "the hot GPU's rules did not fire"
        time.sleep(0.5)
    return stack


def _firing(url: str) -> set[str]:
    rules = httpx.get(f"{url}/api/v1/rules", params={"type": "alert"}, timeout=5.0).json()
    return {
        alert["labels"]["alertname"]
        for group in rules["data"]["groups"]
        for rule in group["rules"]
        for alert in rule.get("alerts", [])
        if alert["state"] == "firing"
    }


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5.0)
    response.raise_for_status()
    return list(response.json()["data"]["result"])


def run_gputop(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gputop", *args],
        capture_output=True, text=True, timeout=60, env=env, cwd=REPO, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def snapshot(stack: PromStack) -> dict[str, Any]:
    """`gputop --once --json --prometheus URL`, read once for the module's checks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUTOP_")}
    done = run_gputop("--once", "--json", "--prometheus", stack.url, env=env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _gpu(doc: dict[str, Any], index: int, gi: int | None = None) -> dict[str, Any]:
    (found,) = [
        g
        for g in doc["gpus"]
        if g["index"] == index and (g["mig"] or {}).get("gi") == gi and g["host"] == HOST
    ]
    return dict(found)


def test_each_mig_instance_has_its_own_memory(stack: PromStack, snapshot: dict[str, Any]) -> None:
    parent = _gpu(snapshot, 0)
    assert parent["mig_mode"] is True and parent["mig"] is None
    # device-level readings once, on the GPU; no memory of its own picked from an instance
    assert parent["temperature_c"] is not None and parent["power_w"] is not None
    assert parent["memory_used_mib"] is None
    rows = [r for r in snapshot["gpus"] if r["index"] == 0 and r["mig"] is not None]
    assert [(r["mig"]["gi"], r["mig"]["profile"]) for r in rows] == [
        (gi, profile) for gi, profile, _ in INSTANCES
    ]
    seen: dict[int, set[float]] = {}
    for gi, _, _ in INSTANCES:
        raw = _query(stack.url, f'DCGM_FI_DEV_FB_USED{{gpu="0",GPU_I_ID="{gi}"}}[2m]')
        (series,) = raw
        seen[gi] = {float(v) for _, v in series["values"]}
    for row in rows:
        mig = row["mig"]
        assert mig["parent_uuid"] == parent["uuid"] and mig["ci"] is None
        gi = mig["gi"]
        total = next(t for g, _, t in INSTANCES if g == gi)
        assert row["memory_total_mib"] == total
        assert row["temperature_c"] is None  # the GPU's, shown on it
        used = row["memory_used_mib"]
        assert used in seen[gi], (gi, used, sorted(seen[gi])[-5:])  # its own series' number
    assert len({r["memory_used_mib"] for r in rows}) == 3


def test_jobs_on_every_gpu(snapshot: dict[str, Any]) -> None:
    pod = _gpu(snapshot, HOT_GPU)["jobs"]
    assert pod == [
        {"kind": "pod", "name": POD, "namespace": "t2v", "container": "worker", "uid": None}
    ]
    assert [j["name"] for j in _gpu(snapshot, 0, 7)["jobs"]] == [f"t2v-serve-{HOST}-0-mig7"]
    # the GPU in MIG mode: who is on any of its instances
    assert [j["name"] for j in _gpu(snapshot, 0)["jobs"]] == [
        f"t2v-serve-{HOST}-0-mig{gi}" for gi, _, _ in INSTANCES
    ]
    assert _gpu(snapshot, 7)["jobs"] == [
        {"kind": "slurm", "name": "4249", "namespace": None, "container": None, "uid": None}
    ]


def test_the_firing_rule_names_the_pod_in_json(snapshot: dict[str, Any]) -> None:
    want = [{"kind": "pod", "name": POD, "namespace": "t2v", "container": "worker", "uid": None}]
    for name in ("JobsGpuHot", "JobsGpuHotByGpu"):
        (hot,) = [
            r
            for r in snapshot["rules"]
            if r["name"] == name and r["labels"].get("gpu") == str(HOT_GPU)
        ]
        assert hot["state"] == "firing"
        # JobsGpuHot's series keeps the pod labels; JobsGpuHotByGpu's, aggregated, does not:
        # its pod is the one on the GPU it is about
        assert ("pod" in hot["labels"]) == (name == "JobsGpuHot")
        assert hot["jobs"] == want


def test_rules_evaluate_per_mig_instance(snapshot: dict[str, Any]) -> None:
    rows = [r for r in snapshot["rules"] if r["name"] == "JobsMigMemory"]
    assert sorted(r["labels"]["GPU_I_ID"] for r in rows) == sorted(str(g) for g, _, _ in INSTANCES)
    for row in rows:
        gi = row["labels"]["GPU_I_ID"]
        assert [j["name"] for j in row["jobs"]] == [f"t2v-serve-{HOST}-0-mig{gi}"]


def test_the_firing_rule_names_the_pod_in_text(
    stack: PromStack, isolated_env: dict[str, str]
) -> None:
    done = run_gputop("--once", "--prometheus", stack.url, env=isolated_env)
    assert done.returncode == 0, done.stderr
    line = next(
        ln for ln in done.stdout.splitlines() if ln.startswith("FIRING") and "JobsGpuHotByGpu" in ln
    )
    assert f"GPU {HOT_GPU} @ {HOST} → t2v/{POD}" in line, line
    assert "[0 GI 7]" in done.stdout and "→ job 4249" in done.stdout


def test_vllm_ttft_p95_is_prometheus_own_quantile(
    stack: PromStack, snapshot: dict[str, Any]
) -> None:
    serving = snapshot["serving"]
    assert serving["engine"] == "vLLM" and serving["model"] == MODEL
    # Prometheus' own quantile on the panel's grid (5 s steps) over the last half minute: the
    # snapshot's number is its newest point, a few seconds before these queries
    now = time.time()
    end = math.floor(now / 5) * 5
    params = {"query": TTFT_P95, "start": repr(end - 30.0), "end": repr(end), "step": "5"}
    got = httpx.get(f"{stack.url}/api/v1/query_range", params=params, timeout=5.0).json()
    (series,) = got["data"]["result"]
    theirs = [float(v) for _, v in series["values"][-3:]]
    assert all(math.isfinite(v) and v > 0 for v in theirs)
    ours = serving["ttft_p95_s"]
    assert min(abs(ours - v) / v for v in theirs) <= 0.05, (ours, theirs)
    (instant,) = _query(stack.url, TTFT_P95)  # and their instant query agrees too
    assert ours == pytest.approx(float(instant["value"][1]), rel=0.15)
    for key in ("tpot_p95_s", "e2e_p95_s", "running", "waiting", "kv_cache_pct"):
        assert serving[key] is not None, key
    assert 0 <= serving["kv_cache_pct"] <= 100
    assert snapshot["serving_models"] == [serving]


def test_the_serving_rules_evaluate_in_prometheus(
    stack: PromStack, snapshot: dict[str, Any]
) -> None:
    rules = httpx.get(f"{stack.url}/api/v1/rules", params={"type": "alert"}, timeout=5.0).json()
    served = {
        rule["name"]: rule
        for group in rules["data"]["groups"]
        if group["name"] == "gputop-serving-vllm"
        for rule in group["rules"]
    }
    assert sorted(served) == ["vLLMKVCacheNearlyFull", "vLLMQueueGrowingThroughputFalling"]
    assert {rule["health"] for rule in served.values()} == {"ok"}
    # gputop shows them like any rule: the KV cache (40 to 75 %) stays under its 95 %, so the
    # rule is ok, or near while its recent trend heads for the threshold (rules/near.py)
    (kv,) = [r for r in snapshot["rules"] if r["name"] == "vLLMKVCacheNearlyFull"]
    assert kv["threshold"] == 0.95 and 0 < kv["value"] < 0.9, kv
    assert kv["state"] == "ok" or (kv["state"] == "near" and kv["eta_s"] is not None), kv
    assert kv["labels"]["model_name"] == MODEL


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_the_firing_row_names_the_pod_on_screen(
    stack: PromStack, isolated_env: dict[str, str], size: tuple[int, int]
) -> None:
    with cli_monitor(stack.url) as monitor:
        app = GpuTopApp(monitor, interval=1.0)
        async with app.run_test(size=size) as pilot:
            panel = app.screen.query_one(RulesPanel)
            deadline = time.monotonic() + 30
            row = None
            while time.monotonic() < deadline:
                await pilot.pause(0.3)
                row = next(
                    (r for r in panel.rows if r.name == "JobsGpuHotByGpu" and r.state == "firing"),
                    None,
                )
                if row is not None and app.screen.query_one(ServingPanel).rows:
                    break
            assert row is not None, [r.title for r in panel.rows]
            assert row.job == f"t2v/{POD}"
            await pilot.pause(0.3)
            lines = screen_lines(app)
            (line,) = [ln for ln in lines if "FIRING" in ln and "JobsGpuHotByGpu" in ln]
            if size[0] >= 120:  # the pod whole (its namespace too where the columns allow)
                assert f"GPU {HOT_GPU} @ {HOST} → " in line and POD in line, line
            else:  # shortened to the width it has, never hidden: the pod without its namespace
                assert f"GPU {HOT_GPU} @ {HOST} → " in line and "-3" in line, line
            serving = app.screen.query_one(ServingPanel)
            assert "vLLM" in str(serving.border_title)
            text = "\n".join(lines)
            assert "TTFT" in text and "p50/p95/p99" in text and "waiting" in text, text
