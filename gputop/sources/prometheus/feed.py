"""Range panels from Prometheus: GPU metrics of the whole fleet and inference latency.

Every refresh first asks one small instant query, the probe (see `queries`): the engine's
own now and, per scrape target, the time of the newest raw sample behind each group of panels.
Freshness comes from that, not from HTTP success (see `freshness`): an engine that answers 200
with nothing new is STALE, one that shows data late is shown as behind, and a node that misses
its own scrapes while the others go on has its GPUs lost. Each target's scrape interval is read
once from its raw samples, then followed from the probe. The first fetch asks for the visible
range (`range_s`) so every sparkline is full at once; later fetches, on a grid of `step`
seconds aligned to the epoch, ask only what is new and a short overlap. There is one range
query per metric for all GPUs, so queries per refresh grow with panels, never with GPUs.
After the first fetch the GPU queries return only the labels that name a GPU; the others
(model, pod, namespace) come from one instant query when a new GPU shows up, and once a minute.
MIG instances are rows of their own (see `gpus`); what is written where, `merge`. Inference
servers (vLLM, SGLang, TGI, Triton) are looked for by their metric names once a minute (see
`servers`); each one found adds its group of panels, one query per panel for all its models,
with the freshness of its own targets (`serving_state`): the source's state and its GPUs'
stay those of the GPU and latency groups.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Callable, Mapping

from gputop.core.backoff import source_backoff
from gputop.core.clock import Clock
from gputop.core.models import (
    GpuSample,
    LatencySample,
    ServingSample,
    SourceState,
    SourceStatus,
)
from gputop.core.store import MetricStore
from gputop.core.units import format_duration
from gputop.sources.base import SourceError
from gputop.sources.prometheus.api import PromSeries
from gputop.sources.prometheus.client import PrometheusClient
from gputop.sources.prometheus.errors import PromError, PromUnreachable
from gputop.sources.prometheus.freshness import Feed, learn_intervals, read_probe
from gputop.sources.prometheus.merge import StoreWriter
from gputop.sources.prometheus.queries import (
    LABELS_EVERY_S,
    MAX_POINTS,
    gpu_queries,
    latency_queries,
    probe_query,
    raw_metrics,
    slim_query,
)
from gputop.sources.prometheus.servers import Servers
from gputop.sources.prometheus.serving import raw_metric, serving_queries

__all__ = ["PrometheusSource"]

#: The groups the source's own freshness is judged by (an inference server's has its own).
_CORE_GROUPS = ("gpu", "latency")


class PrometheusSource:
    """The Prometheus range panels, refreshed by the monitor; `refresh` never raises."""

    name = "prometheus"

    def __init__(
        self,
        client: PrometheusClient,
        store: MetricStore,
        clock: Clock,
        *,
        range_s: float = 900,
        columns: int = 60,
        latency_histogram: str = "t2v_inference_duration_seconds",
        selector: str = "",
        local_keys: Callable[[], set[str]] = lambda: set(),
        refresh_s: float = 1.0,
        stale_after_s: float | None = None,
    ) -> None:
        if not range_s > 0 or not math.isfinite(range_s):
            raise ValueError(f"range_s must be a positive number of seconds, got {range_s}")
        if columns < 1:
            raise ValueError(f"columns must be at least 1, got {columns}")
        if not refresh_s > 0:
            raise ValueError(f"refresh_s must be positive, got {refresh_s}")
        if stale_after_s is not None and not stale_after_s > 0:
            raise ValueError(f"stale_after_s must be positive, got {stale_after_s}")
        self._client = client
        self._store = store
        self._clock = clock
        self._range_s = float(range_s)
        step = max(1, round(range_s / columns))
        self._step = float(max(step, math.ceil(range_s / (MAX_POINTS - 1))))
        # the visible range at the query step, twice over: room for a longer chart range
        self._capacity = 2 * math.ceil(self._range_s / self._step) + 2
        self._groups: dict[str, dict[str, str]] = {
            "gpu": gpu_queries(selector),
            "latency": latency_queries(latency_histogram, selector),
        }
        self._refresh_s, self._stale_after_s = float(refresh_s), stale_after_s
        self._feeds = {group: self._new_feed() for group in self._groups}
        self._histogram, self._selector = latency_histogram, selector
        self._lag_s: float | None = None  # the engine's now behind ours, at the last probe
        self._raws = raw_metrics(latency_histogram)  # group -> the raw metric of its freshness
        self._probe = probe_query(self._raws, selector)
        self._servers = Servers()
        self._probed: set[str] = set()  # the groups a probe has been answered about
        self._slim = {m: slim_query(q) for m, q in self._groups["gpu"].items()}
        self._label_query = self._groups["gpu"]["memory_used_mib"]
        self._labels_at = -math.inf  # when the full labels of every GPU were last fetched
        self._writer = StoreWriter(store, self._capacity, local_keys)
        self._backoff = source_backoff()
        self._retry_at: float | None = None
        self._last_ok: float | None = None
        self._busy = False
        self._state = SourceState(SourceStatus.UNAVAILABLE, "waiting for the first answer")

    # ---- public -------------------------------------------------------------------------

    @property
    def step(self) -> float:
        """Seconds between points: range_s / columns in whole seconds."""
        return self._step

    @property
    def queries(self) -> dict[str, str]:
        """Store metric -> PromQL, every query one refresh may send."""
        return {m: q for group in self._groups.values() for m, q in group.items()}

    @property
    def stale_after_s(self) -> float:
        """How long the newest sample may stand still before the source is STALE: as
        configured, else 3 scrape intervals (learned from the data; the slowest target's),
        or 3 refreshes, never under 15 s."""
        return max(f.stale_after_s for f in self._core_feeds())

    @property
    def interval_s(self) -> float | None:
        """Seconds between the GPUs' samples (the slowest target's); None: not known yet."""
        return self._feeds["gpu"].interval_s

    @property
    def newest(self) -> float | None:
        """The time of the newest raw sample seen behind any panel (None: none yet)."""
        return max((f.newest for f in self._core_feeds() if f.newest is not None), default=None)

    @property
    def state(self) -> SourceState:
        """OK, STALE (answering, but nothing new for `stale_after_s`), ERROR or UNAVAILABLE;
        always with the time of the newest sample."""
        state, newest = self._state, self.newest
        interval = self.interval_s
        if state.status is SourceStatus.OK:
            moved = [f for f in self._core_feeds() if f.moved]
            now = self._clock.now()
            if moved and all(f.stale(now) for f in moved):
                return SourceState(
                    SourceStatus.STALE,
                    f"no new samples for over {format_duration(self.stale_after_s)}",
                    last_ok=state.last_ok,
                    newest=newest,
                    interval_s=interval,
                    lag_s=self._lag_s,
                )
        return dataclasses.replace(state, newest=newest, interval_s=interval, lag_s=self._lag_s)

    def latency_state(self) -> SourceState:
        """The latency panel's own freshness: STALE when the histogram's newest sample stands
        still while the GPUs' go on (the inference service down, its GPUs still reporting)."""
        state, feed = self.state, self._feeds["latency"]
        if state.status is not SourceStatus.OK:
            return state
        if feed.stale(self._clock.now()):
            reason = f"no new latency samples for over {format_duration(feed.stale_after_s)}"
            return dataclasses.replace(
                state, status=SourceStatus.STALE, reason=reason, newest=feed.newest
            )
        return dataclasses.replace(state, newest=feed.newest)

    def serving_state(self) -> SourceState | None:
        """The inference servers' panels' own freshness, judged as the latency panel's is,
        from their own targets' scrape spacing: STALE when none of the servers found has had
        a new sample for its allowance while the source answers (None: none found)."""
        return self._servers.state(self.state, self._feeds, self._probed, self._clock.now())

    def retry_now(self) -> None:
        """After a failure: fetch at the next `refresh`, without waiting for the backoff."""
        self._retry_at = None

    async def refresh(self) -> None:
        """Fetch what is new; on failure keep the data, record why, back off (1 s .. 8 s)."""
        now = self._clock.now()
        if self._busy or (self._retry_at is not None and now < self._retry_at):
            return
        self._busy = True
        try:
            await self._fetch(now)
        except SourceError as exc:
            self._fail(now, exc)
        except Exception as exc:  # a surprise must cost this panel, not the dashboard
            self._fail(now, SourceError(f"internal error: {type(exc).__name__}: {exc}"))
        else:
            self._backoff.reset()
            self._retry_at = None
            self._last_ok = now
            self._state = SourceState(SourceStatus.OK, None, last_ok=self._last_ok)
        finally:
            self._busy = False

    def gpus(self) -> tuple[GpuSample, ...]:
        """The latest reading of every GPU (and MIG instance) seen within the range, in fleet
        order (host, index).

        A GPU is lost when its node (scrape target) misses its scrapes while others go on,
        or when its own series stop while its node's go on (it fell off the bus)."""
        now, feed = self._clock.now(), self._feeds["gpu"]
        return self._writer.gpus.samples(now, self._range_s, self._step, feed, self.name)

    @property
    def jobs_version(self) -> int:
        """Changes whenever a GPU appears or the jobs on one change (for caches of them)."""
        return self._writer.gpus.jobs_version

    def labels(self, key: str) -> Mapping[str, str]:
        """All labels of a GPU's series (pod, namespace, instance, ...); empty if unknown."""
        return self._writer.gpus.labels(key)

    def serving(self) -> tuple[ServingSample, ...]:
        """The newest numbers of each model of each inference server found, by engine and
        model."""
        return self._servers.samples()

    def latency(self) -> LatencySample | None:
        """The newest latency point; None until the histogram has been seen."""
        latency = self._writer.latency
        if not latency:
            return None
        values = {m: v for m, (_, v) in latency.items()}
        return LatencySample(
            time=max(t for t, _ in latency.values()),
            p50_s=values.get("p50_s"),
            p95_s=values.get("p95_s"),
            p99_s=values.get("p99_s"),
            jobs_per_min=values.get("jobs_per_min"),
        )

    # ---- fetching -----------------------------------------------------------------------

    async def _ask_probe(self, now: float) -> tuple[float, dict[str, float]]:
        """The engine's now and, per group, its newest raw sample time; each target's scrape
        interval is read from its raw samples when it is not known yet."""
        asked = tuple(self._raws)
        probe = read_probe(await self._client.query(self._probe), self._feeds)
        self._probed.update(asked)
        engine_now = now if probe.engine_now is None else probe.engine_now
        self._lag_s = max(0.0, now - engine_now)
        newest: dict[str, float] = {}
        feeds = list(self._feeds.items())  # inference servers may be found meanwhile
        for group, feed in feeds:
            targets = probe.newest.get(group, {})
            feed.observe(now, engine_now, targets)
            if targets:
                newest[group] = max(targets.values())
        for group, feed in feeds:
            if group not in self._servers.found:
                await self._learn(group, feed, now)
                continue
            try:
                await self._learn(group, feed, now)
            except PromError:  # costs an inference server's freshness, not the GPUs' panels
                for instance in feed.to_learn(now):
                    feed.learn_later(instance, now)
        return engine_now, newest

    async def _learn(self, group: str, feed: Feed, now: float) -> None:
        raw = self._raws.get  # an inference server's group may be gone meanwhile
        await learn_intervals(self._client, feed, lambda: raw(group), self._selector, now)

    def _new_feed(self) -> Feed:
        return Feed(refresh_s=self._refresh_s, configured=self._stale_after_s)

    def _core_feeds(self) -> list[Feed]:
        return [self._feeds[group] for group in _CORE_GROUPS]

    async def _find_servers(self, now: float) -> None:
        """Look for inference servers by their metric names; each one found gets its group
        of panels (and its probe part). A failure here costs the serving panels only."""
        found = await self._servers.look(self._client, now)
        if found is None:
            return
        for group in self._servers.found.keys() - found.keys():
            del self._groups[group], self._feeds[group], self._raws[group]
        for group, detected in found.items():
            if group not in self._groups:
                self._groups[group] = serving_queries(detected, self._selector)
                self._feeds[group] = self._new_feed()
                self._raws[group] = raw_metric(detected)
        self._servers.found = found
        self._probe = probe_query(self._raws, self._selector)

    async def _fetch(self, now: float) -> None:
        """Probe, then run the due range queries. Raises the first failure after merging."""
        if self._servers.due(now):  # beside the probe, never delaying it
            probe, found = await asyncio.gather(
                self._ask_probe(now), self._find_servers(now), return_exceptions=True
            )
            if isinstance(probe, BaseException):  # raised once both have ended
                raise probe
            if isinstance(found, BaseException):
                raise found
            engine_now, newest = probe
        else:
            engine_now, newest = await self._ask_probe(now)
        calls: list[tuple[str, str, str, tuple[float, float]]] = []
        for group, queries in self._groups.items():
            feed = self._feeds[group]
            window = feed.window(
                engine_now=engine_now, newest=newest.get(group), step=self._step,
                range_s=self._range_s,
            )  # fmt: skip
            if window is None:
                continue
            slim = group == "gpu" and feed.asked is not None  # labels known: identity is enough
            for metric, expr in queries.items():
                calls.append((group, metric, self._slim[metric] if slim else expr, window))
        if not calls:
            return
        relabel = self._feeds["gpu"].asked is not None and (
            self._writer.gpus.new_seen or now - self._labels_at >= LABELS_EVERY_S
        )
        ranges, labels = await asyncio.gather(
            asyncio.gather(
                *(self._client.query_range(e, w[0], w[1], self._step) for _, _, e, w in calls),
                return_exceptions=True,
            ),
            self._relabel(now) if relabel else _nothing(),
            return_exceptions=True,
        )
        if isinstance(ranges, BaseException):
            raise ranges
        failures = [r for r in (labels, *ranges) if isinstance(r, BaseException)]
        if any(isinstance(f, asyncio.CancelledError) for f in failures):
            raise asyncio.CancelledError()
        local = self._writer.local(now)
        done: dict[str, dict[str, tuple[PromSeries, ...]]] = {g: {} for g in self._groups}
        for (group, metric, _, _), result in zip(calls, ranges, strict=True):
            if isinstance(result, BaseException):
                done.pop(group, None)
            elif group in done:
                done[group][metric] = result
        del ranges  # `done` holds the results now, and lets each go once it is merged
        for group, (_, metric, expr, window) in {c[0]: c for c in calls}.items():
            if group not in done:
                continue  # asked again next time, from the same cursor
            if group == "gpu":
                full = expr == self._groups["gpu"][metric]
                received = self._writer.merge_gpus(done[group], local, full=full)
                if full:
                    self._labels_at = now
            elif group in self._servers.found:
                received = self._servers.merge(group, done[group], local, self._writer)
            else:
                received = self._writer.merge_latency(done[group], local)
            self._feeds[group].answered(window[1], received)
        gpu = self._feeds["gpu"]
        if gpu.newest is None and "gpu" not in newest and gpu.cursor is not None:
            # no live sample (a dead target): its raw history ends at the newest point held;
            # not so the latency, whose rate() over 5 minutes outlives the target
            gpu.observe(now, engine_now, {"": gpu.cursor})
        if failures:
            raise failures[0]

    async def _relabel(self, now: float) -> None:
        """Fetch the full labels of every GPU once (an instant query of one metric)."""
        for sample in await self._client.query(self._label_query):
            self._writer.gpus.for_labels(sample.labels, full=True)
        self._labels_at, self._writer.gpus.new_seen = now, False

    def _fail(self, now: float, exc: SourceError) -> None:
        self._retry_at = now + self._backoff.next_delay()
        never_ok = self._last_ok is None and isinstance(exc, PromUnreachable)
        self._state = SourceState(
            SourceStatus.UNAVAILABLE if never_ok else SourceStatus.ERROR,
            exc.reason,
            last_ok=self._last_ok,
            retry_at=self._retry_at,
        )


async def _nothing() -> None:
    return None
