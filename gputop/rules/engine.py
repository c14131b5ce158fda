"""The rules engine: the statuses of every alerting rule, from Prometheus or evaluated locally.

- With Prometheus: its own rules and their states (`/api/v1/rules`), with near judged from
  one range query per rule's compared side (never one per series): its last few values at the
  rule's own evaluations, the last the one the rule was evaluated on. A range already read for
  the same evaluation is not asked again.
- Without it: rule files (or the built-in pack) evaluated from the local history, with
  Prometheus' `for` and `keep_firing_for` semantics, their recording rules first.

Either way the statuses pass through a `StatusKeeper` (rows of lost GPUs).
When Prometheus' rules cannot be read, the last statuses stay, with `error` saying why and
`last_ok` since when; retries follow `core.backoff.source_backoff` (1 s doubling to 8 s), so
a Prometheus that comes back is seen within seconds, and `retry_now` skips the wait.

`notes` says what the screen and `--once` should say beside the rules, e.g. that a loaded
file holds no alerting rules (so nothing from it can ever show).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from gputop.core.backoff import source_backoff
from gputop.core.clock import Clock
from gputop.core.labels import LabelKey, label_key
from gputop.core.models import GpuSample
from gputop.core.store import MetricStore
from gputop.rules.local import LocalEvaluator
from gputop.rules.model import (
    DEFAULT_MARGIN,
    RecordDef,
    RuleDef,
    RuleStatus,
    ValueHistory,
    sort_statuses,
)
from gputop.rules.near import TREND_POINTS
from gputop.rules.prometheus import (
    Point,
    QueryError,
    QueryValues,
    alerting_rules,
    compared_windows,
    statuses_from_prometheus,
)
from gputop.rules.settle import StatusKeeper
from gputop.sources.base import SourceError
from gputop.sources.prometheus.rulesapi import PromRuleGroup

if TYPE_CHECKING:
    from gputop.sources.prometheus.client import PrometheusClient

__all__ = [
    "NO_RULES_NOTE",
    "RECENT_EVALUATIONS",
    "RulesEngine",
    "check_status",
    "recent_points",
    "with_margins",
]

#: What the rules panel says when the rules API lists no alerting rule (short: it is one line).
NO_RULES_NOTE = "no alerting rules: for VictoriaMetrics add vmalert"


def with_margins(rules: Sequence[RuleDef], margins: Mapping[str, float]) -> list[RuleDef]:
    """Rules with per-rule margins (percent, from the config) applied."""
    return [
        dataclasses.replace(r, margin=margins[r.name] / 100.0) if r.name in margins else r
        for r in rules
    ]


class RulesEngine:
    def __init__(
        self,
        rules: Sequence[RuleDef],
        *,
        clock: Clock,
        margin: float = DEFAULT_MARGIN,
        origin: str = "built-in rules",
        records: Sequence[RecordDef] = (),
        notes: Sequence[str] = (),
    ) -> None:
        self.clock = clock
        self.margin = margin
        self.origin = origin
        self.rules = list(rules)
        self.records = tuple(records)
        self.groups: tuple[PromRuleGroup, ...] = ()  # Prometheus' rules, as last read
        self.notes = tuple(notes)
        self.local = LocalEvaluator(self.rules, clock=clock, margin=margin, records=records)
        self.statuses: list[RuleStatus] = []
        self.error: str | None = None  # why Prometheus' rules could not be read
        self.last_ok: float | None = None  # when Prometheus' rules were last read
        self.note: str | None = None  # why there is nothing to show, when it is not an error
        self._history = ValueHistory()
        self._keeper = StatusKeeper()
        # compared query -> the range last read of it, and what it answered
        self._read: dict[str, tuple[tuple[float, float], QueryValues]] = {}
        self._backoff = source_backoff()
        self._retry_at = 0.0  # no request before this: backoff, or the next evaluation

    @property
    def retry_at(self) -> float | None:
        """When Prometheus is asked again after a failure; None while it answers."""
        return self._retry_at if self.error is not None else None

    def retry_now(self) -> None:
        """Ask Prometheus at the next refresh, without waiting for the backoff."""
        self._retry_at = 0.0

    def evaluate_local(self, store: MetricStore, gpus: Sequence[GpuSample]) -> None:
        lost = [g for g in gpus if g.state == "lost"]
        self.statuses = sort_statuses(self._keeper.settle(self.local.evaluate(store, gpus), lost))

    async def refresh_prometheus(
        self,
        client: PrometheusClient,
        lost: Sequence[GpuSample] = (),
        *,
        rules_client: PrometheusClient | None = None,
        lag_s: float = 0.0,
    ) -> None:
        """Prometheus' rules and states (from `rules_client` when the ruler is elsewhere, e.g.
        vmalert not proxied by VictoriaMetrics), plus one instant query per compared side.

        On failure the last statuses stay (see `error`, `last_ok`); `lost` are the GPUs lost
        now, whose rows stay listed; `lag_s`: how late the engine shows its data."""
        now = self.clock.now()
        if now < self._retry_at:
            return
        try:
            groups = await (rules_client or client).rules()
            values: dict[str, QueryValues] = {}
            windows = compared_windows(alerting_rules(groups), now=now, lag_s=lag_s)
            for query, window in windows.items():
                held = self._read.get(query)
                if held is not None and held[0] == window:
                    values[query] = held[1]  # the same evaluation: nothing new to read
                    continue
                values[query] = await _recent(client, query, *window)
                if not isinstance(values[query], QueryError):
                    self._read[query] = (window, values[query])
            self._read = {q: r for q, r in self._read.items() if q in windows}
        except SourceError as exc:
            self.error = exc.reason
            self._retry_at = now + self._backoff.next_delay()
            return
        try:
            statuses = statuses_from_prometheus(
                groups,
                values,
                now=now,
                margin=self.margin,
                history=self._history,
            )
        except Exception as exc:  # rules no evaluation expects: Prometheus' answer is at fault
            self.error = f"rules that cannot be shown ({type(exc).__name__})"
            self._retry_at = now + self._backoff.next_delay()
            return
        self._backoff.reset()
        self.groups = tuple(groups)
        self._retry_at = _next_read(groups, now)
        self.error = None
        self.last_ok = now
        self.origin = "Prometheus"
        # VictoriaMetrics answers /api/v1/rules empty unless vmalert is behind it
        self.note = None if alerting_rules(groups) else NO_RULES_NOTE
        self.statuses = sort_statuses(self._keeper.settle(statuses, lost))


#: How many of a rule's latest evaluations its compared value is read at: the recent series
#: its near is judged from (`rules.near`), the last of them the one evaluated.
RECENT_EVALUATIONS = TREND_POINTS + 1


async def _recent(client: PrometheusClient, query: str, end: float, step: float) -> QueryValues:
    """The values of a compared query at its rule's last `RECENT_EVALUATIONS` evaluations, per
    series; only the series present at the last of them (the one evaluated)."""
    try:
        answer = await client.query_range(query, end - (RECENT_EVALUATIONS - 1) * step, end, step)
    except SourceError as exc:
        return QueryError(exc.reason)
    out: dict[LabelKey, list[Point]] = {}
    for series in answer:
        points = recent_points(series.points, end, step)
        if points is not None:
            out[label_key(series.labels, drop=())] = points
    return out


def recent_points(
    points: Iterable[tuple[float, float | None]], end: float, step: float
) -> list[Point] | None:
    """One series of a compared query over its rule's last evaluations (ending at `end`, `step`
    apart) as near reads it: its values, when it has one at the last evaluation (within a
    step: an engine may align a range to its step), else None. A backtest reads it alike."""
    kept = [(t, v) for t, v in points if v is not None]
    return kept if kept and kept[-1][0] >= end - step else None


#: Prometheus' evaluation of a group takes a moment: its result is asked this long after.
_AFTER_EVALUATION_S = 0.5


def _next_read(groups: Sequence[PromRuleGroup], now: float) -> float:
    """When to ask the rules again: within `_refresh_period`, and just after the soonest
    evaluation due, so what is shown is never an evaluation behind (a one-shot run reads the
    newest one too)."""
    due = [
        rule.last_evaluation + group.interval_s + _AFTER_EVALUATION_S
        for group in groups
        if group.interval_s > 0
        for rule in group.rules
        if rule.last_evaluation is not None
    ]
    return max(now + 1.0, min(now + _refresh_period(groups), min(due, default=math.inf)))


def _refresh_period(groups: Sequence[PromRuleGroup]) -> float:
    """Prometheus changes rule states only at its evaluation interval: ask no more often
    (at most every 5 s, so a countdown on screen keeps moving)."""
    intervals = [g.interval_s for g in groups if g.interval_s > 0]
    return min(5.0, max(1.0, min(intervals, default=5.0)))


def check_status(
    statuses: Sequence[RuleStatus], *, sources_failing: bool, lost_gpus: int = 0
) -> int:
    """Monitoring-plugin exit status: 2 firing or a GPU lost, 3 unknown or unreachable,
    1 near or pending, 0 ok.

    A rule that is unknown only because it needs Prometheus (none is configured) does not
    make the check unknown; it is listed in the JSON with its reason.
    """
    states = {s.state for s in statuses}
    if "firing" in states or lost_gpus:
        return 2
    unknown = any(
        s.state == "unknown" and not (s.reason or "").startswith("needs Prometheus")
        for s in statuses
    )
    if sources_failing or unknown:
        return 3
    if states & {"pending", "near"}:
        return 1
    return 0
