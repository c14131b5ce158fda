"""The simulated dcgm-exporter: demo nodes rendered as Prometheus metrics (served on loopback
ports by `gputop sim-exporter`, see `gputop.commands.sim_exporter`).

A Prometheus scraping them sees the demo workload (hot GPU, memory creep, stuck job, slow
inference) as it would see real GPUs. Names and labels are dcgm-exporter's; alert rules rely
on them, so they must not change.

Options add what dcgm-exporter publishes in other setups:
- `mig=N`: the first N GPUs of each node are in MIG mode, split into a 3g.40gb and two
  1g.10gb GPU instances. As dcgm-exporter does, each instance is its own series (the GPU's
  `gpu` and `UUID`, plus `GPU_I_PROFILE` and `GPU_I_ID`) with its own memory and engine
  activity; device-level fields (temperature, power, clocks) repeat the GPU's value on every
  instance, and utilization, which DCGM has not per instance, is left out.
- `slurm=N`: the last N GPUs of each node run a Slurm job (`hpc_job`, dcgm-exporter's HPC
  mapping) instead of a Kubernetes pod.
- `vllm=True`: each node also serves a vLLM server's metrics (see `simvllm`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gputop.core.models import GpuSample
from gputop.sources.demo import LATENCY_BUCKETS, DemoNode
from gputop.sources.simvllm import VllmSim

__all__ = [
    "HISTOGRAM",
    "MAX_GPUS",
    "MAX_NODES",
    "SimNode",
    "make_nodes",
    "openmetrics_history",
    "render_metrics",
]

HISTOGRAM = "t2v_inference_duration_seconds"
_TOTAL_MIB = 81920.0
MAX_NODES, MAX_GPUS = 1024, 64  # what one simulation may hold

Sample = tuple[str, str, float]  # (metric name, rendered labels, value)

#: Gauges DCGM reads for the whole GPU: every instance's series repeats the GPU's value.
_DEVICE_LEVEL = frozenset(
    {
        "DCGM_FI_DEV_SM_CLOCK",
        "DCGM_FI_DEV_MEM_CLOCK",
        "DCGM_FI_DEV_GPU_TEMP",
        "DCGM_FI_DEV_POWER_USAGE",
    }
)
#: Gauges DCGM has no value of per GPU instance: left out of an instance's series.
_NOT_PER_INSTANCE = frozenset({"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_MEM_COPY_UTIL"})

# (name, help, value of one GPU) in dcgm-exporter's default order and wording
_GAUGES: tuple[tuple[str, str, Callable[[Any], float | None]], ...] = (
    ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", lambda g: g.sm_clock_mhz),
    ("DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz).", lambda g: g.mem_clock_mhz),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", lambda g: g.temperature_c),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", lambda g: g.power_w),
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", lambda g: g.utilization_gpu_pct),
    (
        "DCGM_FI_DEV_MEM_COPY_UTIL",
        "Memory utilization (in %).",
        lambda g: g.utilization_memory_pct,
    ),
    (
        "DCGM_FI_DEV_FB_FREE",
        "Framebuffer memory free (in MiB).",
        lambda g: round(g.memory_free_mib),
    ),
    (
        "DCGM_FI_DEV_FB_USED",
        "Framebuffer memory used (in MiB).",
        lambda g: round(g.memory_used_mib),
    ),
    (
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
        "Ratio of time the graphics engine is active.",
        lambda g: round(g.utilization_gpu_pct / 100.0, 4),
    ),
)


@dataclass
class SimNode(DemoNode):
    """A demo node as the exporter serves it: with GPUs in MIG mode (the first `mig`), GPUs
    running a Slurm job (the last `slurm`), and a vLLM server (`vllm`)."""

    slurm: int = 0
    vllm: bool = False
    number: int = 0  # the node's place in the fleet (its Slurm job ids)
    serving: VllmSim | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.vllm:
            self.serving = VllmSim(self.start, seed=self.seed, scenario=self.scenario)

    def advance_to(self, t: float) -> None:
        super().advance_to(t)
        if self.serving is not None:
            self.serving.advance_to(t)


def make_nodes(
    nodes: int,
    gpus: int,
    *,
    scenario: str = "mixed",
    seed: int = 7,
    start: float,
    mig: int = 0,
    slurm: int = 0,
    vllm: bool = False,
) -> list[SimNode]:
    """The simulated nodes sim-node-00, sim-node-01, ...; each its own seed, same start."""
    return [
        SimNode(
            start,
            seed=seed + i,
            gpus=gpus,
            scenario=scenario,
            host=f"sim-node-{i:02d}",
            mig=mig,
            slurm=slurm,
            vllm=vllm,
            number=i,
        )
        for i in range(nodes)
    ]


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _gpu_labels(node: DemoNode, g: GpuSample) -> str:
    """dcgm-exporter's labels, in its order: identity, MIG instance, host, then the job
    (a pod, or with its HPC mapping a Slurm job)."""
    host, mig = node.host, g.mig
    uuid = g.uuid if mig is None else mig.parent_uuid  # dcgm-exporter: the GPU's UUID
    labels = {"gpu": str(g.index), "UUID": uuid, "device": f"nvidia{g.index}"}
    labels["modelName"] = g.name
    if mig is not None:
        labels["GPU_I_PROFILE"], labels["GPU_I_ID"] = mig.profile or "", str(mig.gi)
    labels["Hostname"] = host
    slurm = node.slurm if isinstance(node, SimNode) else 0
    if g.index >= node.gpus - slurm:
        number = node.number if isinstance(node, SimNode) else 0
        labels["hpc_job"] = str(4242 + 100 * number + g.index)
    else:
        labels["container"] = "worker"
        labels["namespace"] = "t2v"
        suffix = f"-mig{mig.gi}" if mig is not None else ""
        labels["pod"] = f"t2v-serve-{host}-{g.index}{suffix}"
    return _labels(**labels)


def _gauge_rows(node: DemoNode) -> list[tuple[GpuSample, GpuSample, str, bool]]:
    """(reading, its GPU, labels, is a MIG instance) per series of the GPU gauges: a GPU in
    MIG mode has no series of its own, each of its instances one."""
    rows: list[tuple[GpuSample, GpuSample, str, bool]] = []
    whole: GpuSample | None = None
    for g in node.gpu_samples(source="sim-exporter"):
        if g.mig is None:
            whole = g
            if not g.mig_mode:
                rows.append((g, g, _gpu_labels(node, g), False))
            continue
        assert whole is not None, "a GPU instance follows its GPU"
        # DCGM has each instance's engine activity, which NVML does not give
        util = node.busy_pct(g.index) * node.mig_share(g.mig.gi)
        rows.append((replace(g, utilization_gpu_pct=util), whole, _gpu_labels(node, g), True))
    return rows


def _families(node: DemoNode) -> list[tuple[str, str, str, list[Sample]]]:
    """(family, help, type, samples) of one node at its current time."""
    host = node.host
    gpus = node.gpu_samples(source="sim-exporter")
    rows = _gauge_rows(node)
    out: list[tuple[str, str, str, list[Sample]]] = []
    for name, help_text, read in _GAUGES:
        samples: list[Sample] = []
        for own, whole, labels, instance in rows:
            if instance and name in _NOT_PER_INSTANCE:
                continue
            value = read(whole if instance and name in _DEVICE_LEVEL else own)
            if value is not None:
                samples.append((name, labels, float(value)))
        out.append((name, help_text, "gauge", samples))
    hist: list[Sample] = []
    cumulative = 0
    for bound, count in zip((*LATENCY_BUCKETS, math.inf), node.histogram, strict=True):
        cumulative += count
        le = "+Inf" if math.isinf(bound) else repr(bound)
        hist.append((f"{HISTOGRAM}_bucket", _labels(Hostname=host, le=le), float(cumulative)))
    hist.append((f"{HISTOGRAM}_sum", _labels(Hostname=host), node.latency_sum))
    hist.append((f"{HISTOGRAM}_count", _labels(Hostname=host), float(node.latency_count)))
    out.append((HISTOGRAM, "Duration of one text-to-video inference job.", "histogram", hist))
    completed = [
        (
            "t2v_jobs_completed_total",
            _labels(gpu=str(g.index), UUID=g.uuid, Hostname=host),
            float(node.completed(g.index)),
        )
        for g in gpus
    ]
    out.append(("t2v_jobs_completed_total", "Jobs completed per GPU.", "counter", completed))
    # DemoNode has no public accessor for its queue yet.
    depth = float(len(node._queue))
    out.append(
        (
            "t2v_queue_depth",
            "Jobs waiting for a free GPU.",
            "gauge",
            [("t2v_queue_depth", _labels(Hostname=host), depth)],
        )
    )
    serving = node.serving if isinstance(node, SimNode) else None
    if serving is not None:
        for family, help_text, kind, vllm_samples in serving.families():
            rendered = [(n, _labels(**lab), v) for n, lab, v in vllm_samples]
            out.append((family, help_text, kind, rendered))
    return out


def render_metrics(node: DemoNode) -> str:
    """The Prometheus text exposition (format 0.0.4) of one node at its current time."""
    lines: list[str] = []
    for family, help_text, kind, samples in _families(node):
        lines.append(f"# HELP {family} {help_text}")
        lines.append(f"# TYPE {family} {kind}")
        lines.extend(f"{name}{labels} {_fmt(value)}" for name, labels, value in samples)
    return "\n".join(lines) + "\n"


def openmetrics_history(
    nodes: Sequence[DemoNode],
    start: float,
    end: float,
    step: float,
    *,
    target_labels: Sequence[Mapping[str, str]] = (),
) -> str:
    """OpenMetrics text of the nodes' metrics every `step` from start to end (for backfill).

    `target_labels[i]` (e.g. the `instance` and `job` a scrape would add) extend node i's
    labels, so back-filled and scraped samples form the same series. Each series is written
    whole, oldest first, ending with `# EOF`, as `promtool tsdb create-blocks-from
    openmetrics` wants. The nodes are advanced to `end`.
    """
    if step <= 0:
        raise ValueError("step must be positive")
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for i, node in enumerate(nodes):
        extra = target_labels[i] if i < len(target_labels) else {}
        suffix = "".join(f',{k}="{_escape(v)}"' for k, v in extra.items())
        t = float(math.ceil(max(start, node.now)))
        while t <= end:
            node.advance_to(t)
            for _, _, _, samples in _families(node):
                for name, labels, value in samples:
                    key = (name, labels[:-1] + suffix + "}")
                    series.setdefault(key, []).append((t, value))
            t += step
    lines = [
        f"{name}{labels} {_fmt(value)} {_fmt(t)}"
        for (name, labels), points in series.items()
        for t, value in points
    ]
    return "\n".join([*lines, "# EOF"]) + "\n"
