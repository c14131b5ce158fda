"""The simulated dcgm-exporter: demo nodes rendered as Prometheus metrics (served on loopback
ports by `gputop sim-exporter`, see `gputop.commands.sim_exporter`).

A Prometheus scraping them sees the demo workload (hot GPU, memory creep, stuck job, slow
inference) as it would see real GPUs. Names and labels are dcgm-exporter's; alert rules rely
on them, so they must not change.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gputop.sources.demo import LATENCY_BUCKETS, DemoNode

__all__ = [
    "HISTOGRAM",
    "MAX_GPUS",
    "MAX_NODES",
    "make_nodes",
    "openmetrics_history",
    "render_metrics",
]

HISTOGRAM = "t2v_inference_duration_seconds"
_TOTAL_MIB = 81920.0
MAX_NODES, MAX_GPUS = 1024, 64  # what one simulation may hold

Sample = tuple[str, str, float]  # (metric name, rendered labels, value)

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


def make_nodes(
    nodes: int, gpus: int, *, scenario: str = "mixed", seed: int = 7, start: float
) -> list[DemoNode]:
    """The simulated nodes sim-node-00, sim-node-01, ...; each its own seed, same start."""
    return [
        DemoNode(start, seed=seed + i, gpus=gpus, scenario=scenario, host=f"sim-node-{i:02d}")
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


def _families(node: DemoNode) -> list[tuple[str, str, str, list[Sample]]]:
    """(family, help, type, samples) of one node at its current time."""
    host = node.host
    gpus = node.gpu_samples(source="sim-exporter")
    gpu_labels = [
        _labels(
            gpu=str(g.index),
            UUID=g.uuid,
            device=f"nvidia{g.index}",
            modelName=g.name,
            Hostname=host,
            container="worker",
            namespace="t2v",
            pod=f"t2v-serve-{host}-{g.index}",
        )
        for g in gpus
    ]
    out: list[tuple[str, str, str, list[Sample]]] = []
    for name, help_text, read in _GAUGES:
        samples: list[Sample] = []
        for g, labels in zip(gpus, gpu_labels, strict=True):
            value = read(g)
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
