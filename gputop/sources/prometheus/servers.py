"""The inference servers found in Prometheus (vLLM, SGLang, TGI, Triton; see `serving`).

They are looked for by their metric names once a minute; each one found is a group of
panels of the feed, one query per panel for all its models, with the freshness of its own
targets: the source's state and its GPUs' stay those of the GPU and latency groups. This
module holds what was found, each model's newest numbers, and the panels' own freshness.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from gputop.core.models import ServingSample, SourceState, SourceStatus
from gputop.core.store import serving_key
from gputop.core.units import format_duration
from gputop.sources.prometheus.api import PromSeries
from gputop.sources.prometheus.client import PrometheusClient
from gputop.sources.prometheus.errors import PromError
from gputop.sources.prometheus.freshness import Feed
from gputop.sources.prometheus.merge import Point, StoreWriter, held_points, later
from gputop.sources.prometheus.serving import STAT_LABEL, Detected, detect, detect_selector

__all__ = ["SERVING_EVERY_S", "Servers"]

#: How often inference servers are looked for (by their metric names), and how far back.
SERVING_EVERY_S = 60.0
_SERVING_LOOKBACK_S = 3600.0
#: The numbers of a `ServingSample`, as the serving panels' series are named in the store.
_SERVING_FIELDS = frozenset(
    f.name for f in dataclasses.fields(ServingSample) if f.name not in ("engine", "model", "time")
)


class Servers:
    """The inference servers found, by group, and the newest numbers of each model."""

    def __init__(self) -> None:
        self.found: dict[str, Detected] = {}  # group -> the engine it shows
        self._at = -math.inf  # when inference servers were last looked for
        self._latest: dict[tuple[str, str], dict[str, Point]] = {}

    def due(self, now: float) -> bool:
        return now - self._at >= SERVING_EVERY_S

    async def look(self, client: PrometheusClient, now: float) -> dict[str, Detected] | None:
        """The servers Prometheus has now, by group; None when they are the ones found
        already, or when the question failed (asked again in a minute; what was found
        stays: a failure here costs the serving panels only)."""
        self._at = now
        try:
            names = await client.label_values(
                "__name__", match=detect_selector(), start=now - _SERVING_LOOKBACK_S
            )
        except PromError:
            return None
        found = {d.group: d for d in detect(names)}
        return None if found.keys() == self.found.keys() else found

    def state(
        self, state: SourceState, feeds: Mapping[str, Feed], probed: set[str], now: float
    ) -> SourceState | None:
        """The servers' panels' own freshness, judged as the latency panel's is, from their
        own targets' scrape spacing: STALE when none of the servers found has had a new
        sample for its allowance while the source (`state`) answers (None: none found)."""
        if not self.found:
            return None
        if state.status is not SourceStatus.OK:
            return state
        mine = [feeds[group] for group in self.found]
        newest = max((f.newest for f in mine if f.newest is not None), default=None)
        # a server the probe has asked about: stale when its samples stand still, or when it
        # never had a live one (its panels hold only history: it stopped before we started)
        asked = [feeds[group] for group in self.found if group in probed]
        if asked and all(f.stale(now) or not f.moved for f in asked):
            moved = [f for f in asked if f.moved]
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

    def samples(self) -> tuple[ServingSample, ...]:
        """The newest numbers of each model of each server found, by engine and model."""
        out: list[ServingSample] = []
        for (group, model), latest in sorted(self._latest.items()):
            found = self.found.get(group)
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

    def merge(
        self,
        group: str,
        results: Mapping[str, tuple[PromSeries, ...]],
        local: set[str],
        writer: StoreWriter,
    ) -> float | None:
        """Merge a server's panels, a series per model and number; returns the newest point
        time received (None: none)."""
        found = self.found[group]
        label = found.engine.model_label
        received: float | None = None
        for panel, series_list in results.items():
            for series in series_list:
                stat = series.labels.get(STAT_LABEL, "")
                metric = f"{panel}_{stat}_s" if panel != "load" else stat
                if metric not in _SERVING_FIELDS:
                    continue
                model = series.labels.get(label, "") if label else ""
                held = held_points([series])
                if not held:
                    continue
                entity = serving_key(found.engine.title, model)
                writer.write(entity, metric, held.items(), local)
                newest = max(held)
                received = later(received, newest)
                latest = self._latest.setdefault((group, model), {})
                if newest >= latest.get(metric, (-math.inf, None))[0]:
                    latest[metric] = (newest, held[newest])
        return received
