"""Where one group of incremental range queries stands, and how fresh its data is.

Freshness is judged by the data, per scrape target (`instance`): the time of the newest raw
sample the engine reports for it (the probe, see `promqueries`), and when that last moved.

- **Intervals from the samples' own spacing.** Each target's scrape interval is the median
  of the spacings between its newest raw samples: read once from the raw samples themselves
  (`learn`, a window that grows until it holds a few), then kept up to date from every
  advance the probe sees, so a changed interval (or back-filled history of another spacing
  before the live scrapes) is learned again within a couple of scrapes, while one late
  scrape moves the median nothing.
- **STALE after several intervals.** A target is stale after `STALE_AFTER_INTERVALS`
  intervals (never less than `STALE_FLOOR_S`) with nothing new; a group when all of its
  targets are. Below that, a late scrape is an age on screen, not an alarm; and after one
  long gap the next is allowed as long (an interval that grew flashes STALE once at most).
- **A node misses its own scrapes.** A target is *missing* when it is stale while others of
  its group go on (one has had a new sample since its allowance ran out: targets that stopped
  together, their last scrapes seconds apart, are not). After the whole group stood still
  (an exporter restarted, the engine caught up), every target gets its full allowance again
  from that moment: the node scraped last is not missing because the first came back first.

An engine that answers every request with nothing new is stale whatever its HTTP status
says; one that shows data late (VictoriaMetrics' 30 s latency offset, remote-write lag) is
behind, not stale, as long as its newest sample moves.

Windows trade a little transfer for never losing a point: each asks `OVERLAP_STEPS` steps
again (late points fill in; the store merges by timestamp), never starts after the newest
point received, and never ends past the newest raw sample (VictoriaMetrics fills the last 30 s
of a range with copies of an older value, which must not pass for fresh readings).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gputop.sources.prometheus.api import PromSample
from gputop.sources.prometheus.queries import raw_query

if TYPE_CHECKING:
    from gputop.sources.prometheus.client import PrometheusClient
from gputop.sources.prometheus.queries import PROBE_LABEL

__all__ = [
    "LEARN_WINDOWS_S",
    "OVERLAP_STEPS",
    "STALE_AFTER_INTERVALS",
    "STALE_FLOOR_S",
    "Feed",
    "Probe",
    "Target",
    "learn_intervals",
    "read_probe",
    "stale_after",
]

#: Each fetch asks this many steps before the last end asked again, for late points.
OVERLAP_STEPS = 2
#: Stale after this many scrape intervals without a new sample...
STALE_AFTER_INTERVALS = 3
#: ... and never sooner than this: a hiccup of a fast scrape is an age, not an alarm.
STALE_FLOOR_S = 15.0
#: The raw-sample windows asked, smallest first, until a target's window holds a few samples
#: (covers scrape intervals from under a second to 5 minutes).
LEARN_WINDOWS_S = (20.0, 80.0, 320.0, 1280.0)
#: Spacings kept per target; the interval is their median.
_SPACINGS = 3
#: A target whose raw samples said nothing (too few of them) is asked again after this long.
_LEARN_AGAIN_S = 60.0


def stale_after(interval_s: float | None, refresh_s: float = 1.0) -> float:
    """How long a target's newest sample may stand still before it is stale: 3 intervals
    (or 3 refreshes, when those are longer), at least `STALE_FLOOR_S`."""
    return max(STALE_AFTER_INTERVALS * max(interval_s or 0.0, refresh_s), STALE_FLOOR_S)


@dataclass(frozen=True, slots=True)
class Probe:
    """One answer of the probe: the engine's now, and per group the newest raw sample time
    of each target (by its `instance` label; "" when it has none)."""

    engine_now: float | None
    newest: dict[str, dict[str, float]]


def read_probe(samples: Iterable[PromSample], groups: Iterable[str]) -> Probe:
    wanted = set(groups)
    engine_now: float | None = None
    newest: dict[str, dict[str, float]] = {}
    for s in samples:
        if s.value is None or not math.isfinite(s.value):
            continue
        tag = s.labels.get(PROBE_LABEL, "")
        if tag == "now":
            engine_now = s.value
        elif tag in wanted:
            newest.setdefault(tag, {})[s.labels.get("instance", "")] = s.value
    return Probe(engine_now, newest)


@dataclass(slots=True)
class Target:
    """One scrape target of a group: its newest raw sample and its interval."""

    newest: float | None = None  # the newest raw sample time the engine reported
    advanced_at: float | None = None  # local time when `newest` last moved forward
    spacings: list[float] = field(default_factory=list)  # the newest ones, oldest first
    learn_at: float = -math.inf  # when to read its raw samples (while no interval is known)
    resumed: float = -math.inf  # the first sample time after its last gap of over 3 intervals
    spaced_to: float = -math.inf  # the newest sample time whose spacing is counted

    @property
    def interval_s(self) -> float | None:
        """Seconds between its samples: the median of the newest spacings, the longer of the
        middle two when there are two (a short one after a restart or a back-fill must not
        make the next sample look overdue); None: unknown."""
        return statistics.median_high(self.spacings) if self.spacings else None

    def observe(self, now: float, engine_now: float, newest: float) -> bool:
        """Note the newest sample time (True when it moved); at first sight, trust the
        engine's own clock for how long ago it was (VictoriaMetrics' now is 30 s behind)."""
        if self.newest is None:
            self.newest, self.advanced_at = newest, now - max(0.0, engine_now - newest)
            return True
        if newest <= self.newest:
            return False
        last = max(self.newest, self.spaced_to)  # the raw samples may have told it already
        if newest > last:
            if newest - last > stale_after(self.interval_s, 0.0):
                self.resumed = newest  # back after a gap: its series start again from here
            self._spaced(newest - last)
            self.spaced_to = newest
        self.newest, self.advanced_at = newest, now
        return True

    def learned(self, times: Sequence[float]) -> bool:
        """Take the spacings of raw sample times (ascending); False when too few to say. The
        raw samples may reach past the newest the probe has shown (VictoriaMetrics hides its
        last 30 s from one, not the other): those spacings are not counted again later."""
        spacings = [b - a for a, b in itertools.pairwise(times) if b > a]
        if not spacings:
            return False
        self.spacings = spacings[-_SPACINGS:]
        self.spaced_to = times[-1]
        return True

    def _spaced(self, spacing: float) -> None:
        self.spacings = [*self.spacings, spacing][-_SPACINGS:]

    def stale_after(self, refresh_s: float) -> float:
        """Its allowance: 3 intervals, or 3 times its last spacing when that was longer (the
        hysteresis: after one long gap, the next is not judged by the shorter median)."""
        longest = max(self.interval_s or 0.0, self.spacings[-1] if self.spacings else 0.0)
        return stale_after(longest or None, refresh_s)

    def stale(self, now: float, after_s: float) -> bool:
        return self.advanced_at is not None and now - self.advanced_at > after_s


@dataclass(slots=True)
class Feed:
    """One group's cursor and freshness, with each of its scrape targets. `refresh_s`: how
    often the probe asks (a target is never stale sooner than 3 of those); `configured`: a
    fixed allowance for every target instead of the learned ones."""

    refresh_s: float = 1.0
    configured: float | None = None
    cursor: float | None = None  # the newest point received
    asked: float | None = None  # the end of the last window asked and answered
    targets: dict[str, Target] = field(default_factory=dict)

    @property
    def newest(self) -> float | None:
        """The newest raw sample time of any target (None: none seen)."""
        return max((t.newest for t in self.targets.values() if t.newest is not None), default=None)

    @property
    def interval_s(self) -> float | None:
        """The longest of its targets' intervals (the group is stale only after that)."""
        known = [t.interval_s for t in self.targets.values() if t.interval_s is not None]
        return max(known, default=None)

    @property
    def moved(self) -> bool:
        """Whether any sample of the group was ever seen."""
        return any(t.advanced_at is not None for t in self.targets.values())

    def allowance(self, target: Target) -> float:
        """How long a target's newest sample may stand still before it is stale (one whose
        interval is not known yet is given its group's: targets share a scrape config)."""
        if self.configured is not None:
            return self.configured
        if target.interval_s is None:
            return stale_after(self.interval_s, self.refresh_s)
        return target.stale_after(self.refresh_s)

    @property
    def stale_after_s(self) -> float:
        """How long the group may stand still before it is stale (its slowest target's)."""
        if self.configured is not None:
            return self.configured
        return max(
            (self.allowance(t) for t in self.targets.values()),
            default=stale_after(None, self.refresh_s),
        )

    def observe(self, now: float, engine_now: float, newest: dict[str, float]) -> None:
        """Note each target's newest sample time. When the whole group had stood still and
        something moves again, the targets still silent get their allowance from now."""
        was_stale = self.stale(now)
        moved: set[str] = set()
        for instance, t in newest.items():
            target = self.targets.setdefault(instance, Target())
            if target.observe(now, engine_now, t):
                moved.add(instance)
        if was_stale and moved:
            for instance, target in self.targets.items():
                if instance not in moved and target.advanced_at is not None:
                    target.advanced_at = max(target.advanced_at, now)

    def stale(self, now: float) -> bool:
        """True when no target has had anything new for its allowance."""
        seen = [t for t in self.targets.values() if t.advanced_at is not None]
        return bool(seen) and all(t.stale(now, self.allowance(t)) for t in seen)

    def missing(self, instance: str, now: float) -> float | None:
        """Since when a target has been silent while others of its group go on: it is stale,
        and another has had a new sample since its allowance ran out (None: it is not
        missing; targets that stopped together, a few seconds apart, are not)."""
        target = self.targets.get(instance)
        if target is None or target.advanced_at is None:
            return None
        allowance = self.allowance(target)
        if not target.stale(now, allowance) or self.stale(now):
            return None
        ran_out = target.advanced_at + allowance
        others = (t.advanced_at for t in self.targets.values() if t is not target)
        return target.advanced_at if any(a is not None and a > ran_out for a in others) else None

    def to_learn(self, now: float) -> list[str]:
        """The targets whose interval is to be read from their raw samples now."""
        return [i for i, t in self.targets.items() if t.interval_s is None and now >= t.learn_at]

    def learned(self, instance: str, times: Sequence[float], *, least: int = 3) -> bool:
        """Raw sample times of a target, ascending; False when fewer than `least` (ask a
        larger window, or `learn_later`)."""
        target = self.targets.setdefault(instance, Target())
        return len(times) >= least and target.learned(times)

    def learn_later(self, instance: str, now: float) -> None:
        """No window said enough: read the target's raw samples again in a while."""
        self.targets.setdefault(instance, Target()).learn_at = now + _LEARN_AGAIN_S

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


async def learn_intervals(
    client: PrometheusClient,
    feed: Feed,
    metric: Callable[[], str | None],
    selector: str,
    now: float,
) -> None:
    """Read the raw samples of the feed's targets whose interval is unknown, in windows that
    grow until each holds a few (one small query per window, fast scrapes answered by the
    first); `metric`: the group's raw metric, None once the group is gone."""
    wanted = feed.to_learn(now)
    for i, window_s in enumerate(LEARN_WINDOWS_S):
        if not wanted:
            return
        raw = metric()
        if raw is None:
            return
        query = raw_query(raw, selector, window_s, wanted)
        times: dict[str, list[float]] = {}
        for series in await client.raw_samples(query):
            instance = series.labels.get("instance", "")
            ts = [t for t, v in series.points if v is not None]
            held = times.get(instance, [])
            if ts and (not held or (ts[-1], len(ts)) > (held[-1], len(held))):
                times[instance] = ts  # the target's series with the newest samples
        least = 2 if i == len(LEARN_WINDOWS_S) - 1 else 3
        wanted = [w for w in wanted if not feed.learned(w, times.get(w, ()), least=least)]
    for instance in wanted:
        feed.learn_later(instance, now)
