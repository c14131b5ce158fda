"""Range panels from Prometheus: GPU metrics of the whole fleet and inference latency.

Every refresh first asks one small instant query, the probe (see `promqueries`): the engine's
own now and, per scrape target, the time of the newest raw sample behind each group of panels.
Freshness comes from that, not from HTTP success (see `promfresh`): an engine that answers 200
with nothing new is STALE, one that shows data late is shown as behind, and a node that misses
its own scrapes while the others go on has its GPUs lost. Each target's scrape interval is read
once from its raw samples, then followed from the probe. The first fetch asks for the visible
range (`range_s`) so every sparkline is full at once; later fetches, on a grid of `step`
seconds aligned to the epoch, ask only what is new and a short overlap. There is one range
query per metric for all GPUs, so queries per refresh grow with panels, never with GPUs.
After the first fetch the GPU queries return only the labels that name a GPU; the others
(model, pod, namespace) come from one instant query when a new GPU shows up, and once a minute.
MIG instances are rows of their own (see `promgpus`). Inference servers (vLLM, SGLang, TGI,
Triton) are looked for by their metric names once a minute (see `serving`); each one found
adds its group of panels, one query per panel for all its models, with the freshness of its
own targets (`serving_state`): the source's state and its GPUs' stay those of the GPU and
latency groups.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping

from gputop.core.backoff import source_backoff
from gputop.core.clock import Clock
from gputop.core.models import (
    GpuSample,
    LatencySample,
    ServingSample,
    SourceState,
    SourceStatus,
)
from gputop.core.store import LATENCY_KEY, SERIES_FIELDS, MetricStore, serving_key
from gputop.core.units import format_duration
from gputop.sources.base import SourceError
from gputop.sources.prometheus import PrometheusClient, PromSeries, PromUnreachable
from gputop.sources.promfresh import LEARN_WINDOWS_S, Feed, read_probe
from gputop.sources.promgpus import GpuTable
from gputop.sources.promqueries import (
    LABELS_EVERY_S,
    LATENCY_METRICS,
    MAX_POINTS,
    gpu_queries,
    latency_queries,
    probe_query,
    raw_metrics,
    raw_query,
    slim_query,
)
from gputop.sources.promtypes import PromError
from gputop.sources.serving import (
    STAT_LABEL,
    Detected,
    detect,
    detect_selector,
    raw_metric,
    serving_queries,
)

__all__ = ["PrometheusSource"]

Point = tuple[float, float | None]
_MEMORY = frozenset({"memory_used_mib", "memory_free_mib"})
#: The groups the source's own freshness is judged by (an inference server's has its own).
_CORE_GROUPS = ("gpu", "latency")
#: How often inference servers are looked for (by their metric names), and how far back.
SERVING_EVERY_S = 60.0
_SERVING_LOOKBACK_S = 3600.0


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
        self._local_keys = local_keys
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
        self._serving: dict[str, Detected] = {}  # group -> the engine it shows
        self._serving_at = -math.inf  # when inference servers were last looked for
        self._serving_latest: dict[tuple[str, str], dict[str, Point]] = {}
        self._probed: set[str] = set()  # the groups a probe has been answered about
        self._slim = {m: slim_query(q) for m, q in self._groups["gpu"].items()}
        self._label_query = self._groups["gpu"]["memory_used_mib"]
        self._labels_at = -math.inf  # when the full labels of every GPU were last fetched
        self._gpus = GpuTable()
        self._latency: dict[str, Point] = {}
        self._merged_last: dict[str, float] = {}  # entity -> newest time this source wrote
        self._local_since: dict[str, float] = {}  # entity -> first time the local source holds
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
        if not self._serving:
            return None
        state = self.state
        if state.status is not SourceStatus.OK:
            return state
        feeds = [self._feeds[group] for group in self._serving]
        newest = max((f.newest for f in feeds if f.newest is not None), default=None)
        now = self._clock.now()
        # a server the probe has asked about: stale when its samples stand still, or when it
        # never had a live one (its panels hold only history: it stopped before we started)
        probed = [self._feeds[group] for group in self._serving if group in self._probed]
        if probed and all(f.stale(now) or not f.moved for f in probed):
            moved = [f for f in probed if f.moved]
            after = max((f.stale_after_s for f in moved), default=0.0)
            reason = (
                f"no new inference-server samples for over {format_duration(after)}"
                if moved
                else "no live sample of the inference server in Prometheus"
            )
            return dataclasses.replace(
                state, status=SourceStatus.STALE, reason=reason, newest=newest
            )
        return dataclasses.replace(state, newest=newest)

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
        feed = self._feeds["gpu"]
        return self._gpus.samples(self._clock.now(), self._range_s, self._step, feed, self.name)

    @property
    def jobs_version(self) -> int:
        """Changes whenever a GPU appears or the jobs on one change (for caches of them)."""
        return self._gpus.jobs_version

    def labels(self, key: str) -> Mapping[str, str]:
        """All labels of a GPU's series (pod, namespace, instance, ...); empty if unknown."""
        return self._gpus.labels(key)

    def serving(self) -> tuple[ServingSample, ...]:
        """The newest numbers of each model of each inference server found, by engine and
        model."""
        out: list[ServingSample] = []
        for (group, model), latest in sorted(self._serving_latest.items()):
            found = self._serving.get(group)
            if found is None or not latest:
                continue
            values = {m: v for m, (_, v) in latest.items()}
            out.append(
                ServingSample(
                    engine=found.engine.title,
                    model=model,
                    time=max(t for t, _ in latest.values()),
                    **{f: values.get(f) for f in _SERVING_FIELDS},
                )
            )
        return tuple(out)

    def latency(self) -> LatencySample | None:
        """The newest latency point; None until the histogram has been seen."""
        if not self._latency:
            return None
        values = {m: v for m, (_, v) in self._latency.items()}
        return LatencySample(
            time=max(t for t, _ in self._latency.values()),
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
            if group not in self._serving:
                await self._learn(group, feed, now)
                continue
            try:
                await self._learn(group, feed, now)
            except PromError:  # costs an inference server's freshness, not the GPUs' panels
                for instance in feed.to_learn(now):
                    feed.learn_later(instance, now)
        return engine_now, newest

    async def _learn(self, group: str, feed: Feed, now: float) -> None:
        """Read the raw samples of the targets whose interval is unknown, in windows that
        grow until each holds a few (one small query per window, fast scrapes answered by
        the first)."""
        wanted = feed.to_learn(now)
        for i, window_s in enumerate(LEARN_WINDOWS_S):
            if not wanted:
                return
            metric = self._raws.get(group)
            if metric is None:  # an inference server's group, gone meanwhile
                return
            query = raw_query(metric, self._selector, window_s, wanted)
            times: dict[str, list[float]] = {}
            for series in await self._client.raw_samples(query):
                instance = series.labels.get("instance", "")
                ts = [t for t, v in series.points if v is not None]
                held = times.get(instance, [])
                if ts and (not held or (ts[-1], len(ts)) > (held[-1], len(held))):
                    times[instance] = ts  # the target's series with the newest samples
            least = 2 if i == len(LEARN_WINDOWS_S) - 1 else 3
            wanted = [w for w in wanted if not feed.learned(w, times.get(w, ()), least=least)]
        for instance in wanted:
            feed.learn_later(instance, now)

    def _new_feed(self) -> Feed:
        return Feed(refresh_s=self._refresh_s, configured=self._stale_after_s)

    def _core_feeds(self) -> list[Feed]:
        return [self._feeds[group] for group in _CORE_GROUPS]

    async def _find_servers(self, now: float) -> None:
        """Look for inference servers by their metric names; each one found gets its group
        of panels (and its probe part). A failure here costs the serving panels only."""
        self._serving_at = now
        try:
            names = await self._client.label_values(
                "__name__", match=detect_selector(), start=now - _SERVING_LOOKBACK_S
            )
        except PromError:
            return  # asked again in a minute; what was found stays
        found = {d.group: d for d in detect(names)}
        if found.keys() == self._serving.keys():
            return
        for group in self._serving.keys() - found.keys():
            del self._groups[group], self._feeds[group], self._raws[group]
        for group, detected in found.items():
            if group not in self._groups:
                self._groups[group] = serving_queries(detected, self._selector)
                self._feeds[group] = self._new_feed()
                self._raws[group] = raw_metric(detected)
        self._serving = found
        self._probe = probe_query(self._raws, self._selector)

    async def _fetch(self, now: float) -> None:
        """Probe, then run the due range queries. Raises the first failure after merging."""
        if now - self._serving_at >= SERVING_EVERY_S:  # beside the probe, never delaying it
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
            self._gpus.new_seen or now - self._labels_at >= LABELS_EVERY_S
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
        local = self._local(now)
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
                received = self._merge_gpus(done[group], local, full=full)
                if full:
                    self._labels_at = now
            elif group in self._serving:
                received = self._merge_serving(group, done[group], local)
            else:
                received = self._merge_latency(done[group], local)
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
            self._gpus.for_labels(sample.labels, full=True)
        self._labels_at, self._gpus.new_seen = now, False

    def _local(self, now: float) -> set[str]:
        """Entities the local source writes live; remembers when each one's live data starts."""
        local = set(self._local_keys())
        for key in [k for k in self._local_since if k not in local]:
            del self._local_since[key]
        for key in local:
            if key not in self._local_since:
                self._local_since[key] = self._first_local_time(key, now)
        return local

    def _first_local_time(self, key: str, now: float) -> float:
        after = self._merged_last.get(key, -math.inf)
        first = now
        for metric in (*SERIES_FIELDS, *LATENCY_METRICS):
            series = self._store.get(key, metric)
            if series is None:
                continue
            for t, _ in series.items():
                if t > after:
                    first = min(first, t)
                    break
        return first

    def _write(self, key: str, metric: str, points: Iterable[Point], local: set[str]) -> None:
        batch = sorted(points)
        if key in local:  # only history older than the live local data
            cutoff = self._local_since[key]
            batch = [p for p in batch if p[0] < cutoff]
        if batch:
            self._store.merge(key, metric, batch, capacity=self._capacity)
            self._merged_last[key] = max(self._merged_last.get(key, -math.inf), batch[-1][0])

    def _merge_gpus(
        self, results: dict[str, tuple[PromSeries, ...]], local: set[str], *, full: bool
    ) -> float | None:
        """Merge the GPU series one GPU and metric at a time: a fleet's first fetch (400k
        points for 256 GPUs) is never held as Python objects at once. Each result is let go
        once merged; memory used and free wait for each other, for the percentage. Returns
        the newest point time received (None: none)."""
        wanted = _MEMORY & results.keys()
        memory: dict[str, dict[str, list[PromSeries]]] = {}
        received: float | None = None
        for metric in list(results):
            by_gpu: dict[str, list[PromSeries]] = {}
            for series in results.pop(metric):
                key = self._gpus.route(series.labels, metric, full=full)
                by_gpu.setdefault(key, []).append(series)
            for key, same in by_gpu.items():
                received = _later(received, self._merge_gpu(key, metric, _held(same), local))
            if metric in wanted:
                memory[metric] = by_gpu
                if memory.keys() == wanted:
                    self._merge_memory_pct(memory, local)
                    memory.clear()
        return received

    def _merge_memory_pct(
        self, memory: dict[str, dict[str, list[PromSeries]]], local: set[str]
    ) -> None:
        used, free = memory.get("memory_used_mib", {}), memory.get("memory_free_mib", {})
        for key, used_series in used.items():
            used_held, free_held = _held(used_series), _held(free.get(key, []))
            pct = {t: _pct(u, free_held[t]) for t, u in used_held.items() if t in free_held}
            self._merge_gpu(key, "memory_used_pct", pct, local)

    def _merge_gpu(
        self, key: str, metric: str, held: dict[float, float | None], local: set[str]
    ) -> float | None:
        """Write one GPU's metric; returns its newest point time (None: no point)."""
        if not held:
            return None
        self._write(key, metric, held.items(), local)
        newest = max(held)
        self._gpus.note(key, metric, newest, held[newest])
        return newest

    def _merge_latency(
        self, results: Mapping[str, tuple[PromSeries, ...]], local: set[str]
    ) -> float | None:
        """Merge the latency series; returns the newest point time received (None: none)."""
        received: float | None = None
        for metric, series_list in results.items():
            held: dict[float, float | None] = {}
            for series in series_list:  # one series, unless the selector splits it
                for t, v in series.points:
                    held[t] = v if v is not None and math.isfinite(v) else None
            if not held:
                continue
            self._write(LATENCY_KEY, metric, held.items(), local)
            newest = max(held)
            received = newest if received is None else max(received, newest)
            if newest >= self._latency.get(metric, (-math.inf, None))[0]:
                self._latency[metric] = (newest, held[newest])
        return received

    def _merge_serving(
        self, group: str, results: Mapping[str, tuple[PromSeries, ...]], local: set[str]
    ) -> float | None:
        """Merge an inference server's panels, a series per model and number; returns the
        newest point time received (None: none)."""
        found = self._serving[group]
        label = found.engine.model_label
        received: float | None = None
        for panel, series_list in results.items():
            for series in series_list:
                stat = series.labels.get(STAT_LABEL, "")
                metric = f"{panel}_{stat}_s" if panel != "load" else stat
                if metric not in _SERVING_FIELDS:
                    continue
                model = series.labels.get(label, "") if label else ""
                held = _held([series])
                if not held:
                    continue
                entity = serving_key(found.engine.title, model)
                self._write(entity, metric, held.items(), local)
                newest = max(held)
                received = _later(received, newest)
                latest = self._serving_latest.setdefault((group, model), {})
                if newest >= latest.get(metric, (-math.inf, None))[0]:
                    latest[metric] = (newest, held[newest])
        return received

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


#: The numbers of a `ServingSample`, as the serving panels' series are named in the store.
_SERVING_FIELDS = frozenset(
    f.name for f in dataclasses.fields(ServingSample) if f.name not in ("engine", "model", "time")
)


def _held(same: list[PromSeries]) -> dict[float, float | None]:
    """One GPU's points of one metric; a duplicate series (the GPU twice) fills only gaps."""
    held: dict[float, float | None] = {}
    for series in same:
        for t, v in series.points:
            v = v if v is not None and math.isfinite(v) else None
            if v is not None or held.get(t) is None:  # a duplicate series may be NaN
                held[t] = v
    return held


def _later(a: float | None, b: float | None) -> float | None:
    """The later of two times, either of which may be unknown."""
    if a is None:
        return b
    return a if b is None else max(a, b)


def _pct(used: float | None, free: float | None) -> float | None:
    if used is None or free is None or used + free <= 0:
        return None
    return 100.0 * used / (used + free)
