"""The PromQL of the range panels: dcgm-exporter metrics and the latency histogram, and the
freshness probe asked before them.

The latency quantiles are written exactly as the alert rules write them, so the panel and
the rule `T2VInferenceSlow` show the same number. The probe asks the engine for its own
"now" (`time()`: VictoriaMetrics answers now - 30 s by default) and, per scrape target
(`instance`), the timestamp of the newest raw sample behind each panel group, in one instant
query; the rate() of a dead target's histogram goes on for minutes, its raw samples do not.
A target's scrape interval is read from its raw samples (`raw_query`), once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping

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
    "raw_metrics",
    "raw_query",
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
#: The label naming each element of the probe's answer: "now", or a group.
PROBE_LABEL = "gputop_probe"


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


def raw_metrics(histogram: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Group -> the raw metric behind its freshness: "gpu", "latency", and the `extra` groups
    (an inference server's: group -> metric name)."""
    return {"gpu": "DCGM_FI_DEV_FB_USED", "latency": f"{histogram}_count", **(extra or {})}


def _raw(metric: str, selector: str, extra: str = "") -> str:
    inner = ", ".join(x for x in (matchers(selector)[1:-1], extra) if x)
    return metric + ("{" + inner + "}" if inner else "")


def probe_query(raws: Mapping[str, str], selector: str = "") -> str:
    """One instant query: the engine's now, and the newest raw sample time of each group
    (`raws`: group -> raw metric, see `raw_metrics`) per scrape target (by `instance`)."""
    parts = [_tagged("vector(time())", "now")]
    for group, metric in raws.items():
        expr = _raw(metric, selector)
        parts.append(_tagged(f"max by (instance) (timestamp({expr}))", group))
    return " or ".join(parts)


def raw_query(metric: str, selector: str, window_s: float, instances: Iterable[str]) -> str:
    """The raw samples of a group's raw metric over the last `window_s`, of these targets only
    (an instant query of a range selector: the engine answers the samples as scraped)."""
    alternatives = "|".join(sorted(_regex_literal(i) for i in set(instances)))
    expr = _raw(metric, selector, f"instance=~{json.dumps(alternatives)}")
    return f"{expr}[{math.ceil(window_s)}s]"


def _regex_literal(text: str) -> str:
    """`text` matched literally by an RE2 regular expression."""
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


_REGEX_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def _tagged(expr: str, name: str) -> str:
    return f'label_replace({expr}, "{PROBE_LABEL}", "{name}", "", "")'


def slim_query(expr: str) -> str:
    """`expr` returning only the labels that name a GPU (for refreshes after the first)."""
    return f"max by ({IDENTITY_LABELS}) ({expr})"
