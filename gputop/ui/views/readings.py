"""What the screens show of GPUs and sources, computed from the monitor: plain data, no widgets.

A sparkline is drawn from *closed* fixed time buckets only, so its cells change once per
bucket while the number beside it follows every sample. How a number is coloured comes from
the rules actually loaded (`NumberLevels`), never from a copy of their thresholds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from gputop.core.catalogue import lookup
from gputop.core.labels import matches_sample
from gputop.core.models import METRICS, GpuSample, Metric, SourceState, SourceStatus
from gputop.core.store import MetricStore
from gputop.core.units import format_age, format_clock, format_duration, format_value
from gputop.monitor import Monitor
from gputop.promql.analysis import PromQLSyntaxError, analyse, compare
from gputop.rules.model import DEFAULT_MARGIN, RuleStatus

__all__ = [
    "DEFAULT_WINDOW_S",
    "Limit",
    "LimitBounds",
    "NumberLevels",
    "SparkSpec",
    "clock_text",
    "closed_buckets",
    "gpu_marks",
    "latency_note",
    "metric_text",
    "rule_metric",
    "source_part",
    "spark_bounds",
    "stale_note",
    "status_matches_gpu",
    "status_parts",
]

#: The overview's sparkline window: the whole row spans this much time.
DEFAULT_WINDOW_S = 600.0
#: Rules of these severities say something is worth knowing, not that a number is bad.
_QUIET_SEVERITIES = frozenset({"info", "none"})
#: Without a rule on power, a reading near the GPU's own limit is the warning.
_POWER_LIMIT_WARN = 0.95


@dataclass(frozen=True, slots=True)
class SparkSpec:
    """Where a sparkline's buckets sit in time."""

    window_s: float
    columns: int

    @classmethod
    def at_least(cls, window_s: float, columns: int, cell_s: float) -> SparkSpec:
        """`columns` buckets of `window_s / columns`, but no bucket shorter than `cell_s`."""
        return cls(max(window_s, columns * cell_s), columns)

    @property
    def width_s(self) -> float:
        return self.window_s / max(1, self.columns)

    def epoch(self, now: float) -> int:
        """Index of the last closed bucket: changes exactly when a bucket closes."""
        return math.floor(now / self.width_s) - 1


def closed_buckets(
    store: MetricStore, key: str, metric: str, spec: SparkSpec, now: float
) -> tuple[float | None, ...]:
    """One value per column, oldest first, from the closed buckets ending before `now`."""
    if spec.columns <= 0:
        return ()
    series = store.get(key, metric)
    if series is None:
        return (None,) * spec.columns
    buckets = series.downsample(now - spec.width_s, spec.width_s, spec.columns)
    info = METRICS.get(metric)
    agg = info.aggregate if info is not None else "mean"
    return tuple(getattr(b, agg) for b in buckets)


def spark_bounds(metric: Metric, gpu: GpuSample | None) -> tuple[float, float]:
    hi = metric.hi
    if hi is None:
        hi = (gpu.power_limit_w if gpu and gpu.power_limit_w else None) or 400.0
    return metric.lo, hi


def metric_text(metric: Metric, gpu: GpuSample) -> str:
    return format_value(gpu.metric(metric.key), metric.unit)


# ---- how alarming a number is, from the rules loaded --------------------------------------


@dataclass(frozen=True, slots=True)
class Limit:
    """One rule's threshold on a metric, in the metric's own unit."""

    rule: str
    op: str
    threshold: float
    margin: float  # fraction of the threshold that counts as near

    def level(self, value: float) -> int:
        """2 across the threshold, 1 within the margin on the way to it, else 0."""
        if compare(self.op, value, self.threshold):
            return 2
        band = self.margin * abs(self.threshold)
        if self.op in (">", ">="):
            return 1 if value >= self.threshold - band else 0
        if self.op in ("<", "<="):
            return 1 if value <= self.threshold + band else 0
        return 0


class LimitBounds:
    """The level of a value against many limits at once (thousands of rules on one metric):
    the worst of `Limit.level` over them, from a few numbers rather than a loop."""

    def __init__(self, limits: Sequence[Limit]) -> None:
        inf = math.inf

        def lowest(op: str) -> float:
            return min((x.threshold for x in limits if x.op == op), default=inf)

        def highest(op: str) -> float:
            return max((x.threshold for x in limits if x.op == op), default=-inf)

        self.gt, self.ge, self.lt, self.le = lowest(">"), lowest(">="), highest("<"), highest("<=")
        rising = [x.threshold - x.margin * abs(x.threshold) for x in limits if x.op in (">", ">=")]
        falling = [x.threshold + x.margin * abs(x.threshold) for x in limits if x.op in ("<", "<=")]
        self.rising_near = min(rising, default=inf)
        self.falling_near = max(falling, default=-inf)
        self.others = [x for x in limits if x.op not in (">", ">=", "<", "<=")]

    def level(self, value: float) -> int:
        if value > self.gt or value >= self.ge or value < self.lt or value <= self.le:
            return 2
        other = max((x.level(value) for x in self.others), default=0)
        if other == 2:
            return 2
        return 1 if value >= self.rising_near or value <= self.falling_near or other else 0


class NumberLevels:
    """0 normal, 1 near a threshold, 2 over it, for each GPU metric: from the thresholds of
    the rules loaded that compare a metric's instantaneous value (`x > 85`, a ratio of two
    gauges), not a range (`min_over_time(x[10m])`), at a severity above info."""

    def __init__(self, statuses: Sequence[RuleStatus] = ()) -> None:
        limits: dict[str, dict[tuple[str, str, float], Limit]] = {}
        for st in statuses:
            if st.threshold is None or st.op is None or st.severity in _QUIET_SEVERITIES:
                continue
            mapped = rule_metric(st.query, instant=True)
            if mapped is None:
                continue
            metric, scale = mapped
            margin = DEFAULT_MARGIN if st.margin is None else st.margin
            limit = Limit(st.name, st.op, st.threshold / scale, margin)
            limits.setdefault(metric, {})[(st.name, st.op, limit.threshold)] = limit
        self.limits: dict[str, tuple[Limit, ...]] = {
            m: tuple(v.values()) for m, v in limits.items()
        }
        self._identity = tuple(sorted(self.limits.items()))
        self._bounds = {m: LimitBounds(v) for m, v in self.limits.items()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NumberLevels) and self._identity == other._identity

    def __hash__(self) -> int:
        return hash(self._identity)

    def level(self, metric: Metric, gpu: GpuSample) -> int:
        value = gpu.metric(metric.key)
        if value is None:
            return 0
        bounds = self._bounds.get(metric.key)
        if bounds is not None:
            return bounds.level(value)
        if metric.key == "power_w" and gpu.power_limit_w:
            limit = gpu.power_limit_w
            return 2 if value >= limit else 1 if value >= _POWER_LIMIT_WARN * limit else 0
        return 0

    def spark_warn(self, metric_key: str) -> float | None:
        """Sparkline cells at or above this value are drawn in the warning colour."""
        rising = [x.threshold for x in self.limits.get(metric_key, ()) if x.op in (">", ">=")]
        return min(rising, default=None)


@lru_cache(maxsize=8192)  # a big server's rule set, each worked out once
def rule_metric(query: str | None, *, instant: bool = False) -> tuple[str, float] | None:
    """(store metric, scale) a rule's compared query is measured in, for threshold lines.

    A threshold `t` on the query is drawn at `t / scale` on that metric's chart. With
    `instant`, only a query of instantaneous values maps (no range selector in it).
    """
    if not query:
        return None
    try:
        analysis = analyse(query)
    except PromQLSyntaxError:
        return None
    if instant and any(s.range_s is not None for s in analysis.selectors):
        return None
    metrics = set(analysis.metrics)
    if metrics == {"DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"}:
        return ("memory_used_pct", 1.0)  # used / (used + free) * 100
    comparison = analysis.comparison
    unit = comparison.unit_metric if comparison is not None else None
    if unit is None and len(metrics) == 1:
        unit = next(iter(metrics))
    info = lookup(unit) if unit else None
    if info is None or info.store_field is None:
        return None
    return (info.store_field, info.store_scale)


# ---- rules touching GPUs --------------------------------------------------------------------


def status_matches_gpu(labels: Mapping[str, str], gpu: GpuSample) -> bool:
    """Whether a rule's series is about this GPU (by UUID, else by index and host)."""
    return matches_sample(labels, gpu)


_MARK_RANK = {"firing": 3, "pending": 2, "near": 1}


def gpu_marks(statuses: Sequence[RuleStatus], gpus: Sequence[GpuSample]) -> dict[str, str]:
    """GPU key → the worst of firing/pending/near among the rules touching it."""
    by_uuid: dict[str, list[GpuSample]] = {}
    by_index: dict[str, list[GpuSample]] = {}
    for gpu in gpus:
        # a MIG instance's series carry its parent's UUID
        by_uuid.setdefault(gpu.uuid if gpu.mig is None else gpu.mig.parent_uuid, []).append(gpu)
        by_index.setdefault(str(gpu.index), []).append(gpu)
    marks: dict[str, str] = {}
    for st in statuses:
        rank = _MARK_RANK.get(st.state)
        if rank is None or not st.labels:
            continue
        uuid = st.labels.get("UUID")
        # only the GPUs that can match: a fleet has hundreds, and a rule a series per GPU
        candidates = by_uuid.get(uuid, []) if uuid else by_index.get(st.labels.get("gpu", ""), [])
        for gpu in candidates:
            worse = rank > _MARK_RANK.get(marks.get(gpu.key, ""), 0)
            if worse and status_matches_gpu(st.labels, gpu):
                marks[gpu.key] = st.state
    return marks


# ---- sources ----------------------------------------------------------------------------------


def stale_note(state: SourceState | None, now: float | None = None) -> str:
    """Why a panel's data is not fresh ("" when it is): the failing source's reason and since when
    (dated when not on the day of `now`).

    The time is the newest sample's clock time (else the last good answer's), so the note does
    not tick every second.
    """
    if state is None or state.ok or state.status is SourceStatus.OFF:
        return ""
    reason = state.reason or state.status.value
    since = state.newest if state.newest is not None else state.last_ok
    if since is None:
        return f"no data: {reason}"
    return f"stale since {format_clock(since, since if now is None else now)}: {reason}"


def latency_note(monitor: Monitor) -> str:
    """Why the latency panel has no numbers: no Prometheus configured, Prometheus failing,
    or Prometheus answering without the histogram's series."""
    remote = monitor.remote
    if remote is None:
        return "no latency data: it comes from Prometheus (--prometheus URL)"
    state = remote.state
    if not state.ok:
        return f"no latency data: Prometheus {state.reason or state.status.value}"
    if monitor.latency_histogram is None:
        return "no latency data: Prometheus has no series of the latency histogram"
    return f"no latency data: Prometheus has no series of {monitor.latency_histogram}_bucket"


def clock_text(now: float) -> str:
    """The header's clock: local time, to the second."""
    return time.strftime("%H:%M:%S", time.localtime(now))


def status_parts(monitor: Monitor, now: float) -> list[tuple[str, str]]:
    """The header after the clock: host, driver and CUDA, then each source's state and age,
    as (text, status-bar component class) parts."""
    snap = monitor.latest
    parts: list[tuple[str, str]] = [("gputop", "status-bar--title")]
    versions = []
    if snap and snap.driver_version:
        versions.append(f"driver {snap.driver_version}")
    if snap and snap.cuda_version:
        versions.append(f"CUDA {snap.cuda_version}")
    parts.append((" ".join([snap.host if snap else monitor.host, *versions]), "status-bar--off"))
    for name, state in monitor.states().items():
        stands_in = name != "prometheus" and monitor.remote is not None
        part = source_part(name, state, now, stands_in=stands_in, remote=name == "prometheus")
        if part is None:
            continue
        text, cls = part
        if cls == _BAD and state.status is not SourceStatus.STALE:  # failing: when it tries again
            text += _retry(state.retry_at, now)
        parts.append((text, cls))
    engine = monitor.rules
    if engine is not None and engine.error is not None and monitor.state("prometheus").ok:
        parts.append((f"✖ rules: {engine.error}{_retry(engine.retry_at, now)}", _BAD))
    own = monitor.own_lag_s()
    if own >= _OWN_LAG_SHOWN_S:  # gputop itself behind with a refresh: not the engine's doing
        parts.append((f"✖ gputop {_lag_words(own)} late", _BAD))
    lost = monitor.lost_count()
    if lost:
        parts.append((f"✖ {lost} GPU{'s' if lost != 1 else ''} lost", _BAD))
    return parts


_BAD = "status-bar--bad"


def _retry(retry_at: float | None, now: float) -> str:
    """ ", retry in 4s" while a failing source waits for its next try."""
    if retry_at is None:
        return ""
    return f", retry in {format_duration(max(0.0, float(math.ceil(retry_at - now))))}"


#: Lags shorter than this read "now" in the header.
_LAG_SHOWN_S = 2.0
#: gputop's own lag shows from this long: a big fleet's first fetch takes a few seconds.
_OWN_LAG_SHOWN_S = 5.0
#: A lag is shown in steps of this many seconds below two minutes, so it repaints rarely.
_LAG_STEP_S = 5.0


def source_part(
    name: str, state: SourceState, now: float, *, stands_in: bool = False, remote: bool = False
) -> tuple[str, str] | None:
    """How the header words one source: (text, status-bar class); None when it is off.

    Freshness is the age of the newest sample, not of the last answer: `● prometheus now`,
    `● prometheus 30s behind` (an engine that shows data late, like VictoriaMetrics),
    `✖ prometheus STALE, newest 45s ago` (it answers, nothing new), `✖ prometheus:
    unreachable, stale 2m`. `stands_in`: another source covers for this unavailable one.
    `remote`: an engine gputop asks, whose freshness is judged as of its last answer.
    """
    status = state.status.value
    if status == "off":
        return None
    newest = state.newest if state.newest is not None else state.last_ok
    age = None if newest is None else max(0.0, now - newest)
    if state.ok:
        # a remote engine's lag is its own as of its last answer: gputop's own lag in asking
        # is a part of its own (see `status_parts`), never blamed on the engine
        asked = state.last_ok if remote and state.last_ok is not None else now
        behind = None if newest is None else max(0.0, min(now, asked) - newest)
        return f"● {name} {_freshness(behind, state.interval_s, state.lag_s)}", "status-bar--ok"
    if status == "unavailable" and stands_in:
        return f"✖ {name} unavailable", "status-bar--off"
    if status == "stale":
        return f"✖ {name} STALE, newest {format_age(age)} ago", "status-bar--bad"
    stale = f", stale {format_age(age)}" if age is not None else ""
    return f"✖ {name}: {state.reason}{stale}", "status-bar--bad"


def _freshness(age: float | None, interval_s: float | None, lag_s: float | None = None) -> str:
    """`now` while the newest sample is as new as the sampling allows; else how far behind:
    the engine's own lag (VictoriaMetrics shows data 30 s late), or how long the next sample
    is overdue (a late scrape), whichever is more. Neither moves with the phase of a slow
    scrape, so the words stay put between samples."""
    if age is None:
        return "no data"
    behind = max(lag_s or 0.0, age - (interval_s or 0.0))
    if behind < _LAG_SHOWN_S:
        return "now"
    return f"{_lag_words(behind)} behind"


def _lag_words(seconds: float) -> str:
    """A lag in steps of 5 s below two minutes, of a minute above: it repaints rarely."""
    if seconds < 120:
        return format_duration(max(_LAG_STEP_S, round(seconds / _LAG_STEP_S) * _LAG_STEP_S))
    return format_duration(seconds // 60 * 60)
