"""Where one group of incremental range queries stands, and how fresh its data is.

Freshness is judged by the data: the time of the newest raw sample the engine reports (the
probe, see `promqueries`), and when that last moved. An engine that answers every request
with nothing new is stale after `STALE_AFTER_INTERVALS` scrape intervals (or refreshes),
whatever its HTTP status says; an engine that shows data late (VictoriaMetrics' 30 s latency
offset, remote-write or ingestion lag) is behind, not stale, as long as its newest sample moves.

Windows trade a little transfer for never losing a point: each asks `OVERLAP_STEPS` steps
again (late points fill in; the store merges by timestamp), never starts after the newest
point received, and never ends past the newest raw sample (VictoriaMetrics fills the last 30 s
of a range with copies of an older value, which must not pass for fresh readings).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from gputop.sources.promqueries import PROBE_LABEL
from gputop.sources.promtypes import PromSample

__all__ = ["OVERLAP_STEPS", "STALE_AFTER_INTERVALS", "Feed", "Probe", "read_probe"]

#: Each fetch asks this many steps before the last end asked again, for late points.
OVERLAP_STEPS = 2
#: Stale after this many scrape intervals, or refreshes, without a new sample.
STALE_AFTER_INTERVALS = 3


@dataclass(frozen=True, slots=True)
class Probe:
    """One answer of the probe: the engine's now, each group's newest raw sample time, and
    each group's best guess of its scrape interval (when asked)."""

    engine_now: float | None
    newest: dict[str, float]
    intervals: dict[str, float]


def read_probe(samples: Iterable[PromSample], groups: Iterable[str]) -> Probe:
    found = {
        s.labels.get(PROBE_LABEL, ""): s.value
        for s in samples
        if s.value is not None and math.isfinite(s.value)
    }
    newest: dict[str, float] = {}
    intervals: dict[str, float] = {}
    for group in groups:
        if group in found:
            newest[group] = found[group]
        guesses = [v for k, v in found.items() if k.startswith(f"{group}_interval") and v > 0]
        if guesses:
            intervals[group] = min(guesses)  # the smallest window's count errs least
    return Probe(found.get("now"), newest, intervals)


@dataclass(slots=True)
class Feed:
    """One group's cursor and freshness."""

    cursor: float | None = None  # the newest point received
    asked: float | None = None  # the end of the last window asked and answered
    newest: float | None = None  # the newest raw sample time the engine reported
    advanced_at: float | None = None  # local time when `newest` last moved forward
    interval_s: float | None = None  # seconds between samples, learned from the data

    def observe(self, now: float, engine_now: float, newest: float | None) -> None:
        """Note the newest sample time; at first sight, trust the engine's own clock for how
        long ago it was (VictoriaMetrics' now is 30 s behind ours)."""
        if newest is None:
            return
        if self.newest is None:
            self.newest, self.advanced_at = newest, now - max(0.0, engine_now - newest)
        elif newest > self.newest:
            self.newest, self.advanced_at = newest, now

    def stale(self, now: float, after_s: float) -> bool:
        return self.advanced_at is not None and now - self.advanced_at > after_s

    def window(
        self, *, engine_now: float, newest: float | None, step: float, range_s: float
    ) -> tuple[float, float] | None:
        """The next range to ask, on the grid of `step`, or None when nothing new can exist."""
        earliest = (math.floor((engine_now - range_s) / step) + 1) * step
        if self.asked is None:  # the first fetch: the whole visible range
            top = engine_now if newest is None else min(newest, engine_now)
            end = math.floor(top / step) * step
            return None if earliest > end else (earliest, end)
        if newest is None:
            return None
        end = math.floor(min(newest, engine_now) / step) * step
        if end <= self.asked:
            return None
        received = earliest if self.cursor is None else self.cursor + step
        start = max(earliest, min(received, self.asked + step - OVERLAP_STEPS * step))
        return None if start > end else (start, end)

    def answered(self, end: float, received: float | None) -> None:
        """A window up to `end` was answered; `received` is its newest point (None: none)."""
        self.asked = end
        if received is not None and (self.cursor is None or received > self.cursor):
            self.cursor = received
