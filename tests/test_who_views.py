"""Who is on each GPU, on screen: rule rows naming their GPU's job within the width they have,
MIG instances as rows of their own (Prometheus' series, the local evaluation, the fleet, the
detail), the processes of a rule's GPU, the serving panel's room, and outside text shown as
plain text."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from gputop.core.clock import FakeClock
from gputop.core.models import GpuSample, Job, MigInfo, SourceState, SourceStatus
from gputop.core.units import format_latency
from gputop.rules.model import AlertFate, RuleStatus
from gputop.snapshot import snapshot_json, snapshot_text
from gputop.sources.prometheus.freshness import Feed
from gputop.sources.prometheus.gpus import GpuTable
from gputop.sources.signals import describe_process
from gputop.ui.app import GpuTopApp
from gputop.ui.screens.detail import DetailScreen
from gputop.ui.screens.processes import ProcessesScreen
from gputop.ui.views.fleet import SORTS, FleetLayout, GpuRow, NodeRow, fleet_rows, gpu_line
from gputop.ui.views.overview import overview_layout
from gputop.ui.views.processes import on_gpu
from gputop.ui.views.readings import NumberLevels
from gputop.ui.views.rules import rule_row
from gputop.ui.views.rules_lines import RuleColumns, fit_title, row_line
from gputop.ui.widgets.gpu_panel import GpuPanel
from gputop.ui.widgets.latency_panel import LatencyPanel
from gputop.ui.widgets.rules_panel import RulesPanel
from gputop.ui.widgets.serving_panel import ServingPanel
from tests.support.rulestates import FixedRules
from tests.support.ui import ServingRemote, build_app, build_monitor, screen_lines

POD = Job("pod", name="t2v-worker-1", namespace="inference", container="t2v")
NODE = {"Hostname": "gpu-node-1"}


def text(line: tuple[tuple[str, str], ...]) -> str:
    return "".join(t for t, _ in line)


def firing(gpu: str = "1", jobs: tuple[Job, ...] = (POD,), **labels: str) -> RuleStatus:
    return RuleStatus(
        "GPUTemperatureHigh", "firing", value=91.0, op=">", threshold=85.0,
        labels={"gpu": gpu, **NODE, **labels}, active_at=1000.0, for_s=60.0, jobs=jobs,
    )  # fmt: skip


def pending(gpu: str, jobs: tuple[Job, ...]) -> RuleStatus:
    return RuleStatus(
        "GPUBusy", "pending", value=0.97, op=">", threshold=0.95, labels={"gpu": gpu, **NODE},
        active_at=1000.0, for_s=300.0, jobs=jobs,
    )  # fmt: skip


# ---- rule rows -------------------------------------------------------------------------------


def test_a_rule_row_names_its_job() -> None:
    row = rule_row(firing(), (), now=1100.0)
    assert row.title == "GPUTemperatureHigh · GPU 1 @ gpu-node-1 → inference/t2v-worker-1"
    assert row.job == "inference/t2v-worker-1"
    slurm = rule_row(firing(jobs=(Job("slurm", name="4242"),)), (), now=1100.0)
    assert slurm.title.endswith("→ job 4242")
    assert rule_row(firing(jobs=()), (), now=1100.0).title.endswith("@ gpu-node-1")
    # where the alert went comes after the job; where narrow, the job gives way, not the GPU
    routed = replace(firing(), alertmanager=AlertFate("active", receivers=("pager",)))
    row = rule_row(routed, (), now=1100.0)
    assert row.title.endswith("→ inference/t2v-worker-1  → pager")
    assert row.job == "inference/t2v-worker-1"
    core = "GPUTemperatureHigh · GPU 1 @ gpu-node-1"
    assert fit_title(row, len(core) + 10 + 9) == core + " → t2v…r-1  → pager"
    assert fit_title(row, len(core) + 9) == core + "  → pager"


@pytest.mark.parametrize("width", [76, 96, 116])  # the panel's content at 80, 100, 120 columns
def test_the_job_is_shortened_never_hidden_and_the_countdown_stays(width: int) -> None:
    jobs = (Job("pod", name="t2v-worker-12345678", namespace="inference-production"),)
    rows = [rule_row(firing(jobs=jobs), (), now=1100.0), rule_row(pending("12", jobs), (), 1030.0)]
    cols = RuleColumns.fit(width, rows)
    for row in rows:
        line = text(row_line(row, cols))
        assert len(line) <= width
        assert "GPU 1" in line or "GPU 12" in line
        assert "@ gpu-node-1 → " in line, line  # the node stays, and a job is named
        shown = line.split(" → ", 1)[1]
        assert "t2v" in shown  # at least its name's start
    pending_line = text(row_line(rows[1], cols))
    # the value against its threshold, at least; with room, the countdown too
    assert "0.97>0.95" in pending_line or "0.97 vs > 0.95" in pending_line, pending_line
    if width >= 96:
        assert "in 4m30s" in pending_line, pending_line
    if width >= 116:  # and for the pod's whole name (its namespace too, in its own blank)
        assert re.search(r"→ (inference-production/)?t2v-worker-12345678 ", pending_line)


def test_a_near_rows_job_gives_way_before_a_pending_rows_job_and_countdown() -> None:
    pod = (Job("pod", name="t2v-worker-1", namespace="inference"),)
    near = RuleStatus(
        "GPUHighMemoryUsage", "near", value=86.5, op=">", threshold=90.0,
        labels={"gpu": "4", **NODE}, jobs=pod,
    )  # fmt: skip
    rows = [rule_row(pending("1", pod), (), 1240.0), rule_row(near, (), 1240.0)]
    cols = RuleColumns.fit(76, rows)  # the rules panel at 80 columns, or beside the latency
    busy, memory = (text(row_line(row, cols)) for row in rows)
    assert "GPUBusy · GPU 1 @ gpu-node-1 → t2v-worker-1 0.97 vs > 0.95 in 1m" in busy
    assert "GPUHighMemoryUsage · GPU 4 @ gpu-node-1 " in memory and "→" not in memory


def test_fit_title_drops_the_namespace_cuts_the_job_in_its_middle_then_leaves_it_out() -> None:
    row = rule_row(firing(), (), now=1100.0)
    core = "GPUTemperatureHigh · GPU 1 @ gpu-node-1 → "
    assert fit_title(row, len(core) + 22) == core + "inference/t2v-worker-1"
    assert fit_title(row, len(core) + 15) == core + "t2v-worker-1"
    long = rule_row(firing(jobs=(Job("pod", name="a-very-long-pod-name-0123"),)), (), 1100.0)
    assert fit_title(long, len(core) + 12) == core + "a-very…-0123"
    # below 7 cells the job goes, before the rule name is ever cut
    assert fit_title(row, len(core) + 7) == core + "t2v…r-1"
    assert fit_title(row, len(core) + 6) == core.removesuffix(" → ")
    assert fit_title(row, len(core) - 4) == "GPUTempe…tureHigh · GPU 1 @ gpu-node-1"


# ---- MIG instances from Prometheus' series ---------------------------------------------------


def _labels(gi: str | None, **extra: str) -> dict[str, str]:
    labels = {"gpu": "0", "UUID": "GPU-aaaa", "Hostname": "n1", "modelName": "NVIDIA A100"}
    if gi is not None:
        labels |= {"GPU_I_ID": gi, "GPU_I_PROFILE": "1g.10gb" if gi != "1" else "3g.40gb"}
    return labels | extra


def test_mig_series_are_instance_rows_and_device_fields_are_the_gpus() -> None:
    table = GpuTable()
    for gi, used in (("1", 24919.0), ("7", 5421.0), ("8", 1971.0)):
        labels = _labels(gi, pod=f"worker-{gi}", namespace="inference")
        key = table.route(labels, "memory_used_mib", full=True)
        table.note(key, "memory_used_mib", 100.0, used)
        # DCGM repeats the GPU's temperature on every instance: it is the GPU's, once
        temp_key = table.route(labels, "temperature_c", full=True)
        assert temp_key == "GPU-aaaa"
        table.note(temp_key, "temperature_c", 100.0, 61.0)
    rows = table.samples(100.0, 900.0, 20.0, Feed(), "prometheus")
    assert [(g.key, g.mig.gi if g.mig else None) for g in rows] == [
        ("GPU-aaaa", None), ("GPU-aaaa/gi1", 1), ("GPU-aaaa/gi7", 7), ("GPU-aaaa/gi8", 8),
    ]  # fmt: skip
    gpu, *instances = rows
    assert gpu.mig_mode is True and gpu.memory_used_mib is None and gpu.temperature_c == 61.0
    assert [g.memory_used_mib for g in instances] == [24919.0, 5421.0, 1971.0]
    assert [g.temperature_c for g in instances] == [None, None, None]
    assert instances[1].mig == MigInfo(7, None, "1g.10gb", "GPU-aaaa")
    assert [j.name for j in gpu.jobs] == ["worker-1", "worker-7", "worker-8"]
    assert [j.name for j in instances[2].jobs] == ["worker-8"]
    # a slim answer (identity labels only, GPU_I_ID kept) finds the same instance
    slim = {"UUID": "GPU-aaaa", "gpu": "0", "GPU_I_ID": "7", "Hostname": "n1"}
    assert table.route(slim, "memory_used_mib", full=False) == "GPU-aaaa/gi7"
    assert not table.new_seen


# ---- the demo node split into MIG instances, evaluated locally ----------------------------


def test_local_rules_evaluate_per_instance_and_name_its_pod() -> None:
    monitor = build_monitor(mig=1)
    statuses = [s for s in monitor.rule_statuses() if s.name == "GPUHighMemoryUsage"]
    by_gi = {s.labels.get("GPU_I_ID"): s for s in statuses if s.labels.get("gpu") == "0"}
    assert sorted(by_gi, key=str) == ["1", "7", "8", None]
    for gi in ("1", "7", "8"):
        assert [j.name for j in by_gi[gi].who] == [f"t2v-worker-0-mig{gi}"]
    assert len(by_gi[None].who) == 3  # the whole GPU: who is on any of its instances
    doc = snapshot_json(monitor, [s.as_json() for s in monitor.rule_statuses()])
    rows = [g for g in doc["gpus"] if g["index"] == 0]
    assert [g["mig"] and g["mig"]["gi"] for g in rows] == [None, 1, 7, 8]
    assert rows[1]["mig"]["profile"] == "3g.40gb" and rows[0]["mig_mode"] is True
    assert json.dumps(doc)  # plain JSON
    text_doc = snapshot_text(monitor, monitor.rule_statuses())
    assert "  [0 GI 7] MIG 1g.10gb" in text_doc
    assert "→ inference/t2v-worker-0-mig7" in text_doc


def test_rule_jobs_follow_the_gpus_jobs() -> None:
    monitor = build_monitor()
    first = monitor.rule_statuses()
    assert first is monitor.rule_statuses()  # unchanged: the same list, not a new one
    gpu3 = [s for s in first if s.labels.get("gpu") == "3"]
    assert gpu3 and all([j.name for j in s.who] == ["t2v-worker-3"] for s in gpu3)
    unlabelled = [s for s in first if not s.labels]
    assert all(s.who == () for s in unlabelled)


def test_processes_of_a_gpu_and_of_an_instance() -> None:
    monitor = build_monitor(mig=1)
    gpus = {(g.index, g.mig.gi if g.mig else None): g for g in monitor.gpus()}
    procs = monitor.processes()
    assert [p.gpu_instance for p in procs if on_gpu(p, gpus[(0, None)])] == [1, 7, 8]
    assert [p.gpu_instance for p in procs if on_gpu(p, gpus[(0, 7)])] == [7]
    assert [p.gpu_index for p in procs if on_gpu(p, gpus[(3, None)])] == [3]
    (worker,) = [p for p in procs if on_gpu(p, gpus[(0, 7)])]
    assert describe_process(worker).startswith(
        f"pid {worker.pid} (t2v) in pod inference/t2v-worker-0-mig7: python -m t2v_serve"
    )


# ---- the fleet ------------------------------------------------------------------------------


def test_the_fleet_lists_instances_under_their_gpu() -> None:
    whole = GpuSample(0, "GPU-a", "NVIDIA A100", "n1", "prometheus", 1.0, mig_mode=True,
                      temperature_c=50.0)  # fmt: skip
    other = GpuSample(1, "GPU-b", "NVIDIA A100", "n1", "prometheus", 1.0, temperature_c=80.0,
                      jobs=(Job("slurm", name="4242"),))  # fmt: skip
    inst = [
        GpuSample(0, "GPU-a", "NVIDIA A100", "n1", "prometheus", 1.0, memory_used_mib=m,
                  memory_total_mib=9856.0, mig=MigInfo(gi, None, "1g.10gb", "GPU-a"))
        for gi, m in ((8, 9000.0), (7, 100.0))
    ]  # fmt: skip
    rows = fleet_rows([inst[0], other, whole, inst[1]], "m")
    assert isinstance(rows[0], NodeRow) and rows[0].gpus == 2  # instances are not GPUs
    keys = [r.gpu.key for r in rows if isinstance(r, GpuRow)]
    at = keys.index("GPU-a")
    assert keys[at : at + 3] == ["GPU-a", "GPU-a/gi7", "GPU-a/gi8"] and "GPU-b" in keys
    layout = FleetLayout.fit(120, 2)
    line = text(gpu_line(GpuRow(inst[1], "", None), layout, [], SORTS["m"], NumberLevels()))
    assert "  ╰ GI 7 1g.10gb" in line


# ---- the overview's room for the serving panel ----------------------------------------------


def test_the_serving_panel_gives_way_before_rules() -> None:
    at_80 = overview_layout(80, 24, [8], 3, models=2)
    assert at_80.compact and at_80.serving == 1 and at_80.gpu_h == 7  # one model; a GPU scrolls
    tight = overview_layout(80, 24, [8], 6, models=2)
    assert tight.serving == 1 and tight.gpu_h == 4  # the GPU list scrolls, one model stays
    tighter = overview_layout(80, 24, [8], 9, models=2)
    assert tighter.serving == 0 and tighter.gpu_h >= 2  # nine rule rows first
    # cards with one model where both fit, else compact lines and more models
    assert overview_layout(200, 60, [8], 3, models=5) == overview_layout(200, 60, [8], 3, models=3)
    assert overview_layout(200, 60, [8], 3, models=5).serving == 3  # at most three
    at_120 = overview_layout(120, 40, [8], 3, models=1)
    assert at_120.compact and at_120.serving == 1 and at_120.gpu_h == 8
    assert overview_layout(120, 40, [8], 3) == overview_layout(120, 40, [8], 3, models=0)
    assert not overview_layout(120, 40, [8], 3).compact


# ---- on screen ------------------------------------------------------------------------------


async def test_p_on_a_rule_row_opens_the_processes_of_its_gpu() -> None:
    app = build_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("tab")
        await pilot.pause()
        panel = app.screen.query_one(RulesPanel)
        status = panel.selected
        assert status is not None and status.labels.get("gpu")
        await pilot.press("p")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ProcessesScreen)
        gpu = status.labels["gpu"]
        assert screen.row_keys and all(k.startswith(f"{gpu}:") for k in screen.row_keys)
        title = str(screen.query_one("DataTable").border_title)
        assert f"GPU {gpu} → inference/t2v-worker-{gpu}" in title
        assert "JOB" in "\n".join(screen_lines(app))
        await pilot.press("escape", "shift+tab")  # from the GPUs, `p` lists every process
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ProcessesScreen) and len(app.screen.row_keys) == 8


async def test_a_mig_instance_has_its_own_card_and_detail() -> None:
    app = build_app(mig=1)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        keys = [p.key for p in app.screen.query(GpuPanel)]
        assert keys[:4] == [keys[0], f"{keys[0]}/gi1", f"{keys[0]}/gi7", f"{keys[0]}/gi8"]
        app.open_detail(f"{keys[0]}/gi7")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        lines = "\n".join(screen_lines(app))
        assert "GPU 0 GI 7 · MIG 1g.10gb of A100-SXM4-80GB" in lines
        assert "Jobs: pod inference/t2v-worker-0-mig7 (container t2v" in lines
        assert "UTIL n/a (NVML gives no utilization per MIG instance)" in lines


async def test_outside_text_is_never_markup() -> None:
    evil = Job("pod", name="[bold red]x[/bold red]", namespace="[link=http://a]ns[/link]")
    monitor = build_monitor()
    latest = monitor.latest
    assert latest is not None
    gpus = tuple(replace(g, jobs=(evil,)) for g in latest.gpus)
    procs = tuple(replace(p, jobs=(evil,)) for p in latest.processes)
    monitor.latest = replace(latest, gpus=gpus, processes=procs)
    app = GpuTopApp(monitor, poll=False)
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        shown = "\n".join(screen_lines(app))
        assert "[link=http://a]ns[/link]/[bold red]x[/bold red]" in shown  # card and rule rows
        await pilot.press("p")
        await pilot.pause()
        assert "[link=http://a]ns[/link]/[bold red]x[/bold red]" in "\n".join(screen_lines(app))


async def test_the_serving_panel_shares_the_latency_panels_time_axis() -> None:
    app = GpuTopApp(build_monitor(serving=True), poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(ServingPanel)
        assert panel.display and str(panel.border_title) == "Serving · vLLM · TTFT P95"
        (row,) = panel.rows
        sample = app.monitor.serving()[0]
        assert row.value == format_latency(sample.ttft_p95_s) and row.value != "n/a"
        assert f"running {sample.running:.0f} · waiting {sample.waiting:.0f}" in row.load
        assert row.quantiles.startswith("p50/p95/p99  TTFT ")
        latency = app.screen.query_one(LatencyPanel)
        assert panel.spark_columns() == latency.spark_columns()  # one time axis
        assert len(row.spark) == panel.spark_columns()
        assert sum(v is not None for v in row.spark) > panel.spark_columns() // 3
        text = "\n".join(screen_lines(app))
        assert "TTFT" in text and sample.model in text


async def test_the_serving_panel_says_when_its_numbers_are_stale() -> None:
    monitor = build_monitor(serving=True)
    remote = monitor.remote
    assert isinstance(remote, ServingRemote)
    app = GpuTopApp(monitor, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(ServingPanel)
        assert not panel.border_subtitle
        newest = monitor.clock.now() - 40
        reason = "no new inference-server samples for over 30s"
        remote.serving_stale = SourceState(SourceStatus.STALE, reason, newest=newest)
        app.refresh_screen()
        await pilot.pause()
        subtitle = str(panel.border_subtitle)
        assert subtitle.startswith("stale since ") and subtitle.endswith(reason), subtitle
        assert "stale since" in "\n".join(screen_lines(app))
        doc = snapshot_json(monitor)
        assert doc["serving"]["freshness"]["state"] == "stale"
        assert doc["serving"]["freshness"]["age_s"] == 40.0
        assert f"STALE ({reason})" in snapshot_text(monitor)


def test_a_status_naming_its_pod_is_not_copied_and_an_aggregated_one_gets_its_gpus() -> None:
    monitor = build_monitor(rules=False)
    clock = monitor.clock
    assert isinstance(clock, FakeClock)
    host = monitor.host
    own = firing("3", jobs=(), Hostname=host, pod="mine", namespace="ns")
    aggregated = firing("3", jobs=(), Hostname=host)
    monitor.rules = FixedRules([own, aggregated], clock, "rules.yml")
    first, second = monitor.rule_statuses()
    assert first is own and [j.name for j in own.who] == ["mine"]  # its labels say who
    assert second is not aggregated and [j.name for j in second.who] == ["t2v-worker-3"]
    assert json.loads(json.dumps(second.as_json()))["jobs"][0]["namespace"] == "inference"
