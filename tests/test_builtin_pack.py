"""The built-in rule pack: the article's rules corrected, plus a stuck-job rule."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from gputop.core.clock import FakeClock
from gputop.core.store import MetricStore
from gputop.rules.builtin import BUILTIN_GROUP, builtin_pack, builtin_path, builtin_rules
from gputop.rules.files import load_rules, read_rule_file
from gputop.rules.local import NEEDS_PROMETHEUS, LocalEvaluator
from gputop.sources.demosource import DemoSource

PROMTOOL = "/usr/bin/promtool"


def _promtool() -> str:
    found = PROMTOOL if os.access(PROMTOOL, os.X_OK) else shutil.which("promtool")
    if found is None:
        message = "promtool not found: install the Debian package 'prometheus'"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def test_the_json_mirror_the_dashboard_loads_is_the_yaml_pack() -> None:
    # builtin.json is written from builtin.yml by scripts/builtin_rules_json.py
    assert builtin_rules() == load_rules([builtin_path()])


def test_promtool_accepts_the_pack() -> None:
    proc = subprocess.run(
        [_promtool(), "check", "rules", str(builtin_path())],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 5 rules found" in proc.stdout


def test_pack_path_and_rules() -> None:
    path, rules = builtin_pack()
    assert path.is_file() and path.name == "builtin.yml"
    assert [r.name for r in rules] == [
        "GPUHighMemoryUsage",
        "GPUBusy",
        "GPUTemperatureHigh",
        "T2VInferenceSlow",
        "GPUStuckJob",
    ]
    assert {r.group for r in rules} == {BUILTIN_GROUP}
    for rule in rules:
        assert rule.severity in ("info", "warning", "critical"), rule.name
        assert rule.annotations.get("summary") and rule.annotations.get("description")
        assert rule.source is not None and rule.source.startswith(f"{path}:")
    assert builtin_rules() == rules


def test_the_article_mistakes_are_corrected() -> None:
    rules = {r.name: r for r in builtin_rules()}
    memory = rules["GPUHighMemoryUsage"].analysis
    assert "DCGM_FI_DEV_MEM_COPY_UTIL" not in memory.metrics
    assert memory.metrics == ("DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE")
    assert memory.comparison is not None
    assert (memory.comparison.op, memory.comparison.threshold) == (">", 90.0)
    assert rules["GPUHighMemoryUsage"].for_s == 120.0
    busy = rules["GPUBusy"].analysis.comparison
    assert busy is not None
    assert (busy.unit_metric, busy.op, busy.threshold) == (
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        ">",
        0.95,
    )
    assert rules["GPUBusy"].for_s == 300.0
    temp = rules["GPUTemperatureHigh"]
    assert temp.analysis.comparison is not None
    assert (temp.analysis.comparison.threshold, temp.for_s) == (85.0, 60.0)
    slow = rules["T2VInferenceSlow"]
    assert slow.expr == (
        "histogram_quantile(0.95, sum(rate(t2v_inference_duration_seconds_bucket[5m])) by (le))"
        " > 300"
    )
    assert slow.for_s == 300.0


def test_stuck_job_rule_needs_busy_and_no_completion() -> None:
    stuck = {r.name: r for r in builtin_rules()}["GPUStuckJob"]
    analysis = stuck.analysis
    assert analysis.gated  # the comparison is filtered by "no job completed"
    assert analysis.comparison is not None
    assert analysis.comparison.unit_metric == "DCGM_FI_DEV_GPU_UTIL"
    assert (analysis.comparison.op, analysis.comparison.threshold) == (">", 85.0)
    assert "t2v_jobs_completed_total" in analysis.metrics
    assert "min_over_time(DCGM_FI_DEV_GPU_UTIL[10m])" in stuck.expr  # busy for 10 minutes


def test_group_interval_keeps_the_one_minute_rule_lint_clean() -> None:
    entries = read_rule_file(builtin_path()).entries
    assert {e.group_interval_s for e in entries} == {30.0}


def test_pack_runs_locally_on_the_hot_demo_node() -> None:
    clock = FakeClock()
    source = DemoSource(clock, scenario="hot-gpu")
    store = MetricStore()
    evaluator = LocalEvaluator(builtin_rules(), clock=clock)
    statuses = []
    fired: set[str] = set()
    for _ in range(160):  # 40 minutes, evaluated every 15 s
        clock.advance(15)
        snapshot = source.sample()
        for gpu in snapshot.gpus:
            store.add_gpu(gpu)
        if snapshot.latency is not None:
            store.add_latency(snapshot.latency)
        statuses = evaluator.evaluate(store, snapshot.gpus)
        fired |= {
            s.labels["gpu"]
            for s in statuses
            if s.name == "GPUTemperatureHigh" and s.state == "firing"
        }
    assert fired == {"3"}  # the demo's hot GPU, and only it
    stuck = [s for s in statuses if s.name == "GPUStuckJob"]
    assert len(stuck) == 1 and stuck[0].state == "unknown"
    assert stuck[0].reason == NEEDS_PROMETHEUS + "metric t2v_jobs_completed_total"
    assert {s.name for s in statuses} == {r.name for r in builtin_rules()}
