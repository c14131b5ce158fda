"""The simulated dcgm-exporter: its metric contract, history output and command line."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gputop.sources.demo import LATENCY_BUCKETS, DemoNode
from gputop.sources.simexporter import make_nodes, openmetrics_history, render_metrics

REPO = Path(__file__).resolve().parents[1]
GAUGES = (
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_MEM_COPY_UTIL",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_SM_CLOCK",
    "DCGM_FI_DEV_MEM_CLOCK",
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
)
GPU_LABELS = {"gpu", "UUID", "device", "modelName", "Hostname", "namespace", "pod", "container"}
_SAMPLE = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{(.*)\} (\S+)(?: (\S+))?\Z")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')

Sample = tuple[str, dict[str, str], float]


def parse(text: str) -> tuple[dict[str, tuple[str, str]], list[Sample]]:
    """The text format, strictly: (family -> (help, type), samples)."""
    meta: dict[str, dict[str, str]] = defaultdict(dict)
    samples: list[Sample] = []
    for line in text.splitlines():
        if line.startswith("# "):
            _, kind, family, rest = line.split(" ", 3)
            meta[family][kind] = rest
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = dict(_LABEL.findall(m.group(2)))
        assert ",".join(f'{k}="{v}"' for k, v in labels.items()) == m.group(2)
        samples.append((m.group(1), labels, float(m.group(3))))
    return {f: (d["HELP"], d["TYPE"]) for f, d in meta.items()}, samples


@pytest.fixture
def node_text() -> tuple[str, DemoNode]:
    (node,) = make_nodes(1, 8, scenario="hot-gpu", seed=3, start=1_767_225_600.0)
    node.advance_to(1_767_225_600.0 + 900)
    return render_metrics(node), node


def test_every_gpu_gauge_has_the_contract_labels(node_text: tuple[str, DemoNode]) -> None:
    text, _ = node_text
    meta, samples = parse(text)
    for name in GAUGES:
        assert meta[name][1] == "gauge" and meta[name][0]
        rows = [s for s in samples if s[0] == name]
        assert len(rows) == 8
        assert [r[1]["gpu"] for r in rows] == [str(i) for i in range(8)]
        for _, labels, _ in rows:
            assert set(labels) == GPU_LABELS
            assert labels["device"] == f"nvidia{labels['gpu']}"
            assert labels["Hostname"] == "sim-node-00"
            assert labels["namespace"] == "t2v" and labels["container"] == "worker"
            assert labels["pod"] == f"t2v-serve-sim-node-00-{labels['gpu']}"
            assert labels["UUID"].startswith("GPU-")
            assert labels["modelName"] == "NVIDIA A100-SXM4-80GB"


def test_gauge_values_follow_the_node(node_text: tuple[str, DemoNode]) -> None:
    text, node = node_text
    _, samples = parse(text)
    value = {(n, lab["gpu"]): v for n, lab, v in samples if "gpu" in lab and "le" not in lab}
    for g in node.gpu_samples():
        i = str(g.index)
        assert g.memory_used_mib is not None and g.utilization_gpu_pct is not None
        assert value["DCGM_FI_DEV_GPU_TEMP", i] == g.temperature_c
        assert value["DCGM_FI_DEV_GPU_UTIL", i] == g.utilization_gpu_pct
        assert value["DCGM_FI_PROF_GR_ENGINE_ACTIVE", i] == pytest.approx(
            g.utilization_gpu_pct / 100
        )
        assert 0 <= value["DCGM_FI_PROF_GR_ENGINE_ACTIVE", i] <= 1
        assert value["DCGM_FI_DEV_FB_USED", i] == round(g.memory_used_mib)
        assert value["DCGM_FI_DEV_FB_USED", i] + value["DCGM_FI_DEV_FB_FREE", i] == 81920
        assert value["DCGM_FI_DEV_POWER_USAGE", i] == g.power_w
    temps = [value["DCGM_FI_DEV_GPU_TEMP", str(i)] for i in range(8)]
    hot = temps.pop(3)  # the hot-gpu scenario heats GPU 3
    assert hot >= max(temps) + 10


def test_node_histogram_counter_and_queue(node_text: tuple[str, DemoNode]) -> None:
    text, node = node_text
    meta, samples = parse(text)
    assert meta["t2v_inference_duration_seconds"][1] == "histogram"
    assert meta["t2v_jobs_completed_total"][1] == "counter"
    assert meta["t2v_queue_depth"][1] == "gauge"
    buckets = [(lab["le"], v) for n, lab, v in samples if n.endswith("_bucket")]
    assert [le for le, _ in buckets] == [repr(b) for b in LATENCY_BUCKETS] + ["+Inf"]
    counts = [v for _, v in buckets]
    assert counts == sorted(counts) and counts[-1] > 0  # cumulative
    count = {n: v for n, lab, v in samples if n.endswith(("_count", "_sum"))}
    assert count["t2v_inference_duration_seconds_count"] == counts[-1] == node.latency_count
    assert count["t2v_inference_duration_seconds_sum"] == pytest.approx(node.latency_sum)
    for name, labels, _ in samples:
        if name.startswith("t2v_inference"):
            assert set(labels) - {"le"} == {"Hostname"}
    jobs = [(lab, v) for n, lab, v in samples if n == "t2v_jobs_completed_total"]
    assert [set(lab) for lab, _ in jobs] == [{"gpu", "UUID", "Hostname"}] * 8
    assert sum(v for _, v in jobs) == node.latency_count
    (queue,) = [v for n, _, v in samples if n == "t2v_queue_depth"]
    assert queue >= 0


@pytest.mark.skipif(not os.access("/usr/bin/promtool", os.X_OK), reason="promtool not installed")
def test_promtool_parses_the_exposition(node_text: tuple[str, DemoNode]) -> None:
    text, _ = node_text
    done = subprocess.run(
        ["/usr/bin/promtool", "check", "metrics"], input=text, capture_output=True, text=True
    )
    problems = {line.split(" ", 1)[1] for line in (done.stdout + done.stderr).splitlines()}
    # dcgm-exporter's own label names are camelCase; that lint is the only complaint allowed
    assert problems <= {"label names should be written in 'snake_case' not 'camelCase'"}


def test_mig_instances_slurm_jobs_and_vllm_as_dcgm_exporter_and_vllm_publish_them() -> None:
    start = 1_767_225_600.0
    (node,) = make_nodes(1, 4, scenario="hot-gpu", seed=3, start=start, mig=1, slurm=1, vllm=True)
    node.advance_to(start + 900)
    meta, samples = parse(render_metrics(node))
    used = [(lab, v) for n, lab, v in samples if n == "DCGM_FI_DEV_FB_USED"]
    mig = [(lab, v) for lab, v in used if lab["gpu"] == "0"]
    # GPU 0: no series of its own, one per GPU instance, each with its own memory
    assert [(lab["GPU_I_ID"], lab["GPU_I_PROFILE"]) for lab, _ in mig] == [
        ("1", "3g.40gb"), ("7", "1g.10gb"), ("8", "1g.10gb"),
    ]  # fmt: skip
    whole = node.gpu_samples()[0]
    assert {lab["UUID"] for lab, _ in mig} == {whole.uuid}  # the GPU's UUID, as DCGM's
    assert len({v for _, v in mig}) == 3
    free = {
        lab["GPU_I_ID"]: v
        for n, lab, v in samples
        if n == "DCGM_FI_DEV_FB_FREE" and lab["gpu"] == "0"
    }
    assert [v + free[lab["GPU_I_ID"]] for lab, v in mig] == [40192, 9856, 9856]
    assert [lab["pod"] for lab, _ in mig] == [f"t2v-serve-sim-node-00-0-mig{g}" for g in (1, 7, 8)]
    # device-level fields repeat the GPU's value on each instance; utilization is not there
    temps = [v for n, lab, v in samples if n == "DCGM_FI_DEV_GPU_TEMP" and lab["gpu"] == "0"]
    assert temps == [whole.temperature_c] * 3
    util = [lab for n, lab, _ in samples if n == "DCGM_FI_DEV_GPU_UTIL"]
    assert [lab["gpu"] for lab in util] == ["1", "2", "3"]
    # GPU 3 runs a Slurm job: dcgm-exporter's HPC mapping, instead of a pod
    (slurm,) = [lab for lab, _ in used if lab["gpu"] == "3"]
    assert slurm["hpc_job"] == "4245" and "pod" not in slurm
    # vLLM's own names, types and model label
    assert meta["vllm:time_to_first_token_seconds"][1] == "histogram"
    assert meta["vllm:num_requests_waiting"][1] == "gauge"
    vllm = [lab for n, lab, _ in samples if n.startswith("vllm:")]
    assert vllm and all(lab["model_name"] == "meta-llama/Llama-3.1-8B-Instruct" for lab in vllm)


def test_nodes_have_their_own_names_and_uuids() -> None:
    nodes = make_nodes(3, 4, start=0.0)
    assert [n.host for n in nodes] == ["sim-node-00", "sim-node-01", "sim-node-02"]
    uuids = {g.uuid for n in nodes for g in n.gpu_samples()}
    assert len(uuids) == 12


def test_history_is_openmetrics_grouped_by_series() -> None:
    nodes = make_nodes(2, 2, start=1000.0)
    labels = [
        {"instance": "127.0.0.1:1", "job": "dcgm"},
        {"instance": "127.0.0.1:2", "job": "dcgm"},
    ]
    text = openmetrics_history(nodes, 1010.0, 1019.0, 1.0, target_labels=labels)
    lines = text.splitlines()
    assert lines[-1] == "# EOF" and not any(line.startswith("#") for line in lines[:-1])
    series: dict[str, list[float]] = defaultdict(list)
    last_key = None
    for line in lines[:-1]:
        key, _, ts = line.rsplit(" ", 2)
        if key != last_key:
            assert key not in series, "a series must be written in one piece"
            last_key = key
        series[key].append(float(ts))
    assert all(ts == [1010.0 + i for i in range(10)] for ts in series.values())
    assert any('Hostname="sim-node-01"' in k and 'instance="127.0.0.1:2"' in k for k in series)
    assert all(k.endswith('job="dcgm"}') for k in series)
    assert [n.now for n in nodes] == [1019.0, 1019.0]


# ---- the command --------------------------------------------------------------------------


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gputop.commands.sim_exporter", *args]


def _consecutive_free_ports(n: int) -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + n > 65535:
            continue
        try:
            holders = []
            for p in range(base, base + n):
                s = socket.socket()
                holders.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in holders:
                s.close()
    raise RuntimeError("no consecutive free ports")


@pytest.fixture
def exporter() -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = _consecutive_free_ports(2)
    proc = subprocess.Popen(
        _command("--nodes", "2", "--gpus", "2", "--port", str(port), "--warmup", "60"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_serves_each_node_on_consecutive_ports(
    exporter: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = exporter
    assert proc.stdout is not None
    lines = [proc.stdout.readline().strip() for _ in range(2)]
    assert lines == [
        f"serving sim-node-00 on http://127.0.0.1:{port}/metrics",
        f"serving sim-node-01 on http://127.0.0.1:{port + 1}/metrics",
    ]
    for i in range(2):
        first = httpx.get(f"http://127.0.0.1:{port + i}/metrics", timeout=5)
        assert first.status_code == 200
        assert first.headers["content-type"].startswith("text/plain; version=0.0.4")
        _, samples = parse(first.text)
        assert {lab["Hostname"] for _, lab, _ in samples} == {f"sim-node-{i:02d}"}
        assert len([s for s in samples if s[0] == "DCGM_FI_DEV_GPU_TEMP"]) == 2
    assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=5).status_code == 404

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    assert proc.stderr is not None and proc.stderr.read() == ""


def test_scrapes_follow_real_time() -> None:
    start = time.time() - 3600
    proc = subprocess.Popen(
        _command("--port", "0", "--gpus", "1", "--start", repr(start)),
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]

        def scrape() -> tuple[float, list[Sample], float]:
            asked = time.time()
            _, samples = parse(httpx.get(url, timeout=5).text)
            return asked, samples, time.time()

        first = scrape()
        time.sleep(1.2)
        second = scrape()
        (node,) = make_nodes(1, 1, start=start)

        def simulated(asked: float, answered: float) -> list[list[Sample]]:
            """The same simulation at each of its 1 s steps from `asked` to `answered`."""
            node.advance_to(asked)
            steps = [parse(render_metrics(node))[1]]
            while node.now + 1.0 <= answered:
                node.advance_to(node.now + 1.0)
                steps.append(parse(render_metrics(node))[1])
            return steps

        # each scrape is the simulation at the real time it was asked (an hour after --start),
        # neither where it started nor where the exporter started serving
        assert first[1] in simulated(first[0], first[2])
        assert second[1] in simulated(second[0], second[2])
        assert second[1] != first[1]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(5) == 0
        if proc.stdout:
            proc.stdout.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nodes", "0"], "--nodes must be between 1 and 1024, got 0"),
        (["--gpus", "x"], "argument --gpus: invalid int value: 'x'"),
        (["--scenario", "melting"], "--scenario must be one of"),
        (["--port", "65535", "--nodes", "2"], "--port 65535 leaves no room for 2 node(s)"),
        (["--warmup", "-1"], "--warmup must be zero or more seconds"),
        (["--gpus", "2", "--mig", "3"], "--mig must be between 0 and --gpus (2), got 3"),
        (["--gpus", "2", "--mig", "1", "--slurm", "2"], "--slurm must be between 0 and 1"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = subprocess.run(_command(*args), cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("gputop sim-exporter: ") and message in done.stderr


def test_a_taken_port_is_one_line_and_exit_1() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = subprocess.run(
            _command("--port", str(port)), cwd=REPO, capture_output=True, text=True, timeout=30
        )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"gputop sim-exporter: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
