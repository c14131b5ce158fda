"""gputop's "near firing", replayed over history: the one place the backtest calls it.

The dashboard judges near with one pure function, `rules.near.assess`, of a series' recent
compared values, the last of them the value the rule was evaluated on; firing and pending
series are never near. `NearReplay` calls that function at each evaluation of the backtest
with the inputs the dashboard gives it, so whatever the near logic becomes, the backtest
scores it as it is; nothing here decides what is near:

- against an engine (Prometheus, VictoriaMetrics), as the dashboard reads Prometheus' own
  rules (`rules.engine`, `rules.recent`): the compared values at the rule's last
  `RECENT_EVALUATIONS` evaluations, those the series has a value at;
- against this node's own history (a dashboard without Prometheus), as the local evaluator
  keeps them (`rules.local`): the compared value of every evaluation in a `ValueHistory`.

The rule's own margin (else the configured one), its `for`, and whether an `and`/`unless`
gates its comparison, as `rules.model.series_status` passes them; the clock at the
evaluation.

A warning is a series entering near. It comes true when the series starts firing within the
horizon: the longest the near logic looks ahead (a trend's horizon, `max(for, 3m)`), then the
time a crossing takes to fire: the evaluation that sees the value past the threshold (one
interval), `for` in whole intervals, and one interval more for the age of the value an
evaluation reads.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

from gputop.core.labels import LabelKey
from gputop.promql.analysis import Analysis
from gputop.rules.backtest.machine import INACTIVE
from gputop.rules.model import RuleDef, ValueHistory
from gputop.rules.near import TREND_MIN_HORIZON_S, assess
from gputop.rules.recent import RECENT_EVALUATIONS, recent_points

__all__ = ["NearReplay", "horizon_s"]

Point = tuple[float, float]


def horizon_s(rule: RuleDef) -> float:
    """How long after a warning a firing still makes it come true (at the rule's interval)."""
    interval = rule.interval_s or 0.0
    for_s = math.ceil(rule.for_s / interval) * interval if interval > 0 else rule.for_s
    return max(rule.for_s, TREND_MIN_HORIZON_S) + for_s + 2 * interval


class NearReplay:
    """The near logic for one rule, fed one evaluation at a time, oldest first."""

    def __init__(
        self, rule: RuleDef, analysis: Analysis, *, margin: float, local: bool = False
    ) -> None:
        if analysis.comparison is None:
            raise ValueError(f"{rule.name}: no threshold, no near")
        self.rule = rule
        self.comparison = analysis.comparison
        self.gated = analysis.gated
        self.margin = margin
        self._local = ValueHistory() if local else None  # the local evaluator's
        self._recent: dict[LabelKey, deque[tuple[int, Point]]] = {}  # an engine's

    def step(
        self, index: int, now: float, series: Iterable[tuple[LabelKey, int, float]]
    ) -> set[LabelKey]:
        """The label sets that are near at evaluation `index` (at `now`), given each one's
        alert state (the state machine's) and compared value (NaN: none)."""
        near: set[LabelKey] = set()
        for ident, state, value in series:
            points = self._points(ident, index, now, value)
            if points is None or state != INACTIVE:
                continue  # no row, or its alert state: pending and firing are never near
            verdict, _, _ = assess(
                self.comparison,
                points,
                margin=self.margin,
                for_s=self.rule.for_s,
                now=now,
                gated=self.gated,
            )
            if verdict == "near":
                near.add(ident)
        if self._local is not None:
            self._local.prune(now)
        return near

    def _points(self, ident: LabelKey, index: int, now: float, value: float) -> list[Point] | None:
        """The series' recent compared values, oldest first, as the dashboard holds them at
        this evaluation; None where it shows no row for the series."""
        present = value == value
        if self._local is not None:
            if not present:
                return None
            self._local.record(ident, now, value)
            points = self._local.points(ident)
            if not points or points[-1][0] < now:  # closer than its spacing to the last
                points.append((now, value))
            return points
        recent = self._recent.get(ident)
        if recent is None:
            recent = self._recent[ident] = deque(maxlen=RECENT_EVALUATIONS)
        if present:
            recent.append((index, (now, value)))
        window = [(i, p) for i, p in recent if i > index - RECENT_EVALUATIONS]
        # read in evaluations, not seconds: the same test, with no rounding at its edge
        if recent_points([(i, v) for i, (_, v) in window], index, 1) is None:
            return None
        return [p for _, p in window]
