"""Rule and status models, and the status logic shared by Prometheus and local evaluation.

Status of a rule per matching series, worst first: firing; pending (fires in for − (now −
activeAt)); near (inactive, but close to its threshold by margin or recent trend: see
`gputop.rules.near`); unknown; ok.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from gputop.core.jobs import jobs_from_labels
from gputop.core.labels import LabelKey, label_key
from gputop.core.models import Job
from gputop.core.series import RingSeries
from gputop.promql.analysis import Analysis, analyse, compare
from gputop.rules.near import assess

__all__ = [
    "DEFAULT_MARGIN",
    "MARGIN_ANNOTATION",
    "AlertFate",
    "AlertState",
    "RecordDef",
    "RuleDef",
    "RuleStatus",
    "State",
    "ValueHistory",
    "analysis_of",
    "parse_margin",
    "series_status",
    "sort_statuses",
    "unknown_status",
]

State = Literal["firing", "pending", "near", "ok", "unknown"]
AlertState = Literal["firing", "pending", "inactive"]
StatusSource = Literal["prometheus", "local"]

#: Near when within this fraction of the threshold.
DEFAULT_MARGIN = 0.10
#: The annotation that overrides the margin of one rule ("5%" or "0.05").
MARGIN_ANNOTATION = "gputop_margin"
_HISTORY_SHOWN = 60  # values kept on a status for its sparkline

_STATE_RANK = {"firing": 0, "pending": 1, "near": 2, "unknown": 3, "ok": 4}
_SEVERITY_RANK = {"critical": 0, "page": 0, "error": 1, "warning": 2, "info": 3}


@dataclass(frozen=True, slots=True)
class RuleDef:
    """An alerting rule as written: from a rule file, the built-in pack or Prometheus."""

    name: str
    expr: str
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    severity: str | None = None
    source: str | None = None  # "file:line" where the rule was written
    margin: float | None = None  # fraction of the threshold; None: the global default
    group: str | None = None
    interval_s: float | None = None  # its group's evaluation interval; None: every reading

    @property
    def analysis(self) -> Analysis:
        """The expression's comparisons and selectors (raises PromQLSyntaxError)."""
        return analysis_of(self.expr)


FateState = Literal["active", "suppressed", "missing"]


@dataclass(frozen=True, slots=True)
class AlertFate:
    """What Alertmanager did with a rule's alert (see `gputop.rules.fate`).

    `state` is None when Alertmanager is not expected to hold the alert (not firing, or too
    recently); `silences` are (id, created by, ends at) of the silences covering it. While
    Alertmanager cannot be read, `failing` is set: the fate is the last known one, as of
    `stale_since` (the last good answer; None: there never was one).
    """

    state: FateState | None = None
    silences: tuple[tuple[str, str, float | None], ...] = ()
    inhibited_by: tuple[str, ...] = ()  # names of the inhibiting alerts
    receivers: tuple[str, ...] = ()
    failing: bool = False
    stale_since: float | None = None

    @property
    def touched(self) -> bool:
        """Whether Alertmanager has a say about this row (its alert, a silence covering it)."""
        return self.state is not None or bool(self.silences or self.inhibited_by)

    def as_json(self) -> dict[str, object]:
        return {
            "state": self.state,
            "silenced_by": [silence_id for silence_id, _, _ in self.silences],
            "inhibited_by": list(self.inhibited_by),
            "receivers": list(self.receivers),
            "stale": self.failing,
            "stale_since": self.stale_since,
        }


@dataclass(frozen=True, slots=True)
class RecordDef:
    """A recording rule as written: the series `name` is `expr` with `labels` set."""

    name: str
    expr: str
    labels: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None  # "file:line" where the rule was written
    group: str | None = None


@dataclass(frozen=True, slots=True)
class RuleStatus:
    """One rule's state for one series (or for the whole rule when it has none)."""

    name: str
    state: State
    severity: str | None = None
    value: float | None = None
    op: str | None = None
    threshold: float | None = None
    fires_in_s: float | None = None  # pending: time left until it fires
    eta_s: float | None = None  # near by trend: time until the trend crosses
    reason: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    source: StatusSource = "prometheus"
    history: tuple[float, ...] = ()  # recent compared values, oldest first
    history_step_s: float | None = None  # seconds between them (None: not known)
    active_at: float | None = None
    query: str | None = None
    origin: str | None = None  # the rule's file:line
    margin: float | None = None  # the fraction of the threshold that counts as near
    for_s: float | None = None  # the rule's `for:`, when known
    alertmanager: AlertFate | None = None  # None: no Alertmanager configured
    jobs: tuple[Job, ...] = ()  # who is on its GPU, when its labels name none (see Monitor)

    @property
    def who(self) -> tuple[Job, ...]:
        """Who is on its GPU: the pod or Slurm job its own labels name (dcgm-exporter's, kept
        by the rule), else the jobs the monitor found on the GPU it is about."""
        return jobs_from_labels(self.labels) or self.jobs

    @property
    def fires_at(self) -> float | None:
        """Pending: when it fires if the condition keeps holding (activeAt + for)."""
        if self.state != "pending" or self.active_at is None or self.for_s is None:
            return None
        return self.active_at + self.for_s

    @property
    def firing_since(self) -> float | None:
        """Firing: when it started firing. Prometheus' activeAt is when it went *pending*;
        firing began once the condition had held for `for`."""
        if self.state != "firing" or self.active_at is None:
            return None
        return self.active_at + (self.for_s or 0.0)

    @property
    def key(self) -> tuple[str, LabelKey]:
        """The rule and series this status is about."""
        return (self.name, label_key(self.labels, drop=()))

    @property
    def gap(self) -> float | None:
        """Distance to the threshold as a fraction of it (0 at the threshold)."""
        if self.value is None or self.threshold is None:
            return None
        if self.op is not None and compare(self.op, self.value, self.threshold):
            return 0.0  # already across: the closest there is
        return abs(self.value - self.threshold) / max(abs(self.threshold), 1e-12)

    def sort_key(self) -> tuple[object, ...]:
        inf = math.inf
        if self.state == "firing":
            detail: tuple[object, ...] = (_SEVERITY_RANK.get(self.severity or "", 4),)
        elif self.state == "pending":
            detail = (inf if self.fires_in_s is None else self.fires_in_s,)
        elif self.state == "near":
            gap = self.gap
            detail = (inf if gap is None else gap, inf if self.eta_s is None else self.eta_s)
        else:
            detail = ()
        return (_STATE_RANK[self.state], *detail, self.name, sorted(self.labels.items()))

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state,
            "severity": self.severity,
            "value": self.value,
            "op": self.op,
            "threshold": self.threshold,
            "fires_in_s": self.fires_in_s,
            "eta_s": self.eta_s,
            "reason": self.reason,
            "labels": dict(self.labels),
            "source": self.source,
            "origin": self.origin,
            "query": self.query,
            "active_at": self.active_at,
            "alertmanager": None if self.alertmanager is None else self.alertmanager.as_json(),
            "for_s": self.for_s,
            "firing_since": self.firing_since,
            "jobs": [job.as_json() for job in self.who],
        }


def sort_statuses(statuses: Iterable[RuleStatus]) -> list[RuleStatus]:
    """Worst first: firing, pending (sooner first), near (closer first), unknown, ok."""
    return sorted(statuses, key=RuleStatus.sort_key)


@lru_cache(maxsize=8192)  # a big server's rule set, each parsed once
def analysis_of(expr: str) -> Analysis:
    return analyse(expr)


def parse_margin(text: str) -> float:
    """A margin as "5%" or as a fraction "0.05"; raises ValueError."""
    s = text.strip()
    value = float(s[:-1]) / 100.0 if s.endswith("%") else float(s)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"not a margin: {text!r} (use e.g. 10% or 0.1)")
    return value


def series_status(
    rule: RuleDef,
    state: AlertState,
    *,
    now: float,
    value: float | None = None,
    labels: Mapping[str, str] | None = None,
    active_at: float | None = None,
    margin: float = DEFAULT_MARGIN,
    points: Sequence[tuple[float, float]] = (),
    shown: Sequence[float] | None = None,
    step_s: float | None = None,
    source: StatusSource = "prometheus",
    analysis: Analysis | None = None,
) -> RuleStatus:
    """The status of one series of a rule, given its alert state and compared value.

    Firing and pending come from the alert state as given; near/ok only ever refine
    "inactive", so the status always agrees with the evaluator's own state. `points` is the
    recent series of the compared value as evaluated (its last point is `value`), which near
    is judged from; `shown` the values of its sparkline (default: those of `points`),
    `step_s` apart.
    """
    analysis = analysis or rule.analysis
    comparison = analysis.comparison
    margin = margin if rule.margin is None else rule.margin
    if value is None and points:
        value = points[-1][1]
    elif value is not None and (not points or points[-1][1] != value):
        points = [*points, (now, value)]
    reason: str | None = None
    fires_in: float | None = None
    eta: float | None = None
    status: State
    if state == "firing":
        status = "firing"
    elif state == "pending":
        status = "pending"
        if active_at is not None:
            fires_in = max(0.0, rule.for_s - (now - active_at))
    elif comparison is None:
        status, reason = "ok", "no threshold to compare"
    else:
        status, eta, reason = assess(
            comparison, points, margin=margin, for_s=rule.for_s, now=now, gated=analysis.gated
        )
    sparkline = [v for _, v in points] if shown is None else list(shown)
    return RuleStatus(
        name=rule.name,
        state=status,
        severity=rule.severity,
        value=None if value is None or math.isnan(value) else value,
        op=comparison.op if comparison else None,
        threshold=comparison.threshold if comparison else None,
        fires_in_s=fires_in,
        eta_s=eta,
        reason=reason,
        labels=dict(labels or {}),
        source=source,
        history=tuple(sparkline[-_HISTORY_SHOWN:]),
        history_step_s=step_s,
        active_at=active_at,
        query=comparison.query if comparison else None,
        origin=rule.source,
        margin=margin,
        for_s=rule.for_s,
    )


def unknown_status(
    rule: RuleDef,
    reason: str,
    *,
    source: StatusSource = "prometheus",
    labels: Mapping[str, str] | None = None,
) -> RuleStatus:
    comparison = None
    with contextlib.suppress(ValueError):  # an unparsable rule is unknown for that reason
        comparison = rule.analysis.comparison
    return RuleStatus(
        name=rule.name,
        state="unknown",
        severity=rule.severity,
        op=comparison.op if comparison else None,
        threshold=comparison.threshold if comparison else None,
        reason=reason,
        labels=dict(labels or {}),
        source=source,
        query=comparison.query if comparison else None,
        origin=rule.source,
        margin=rule.margin,
        for_s=rule.for_s,
    )


class ValueHistory:
    """Recent compared values per (rule, series), for trends and sparklines.

    Points closer than `spacing_s` to the previous one replace nothing and are skipped, so
    memory is bounded by `capacity` points per series whatever the refresh rate; series not
    seen for `max_age_s` are dropped by `prune`.
    """

    def __init__(
        self, *, capacity: int = 180, spacing_s: float = 5.0, max_age_s: float = 900.0
    ) -> None:
        self.capacity = capacity
        self.spacing_s = spacing_s
        self.max_age_s = max_age_s
        self._series: dict[Hashable, RingSeries] = {}

    def record(self, key: Hashable, t: float, value: float | None) -> None:
        if value is None or math.isnan(value):
            return
        ring = self._series.get(key)
        if ring is None:
            ring = self._series[key] = RingSeries(self.capacity)
        last = ring.last_time
        if last is None or t - last >= self.spacing_s:
            ring.append(t, value)

    def points(self, key: Hashable) -> list[tuple[float, float]]:
        ring = self._series.get(key)
        if ring is None:
            return []
        return [(t, v) for t, v in ring.items() if v is not None]

    def prune(self, now: float) -> None:
        stale = [
            k
            for k, ring in self._series.items()
            if ring.last_time is None or now - ring.last_time > self.max_age_s
        ]
        for k in stale:
            del self._series[k]

    def __len__(self) -> int:
        return len(self._series)
