"""A simulated vLLM server, for the simulated exporter (`gputop sim-exporter --vllm`).

Requests arrive at random (seeded) and queue for one of a fixed number of running slots;
each running request holds KV cache for its prompt and the tokens generated so far, and emits
tokens at a pace that slows as more requests share the GPU. The metrics are vLLM's own names,
types, buckets and `model_name` label: time to first token (observed when a request starts),
time per output token (once per generated token), end-to-end latency (when it finishes),
requests running and waiting, KV-cache usage (a 0-1 ratio, as vLLM reports it), and the
token and request counters. Driven in fixed 1 s steps, so it is deterministic from its seed.
In the `slow` scenario the server has fewer slots than its load needs: the queue grows.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field

__all__ = ["E2E_BUCKETS", "MODEL", "TPOT_BUCKETS", "TTFT_BUCKETS", "Histogram", "VllmSim"]

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
#: vLLM's own bucket bounds (seconds).
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
E2E_BUCKETS = (1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0)

_ARRIVALS_PER_S = 2.5
_SLOTS, _SLOW_SLOTS = 32, 10
_KV_TOKENS = 32 * 900  # the cache holds this many tokens of prompts and outputs
_STEP = 1.0

Sample = tuple[str, dict[str, str], float]


@dataclass(slots=True)
class Histogram:
    """A Prometheus histogram: a count per bucket (the last is +Inf), the sum and count."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float, times: int = 1) -> None:
        i = next((k for k, b in enumerate(self.bounds) if value <= b), len(self.bounds))
        self.counts[i] += times
        self.total += value * times

    def samples(self, name: str, labels: dict[str, str]) -> list[Sample]:
        out: list[Sample] = []
        cumulative = 0
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            cumulative += count
            le = "+Inf" if math.isinf(bound) else repr(bound)
            out.append((f"{name}_bucket", {**labels, "le": le}, float(cumulative)))
        out.append((f"{name}_sum", dict(labels), self.total))
        out.append((f"{name}_count", dict(labels), float(cumulative)))
        return out


@dataclass(slots=True)
class _Request:
    arrived: float
    prompt: int
    output: int
    done: float = 0.0  # tokens generated so far


@dataclass
class VllmSim:
    start: float
    seed: int = 7
    scenario: str = "mixed"
    model: str = MODEL
    now: float = field(init=False)
    _rng: random.Random = field(init=False, repr=False)
    _queue: deque[_Request] = field(init=False, repr=False)
    _running: list[_Request] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.now = self.start
        self._rng = random.Random(f"vllm:{self.seed}")
        self._queue = deque()
        self._running = []
        self._next_arrival = self.start + self._rng.expovariate(_ARRIVALS_PER_S)
        self.ttft = Histogram(TTFT_BUCKETS)
        self.tpot = Histogram(TPOT_BUCKETS)
        self.e2e = Histogram(E2E_BUCKETS)
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.finished = 0

    @property
    def slots(self) -> int:
        return _SLOW_SLOTS if self.scenario == "slow" else _SLOTS

    @property
    def kv_usage(self) -> float:
        """KV-cache use, 0-1."""
        held = sum(r.prompt + r.done for r in self._running)
        return min(1.0, held / _KV_TOKENS)

    def advance_to(self, t: float) -> None:
        """Run in 1 s steps up to time t (never backwards)."""
        while self.now + _STEP <= t:
            self.now += _STEP
            self._step()

    def _step(self) -> None:
        rng = self._rng
        while self._next_arrival <= self.now:
            prompt = rng.randint(200, 900)
            self._queue.append(_Request(self._next_arrival, prompt, rng.randint(40, 400)))
            self._next_arrival += rng.expovariate(_ARRIVALS_PER_S)
        while self._queue and len(self._running) < self.slots:
            request = self._queue.popleft()
            prefill = 0.03 + request.prompt * 0.00012 + rng.uniform(0.0, 0.04)
            self.ttft.observe(self.now - request.arrived + prefill)
            self.prompt_tokens += request.prompt
            self._running.append(request)
        tpot = 0.012 + 0.0011 * len(self._running) + rng.uniform(0.0, 0.004)
        per_step = _STEP / tpot
        still: list[_Request] = []
        for request in self._running:
            step = min(per_step, request.output - request.done)
            request.done += step
            whole = int(request.done) - int(request.done - step)
            self.generation_tokens += whole
            if whole:
                self.tpot.observe(tpot, whole)
            if request.done >= request.output:
                self.e2e.observe(self.now - request.arrived)
                self.finished += 1
            else:
                still.append(request)
        self._running = still

    def families(self) -> list[tuple[str, str, str, list[Sample]]]:
        """(family, help, type, samples) in vLLM's names, at the current time."""
        labels = {"model_name": self.model}
        return [
            (
                "vllm:num_requests_running",
                "Number of requests in model execution batches.",
                "gauge",
                [("vllm:num_requests_running", dict(labels), float(len(self._running)))],
            ),
            (
                "vllm:num_requests_waiting",
                "Number of requests waiting to be processed.",
                "gauge",
                [("vllm:num_requests_waiting", dict(labels), float(len(self._queue)))],
            ),
            (
                "vllm:kv_cache_usage_perc",
                "KV-cache usage. 1 means 100 percent usage.",
                "gauge",
                [("vllm:kv_cache_usage_perc", dict(labels), round(self.kv_usage, 4))],
            ),
            (
                "vllm:prompt_tokens_total",
                "Number of prefill tokens processed.",
                "counter",
                [("vllm:prompt_tokens_total", dict(labels), float(self.prompt_tokens))],
            ),
            (
                "vllm:generation_tokens_total",
                "Number of generation tokens processed.",
                "counter",
                [("vllm:generation_tokens_total", dict(labels), float(self.generation_tokens))],
            ),
            (
                "vllm:request_success_total",
                "Count of successfully processed requests.",
                "counter",
                [
                    (
                        "vllm:request_success_total",
                        {**labels, "finished_reason": "stop"},
                        float(self.finished),
                    )
                ],
            ),
            (
                "vllm:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
                "histogram",
                self.ttft.samples("vllm:time_to_first_token_seconds", labels),
            ),
            (
                "vllm:time_per_output_token_seconds",
                "Histogram of time per output token in seconds.",
                "histogram",
                self.tpot.samples("vllm:time_per_output_token_seconds", labels),
            ),
            (
                "vllm:e2e_request_latency_seconds",
                "Histogram of end to end request latency in seconds.",
                "histogram",
                self.e2e.samples("vllm:e2e_request_latency_seconds", labels),
            ),
        ]
