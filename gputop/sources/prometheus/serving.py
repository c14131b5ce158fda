"""Inference servers recognised by their metric names: vLLM, SGLang, TGI and Triton, in one
table, and the PromQL of their panels.

An engine is detected when Prometheus has one of its names (`/api/v1/label/__name__/values`,
asked for these names only). Its panels are one query each for every model and replica at
once, never one per model or GPU: time to first token, time per output token and end-to-end
latency (P50, P95 and P99 together, told apart by a `gputop_stat` label, each quantile
written as the latency panel writes its own), and the load (requests running and waiting,
KV-cache use of the fullest replica, tokens per second). Where an engine exports no such
metric (TGI has no time-to-first-token histogram, Triton no KV cache), that number is n/a.

The built-in serving rules (`gputop.rules.servingrules`) are written from the same table, so
each engine's names are kept in one place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gputop.sources.prometheus.queries import RATE_WINDOW, matchers

__all__ = [
    "ENGINES",
    "PANELS",
    "STAT_LABEL",
    "Detected",
    "Engine",
    "candidate_names",
    "detect",
    "detect_selector",
    "raw_metric",
    "serving_queries",
]

#: The label that tells the quantiles (and the load's numbers) of one panel's query apart.
STAT_LABEL = "gputop_stat"
#: The latency panels, in display order, and the quantiles of each.
PANELS = ("ttft", "tpot", "e2e")
_QUANTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))


@dataclass(frozen=True, slots=True)
class Engine:
    """One inference server's metric names; each a tuple of names to try, newest first
    (vLLM renamed its KV-cache gauge); () where the engine has no such metric."""

    key: str
    title: str
    model_label: str | None  # the label naming the model; None: one model per server
    ttft: tuple[str, ...]  # histograms
    tpot: tuple[str, ...]
    e2e: tuple[str, ...]
    running: tuple[str, ...]  # gauges
    waiting: tuple[str, ...]
    kv_cache: tuple[str, ...]  # a 0-1 gauge
    tokens: tuple[str, ...]  # a counter of generated tokens (or of requests)
    seconds_per_unit: float = 1.0  # Triton's histograms are in milliseconds

    def names(self) -> tuple[str, ...]:
        return (
            *self.ttft, *self.tpot, *self.e2e, *self.running, *self.waiting, *self.kv_cache,
            *self.tokens,
        )  # fmt: skip


ENGINES: tuple[Engine, ...] = (
    Engine(
        "vllm",
        "vLLM",
        "model_name",
        ttft=("vllm:time_to_first_token_seconds",),
        tpot=(
            "vllm:time_per_output_token_seconds",
            "vllm:inter_token_latency_seconds",
            "vllm:request_time_per_output_token_seconds",
        ),
        e2e=("vllm:e2e_request_latency_seconds",),
        running=("vllm:num_requests_running",),
        waiting=("vllm:num_requests_waiting",),
        kv_cache=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        tokens=("vllm:generation_tokens_total",),
    ),
    Engine(
        "sglang",
        "SGLang",
        "model_name",
        ttft=("sglang:time_to_first_token_seconds",),
        tpot=("sglang:time_per_output_token_seconds", "sglang:inter_token_latency_seconds"),
        e2e=("sglang:e2e_request_latency_seconds",),
        running=("sglang:num_running_reqs",),
        waiting=("sglang:num_queue_reqs",),
        kv_cache=("sglang:token_usage",),
        tokens=("sglang:generation_tokens_total",),
    ),
    Engine(
        "tgi",
        "TGI",
        None,
        ttft=(),
        tpot=("tgi_request_mean_time_per_token_duration",),
        e2e=("tgi_request_duration",),
        running=("tgi_batch_current_size",),
        waiting=("tgi_queue_size",),
        kv_cache=(),
        tokens=("tgi_request_generated_tokens_sum",),
    ),
    Engine(
        "triton",
        "Triton",
        "model",
        ttft=("nv_inference_first_response_histogram_ms",),
        tpot=(),
        e2e=(),
        running=(),
        waiting=("nv_inference_pending_request_count",),
        kv_cache=(),
        tokens=("nv_inference_request_success",),
        seconds_per_unit=0.001,
    ),
)


@dataclass(frozen=True, slots=True)
class Detected:
    """An engine Prometheus has, with the one name it has of each metric (None: none)."""

    engine: Engine
    chosen: Mapping[str, str | None]

    @property
    def group(self) -> str:
        """Its range-panel group (and probe label)."""
        return f"serving_{self.engine.key}"

    def name(self, metric: str) -> str | None:
        return self.chosen.get(metric)


_METRICS = ("ttft", "tpot", "e2e", "running", "waiting", "kv_cache", "tokens")
_HISTOGRAMS = frozenset(PANELS)


def candidate_names() -> tuple[str, ...]:
    """Every name of the table as Prometheus stores it (a histogram by its `_count`)."""
    out: list[str] = []
    for engine in ENGINES:
        for metric in _METRICS:
            suffix = "_count" if metric in _HISTOGRAMS else ""
            out.extend(f"{n}{suffix}" for n in getattr(engine, metric))
    return tuple(out)


def detect_selector() -> str:
    """The `match[]` selector that asks the label API for the table's names only."""
    return "{__name__=~" + json.dumps("|".join(candidate_names())) + "}"


def detect(names: Iterable[str]) -> tuple[Detected, ...]:
    """The engines whose names are among `names` (metric names Prometheus has)."""
    have = set(names)
    found: list[Detected] = []
    for engine in ENGINES:
        chosen: dict[str, str | None] = {}
        for metric in _METRICS:
            suffix = "_count" if metric in _HISTOGRAMS else ""
            chosen[metric] = next(
                (n for n in getattr(engine, metric) if f"{n}{suffix}" in have), None
            )
        if any(chosen.values()):
            found.append(Detected(engine, chosen))
    return tuple(found)


def _tagged(expr: str, stat: str) -> str:
    return f'label_replace({expr}, "{STAT_LABEL}", "{stat}", "", "")'


def serving_queries(found: Detected, selector: str = "") -> dict[str, str]:
    """Panel -> one PromQL for all the engine's models: "ttft", "tpot", "e2e" (quantiles in
    seconds) and "load" (running, waiting, kv_cache_pct, tokens_per_s); a panel the engine
    has no metric of is left out."""
    engine = found.engine
    sel = matchers(selector)
    model = engine.model_label
    by = f"le, {model}" if model else "le"
    keep = f" by ({model})" if model else ""
    scale = f" * {engine.seconds_per_unit:g}" if engine.seconds_per_unit != 1.0 else ""
    out: dict[str, str] = {}
    for panel in PANELS:
        name = found.name(panel)
        if name is None:
            continue
        buckets = f"sum by ({by}) (rate({name}_bucket{sel}[{RATE_WINDOW}]))"
        out[panel] = " or ".join(
            _tagged(f"histogram_quantile({q}, {buckets}){scale}", stat) for stat, q in _QUANTILES
        )
    load: list[str] = []
    for metric, stat, form in (
        ("running", "running", "sum{keep} ({name}{sel})"),
        ("waiting", "waiting", "sum{keep} ({name}{sel})"),
        ("kv_cache", "kv_cache_pct", "100 * max{keep} ({name}{sel})"),
        ("tokens", "tokens_per_s", "sum{keep} (rate({name}{sel}[{window}]))"),
    ):
        name = found.name(metric)
        if name is not None:
            expr = form.format(keep=keep, name=name, sel=sel, window=RATE_WINDOW)
            load.append(_tagged(expr, stat))
    if load:
        out["load"] = " or ".join(load)
    return out


def raw_metric(found: Detected) -> str:
    """The raw metric whose newest sample, per scrape target, says how fresh the engine's
    panels are (a gauge or counter it exports, else a histogram's `_count`)."""
    for metric in ("running", "waiting", "tokens"):
        name = found.name(metric)
        if name is not None:
            return name
    name = next(found.name(p) for p in PANELS if found.name(p) is not None)
    return f"{name}_count"
