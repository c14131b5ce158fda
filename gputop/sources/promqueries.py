"""The PromQL of the range panels: dcgm-exporter metrics and the latency histogram, and the
freshness probe asked before them.

The latency quantiles are written exactly as the alert rules write them, so the panel and
the rule `T2VInferenceSlow` show the same number. The probe asks the engine for its own
"now" (`time()`: VictoriaMetrics answers now - 30 s by default) and the timestamp of the
newest raw sample behind each panel group, in one instant query; the rate() of a dead
target's histogram goes on for minutes, its raw samples do not.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "GPU_QUERIES",
    "IDENTITY_LABELS",
    "LABELS_EVERY_S",
    "LATENCY_METRICS",
    "MAX_POINTS",
    "PROBE_LABEL",
    "RATE_WINDOW",
    "gpu_queries",
    "latency_queries",
    "matchers",
    "probe_query",
    "slim_query",
]

#: Store metric -> dcgm-exporter metric, one range query each (memory_used_pct is derived).
GPU_QUERIES: tuple[tuple[str, str], ...] = (
    ("memory_used_mib", "DCGM_FI_DEV_FB_USED"),
    ("memory_free_mib", "DCGM_FI_DEV_FB_FREE"),
    ("temperature_c", "DCGM_FI_DEV_GPU_TEMP"),
    ("utilization_gpu_pct", "DCGM_FI_DEV_GPU_UTIL"),
    ("utilization_memory_pct", "DCGM_FI_DEV_MEM_COPY_UTIL"),
    ("power_w", "DCGM_FI_DEV_POWER_USAGE"),
    ("sm_clock_mhz", "DCGM_FI_DEV_SM_CLOCK"),
    ("mem_clock_mhz", "DCGM_FI_DEV_MEM_CLOCK"),
)
LATENCY_METRICS: tuple[str, ...] = ("p50_s", "p95_s", "p99_s", "jobs_per_min")
#: The rate window of every latency quantile (the P95 panel's and the serving panels').
RATE_WINDOW = "5m"
#: Prometheus refuses range queries of more points per series than this.
MAX_POINTS = 11_000
#: How often the full labels (pod, namespace, model) of every GPU are fetched again.
LABELS_EVERY_S = 60.0
# After the first fetch only these labels come back: they name the GPU, the rest is known.
IDENTITY_LABELS = "UUID, gpu, GPU_I_ID, Hostname, hostname, instance"
#: The label naming each element of the probe's answer: "now", a group, or "<group>_interval".
PROBE_LABEL = "gputop_probe"
#: The windows over which the probe counts samples to learn the scrape interval: the short
#: one serves data younger than the long one, the long one slow scrapes.
_INTERVAL_WINDOWS_S = (30, 120)
#: A window must hold at least this many samples for its count to say anything.
_INTERVAL_MIN_SAMPLES = 3


def matchers(selector: str) -> str:
    """A selector's matchers as `{...}` to append to a metric name ("" for none)."""
    inner = selector.strip()
    if inner.startswith("{") and inner.endswith("}"):
        inner = inner[1:-1].strip()
    return "{" + inner + "}" if inner else ""


def gpu_queries(selector: str = "") -> dict[str, str]:
    """Store metric -> PromQL of the GPU panels."""
    sel = matchers(selector)
    return {metric: f"{name}{sel}" for metric, name in GPU_QUERIES}


def latency_queries(histogram: str, selector: str = "") -> dict[str, str]:
    """Store metric -> PromQL of the latency panel (quantiles as the alert rules write them)."""
    sel = matchers(selector)
    buckets = f"sum(rate({histogram}_bucket{sel}[{RATE_WINDOW}])) by (le)"
    return {
        "p50_s": f"histogram_quantile(0.5, {buckets})",
        "p95_s": f"histogram_quantile(0.95, {buckets})",
        "p99_s": f"histogram_quantile(0.99, {buckets})",
        "jobs_per_min": f"sum(rate({histogram}_count{sel}[{RATE_WINDOW}])) * 60",
    }


def probe_query(
    histogram: str,
    selector: str = "",
    *,
    intervals: bool = False,
    extra: Mapping[str, str] | None = None,
) -> str:
    """One instant query: the engine's now, the newest raw sample time of each group ("gpu",
    "latency", and the `extra` groups: name -> raw selector), and with `intervals` estimates
    of the seconds between samples of each ("<group>_interval_<window>": the window over how
    many samples it holds, for windows holding at least three; the smallest estimate is the
    best)."""
    sel = matchers(selector)
    raw = {"gpu": f"DCGM_FI_DEV_FB_USED{sel}", "latency": f"{histogram}_count{sel}"}
    raw.update(extra or {})
    parts = [_tagged("vector(time())", "now")]
    parts += [_tagged(f"max(timestamp({expr}))", group) for group, expr in raw.items()]
    if intervals:
        for group, expr in raw.items():
            for w in _INTERVAL_WINDOWS_S:
                count = f"(max(count_over_time({expr}[{w}s])) >= {_INTERVAL_MIN_SAMPLES})"
                parts.append(_tagged(f"{w} / {count}", f"{group}_interval_{w}"))
    return " or ".join(parts)


def _tagged(expr: str, name: str) -> str:
    return f'label_replace({expr}, "{PROBE_LABEL}", "{name}", "", "")'


def slim_query(expr: str) -> str:
    """`expr` returning only the labels that name a GPU (for refreshes after the first)."""
    return f"max by ({IDENTITY_LABELS}) ({expr})"
