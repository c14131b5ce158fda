"""Deterministic dashboards for UI tests and screenshots: a fixed clock, a seeded demo node.

`build_app()` gives a `GpuTopApp` that does not poll: time moves only when a test says so
(`advance()`), so every frame is reproducible.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from rich.console import Console

from gputop.core.clock import FakeClock
from gputop.core.models import GpuSample, NodeSnapshot, ServingSample, SourceState, SourceStatus
from gputop.core.store import serving_key
from gputop.monitor import Monitor
from gputop.rules.builtin import builtin_rules
from gputop.rules.engine import RulesEngine
from gputop.sources.demosource import DemoSource
from gputop.sources.simvllm import VllmSim
from gputop.ui.app import GpuTopApp

__all__ = [
    "SEED",
    "START",
    "FaultySource",
    "ServingRemote",
    "advance",
    "build_app",
    "build_monitor",
    "fixed_utc",
    "screen_lines",
]

#: 2026-01-01T12:00:00Z: a fixed, recognisable time for every frame.
START = 1_767_268_800.0
SEED = 7
WARMUP_S = 3600.0


class FaultySource:
    """The demo node with chosen GPUs lost or with chosen fields not available."""

    def __init__(
        self,
        inner: DemoSource,
        *,
        lost: Iterable[int] = (),
        missing: Mapping[int, Iterable[str]] | None = None,
        reason: str = "GPU has fallen off the bus",
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.host = inner.node.host
        self.lost = set(lost)
        self.missing = {i: tuple(fields) for i, fields in (missing or {}).items()}
        self.reason = reason

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def sample(self) -> NodeSnapshot:
        return self._damage(self.inner.sample())

    def history(self, seconds: float, interval: float) -> list[NodeSnapshot]:
        return [self._damage(s) for s in self.inner.history(seconds, interval)]

    def _damage(self, snap: NodeSnapshot) -> NodeSnapshot:
        return replace(snap, gpus=tuple(self._gpu(g) for g in snap.gpus))

    def _gpu(self, gpu: GpuSample) -> GpuSample:
        if gpu.index in self.lost:
            return GpuSample(
                index=gpu.index,
                uuid=gpu.uuid,
                name=gpu.name,
                host=gpu.host,
                source=gpu.source,
                time=gpu.time,
                state="lost",
                reason=self.reason,
            )
        fields = self.missing.get(gpu.index)
        if not fields:
            return gpu
        blanks: dict[str, Any] = dict.fromkeys(fields)
        return replace(gpu, **blanks)


def build_monitor(
    *,
    seed: int = SEED,
    start: float = START,
    warmup_s: float = WARMUP_S,
    lost: Iterable[int] = (),
    missing: Mapping[int, Iterable[str]] | None = None,
    scenario: str = "mixed",
    rules: bool = True,
    mig: int = 0,
    serving: bool = False,
) -> Monitor:
    """A monitor on the demo node with `warmup_s` of history and one fresh reading.

    With `rules`, the built-in rule pack is evaluated locally, as `gputop --demo` does; with
    `mig`, the node's first GPUs are in MIG mode; with `serving`, a stand-in Prometheus shows
    a simulated vLLM server (`ServingRemote`).
    """
    clock = FakeClock(start)
    demo = DemoSource(clock, seed=seed, scenario=scenario, warmup_s=warmup_s, mig=mig)
    local = FaultySource(demo, lost=lost, missing=missing) if (lost or missing) else demo
    monitor = Monitor(clock=clock, local=local, host=demo.node.host)
    if rules:
        monitor.rules = RulesEngine(builtin_rules(), clock=clock)
    monitor.open()
    monitor.warm_start(warmup_s, 1.0)
    monitor.poll()
    if serving:
        monitor.remote = ServingRemote(monitor)
    return monitor


def build_app(**kwargs: object) -> GpuTopApp:
    """A dashboard on `build_monitor(**kwargs)` that never polls by itself."""
    return GpuTopApp(build_monitor(**kwargs), poll=False)  # type: ignore[arg-type]


def advance(app: GpuTopApp, seconds: float = 1.0) -> None:
    """Move the fake clock, read the source once and repaint the shown screen."""
    app.monitor.clock.advance(seconds)  # type: ignore[attr-defined]
    app.monitor.poll()
    app.refresh_screen()


@contextmanager
def fixed_utc() -> Iterator[None]:
    """Run with TZ=UTC so the header clock reads the same everywhere."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def screen_lines(app: GpuTopApp) -> list[str]:
    """The text on the screen now, one string per terminal row (what a person reads)."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    console.print(update)
    return console.export_text(styles=False).splitlines()


class ServingRemote:
    """A stand-in for Prometheus that shows one simulated vLLM server (`simvllm`): its panels'
    history at a 5 s step, with quantiles worked out as `histogram_quantile` does, so the
    serving panel reads the same in every frame."""

    name = "prometheus"

    def __init__(self, monitor: Monitor, *, history_s: float = 2100.0, step_s: float = 5.0):
        self._monitor = monitor
        self.serving_stale: SourceState | None = None
        now = monitor.clock.now()
        sim = VllmSim(now - history_s - 300.0, seed=SEED)
        past: list[tuple[float, list[list[int]], float, float, float]] = []
        key = serving_key("vLLM", sim.model)
        latest: dict[str, float | None] = {}
        t = now - history_s - 300.0
        while t <= now:
            sim.advance_to(t)
            counts = [list(h.counts) for h in (sim.ttft, sim.tpot, sim.e2e)]
            past.append((t, counts, float(sim.generation_tokens), sim.kv_usage, 0.0))
            window = [p for p in past if p[0] >= t - 300.0]
            if t >= now - history_s and len(window) > 1:
                latest = self._numbers(sim, window, len(sim._running), len(sim._queue))
                for metric, value in latest.items():
                    monitor.store.merge(key, metric, [(t, value)])
            t += step_s
        self._sample = ServingSample("vLLM", sim.model, now, **latest)

    @staticmethod
    def _numbers(
        sim: VllmSim, window: list[tuple[float, list[list[int]], float, float, float]],
        running: int, waiting: int,
    ) -> dict[str, float | None]:  # fmt: skip
        first, last = window[0], window[-1]
        out: dict[str, float | None] = {}
        for i, (panel, hist) in enumerate(
            (("ttft", sim.ttft), ("tpot", sim.tpot), ("e2e", sim.e2e))
        ):
            delta = [b - a for a, b in zip(first[1][i], last[1][i], strict=True)]
            for stat, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
                out[f"{panel}_{stat}_s"] = _quantile(q, hist.bounds, delta)
        out["running"], out["waiting"] = float(running), float(waiting)
        out["kv_cache_pct"] = 100.0 * last[3]
        out["tokens_per_s"] = (last[2] - first[2]) / max(1.0, last[0] - first[0])
        return out

    @property
    def state(self) -> SourceState:
        return SourceState(SourceStatus.OK, last_ok=self._monitor.clock.now())

    def serving_state(self) -> SourceState:
        """The server's own freshness: `serving_stale` when a test sets it, else fresh."""
        return self.serving_stale or self.state

    async def refresh(self) -> None:
        return None

    def retry_now(self) -> None:
        return None

    def gpus(self) -> tuple[GpuSample, ...]:
        return ()

    def latency(self) -> None:
        return None

    def labels(self, key: str) -> dict[str, str]:
        return {}

    def serving(self) -> tuple[ServingSample, ...]:
        return (self._sample,)


def _quantile(q: float, bounds: tuple[float, ...], counts: list[int]) -> float | None:
    """`histogram_quantile` of one window's bucket counts (the last bucket is +Inf)."""
    total = sum(counts)
    if total <= 0:
        return None
    rank, seen = q * total, 0
    for i, count in enumerate(counts):
        if seen + count >= rank and count:
            if i == len(bounds):
                return bounds[-1]
            lower = bounds[i - 1] if i else 0.0
            return lower + (bounds[i] - lower) * (rank - seen) / count
        seen += count
    return bounds[-1]
