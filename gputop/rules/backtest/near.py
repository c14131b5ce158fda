"""gputop's "near firing", replayed over history: the one place the backtest calls it.

At every evaluation the dashboard gives each inactive series of a rule a status from its
compared value and that value's recent history (`rules.model.series_status`: the margin and
the trend), and the rules engine passes the statuses through its `StatusKeeper` (near
hysteresis, `rules.settle`). `NearReplay` runs exactly that pipeline, with the same
`ValueHistory`, at each evaluation of the backtest, so whatever the near logic becomes, the
backtest scores it as it is; nothing here decides what is near.

A warning is a series entering near. It comes true when the series starts firing within the
horizon: the longest the near logic looks ahead (its trend window, `max(for, 3m)`), then the
time a crossing takes to fire: the evaluation that sees the value past the threshold (one
interval), `for` in whole intervals, and one interval more for the age of the value an
evaluation reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final

from gputop.core.labels import LabelKey
from gputop.promql.analysis import Analysis
from gputop.rules.backtest.machine import FIRING, PENDING
from gputop.rules.model import TREND_MIN_WINDOW_S, AlertState, RuleDef, ValueHistory, series_status
from gputop.rules.settle import StatusKeeper

__all__ = ["NearReplay", "horizon_s"]

_STATES: Final[dict[int, AlertState]] = {PENDING: "pending", FIRING: "firing"}


def horizon_s(rule: RuleDef) -> float:
    """How long after a warning a firing still makes it come true (at the rule's interval)."""
    interval = rule.interval_s or 0.0
    for_s = math.ceil(rule.for_s / interval) * interval if interval > 0 else rule.for_s
    return max(rule.for_s, TREND_MIN_WINDOW_S) + for_s + 2 * interval


class NearReplay:
    """The near logic for one rule, fed one evaluation at a time, oldest first."""

    def __init__(self, rule: RuleDef, analysis: Analysis, *, margin: float, step_s: float) -> None:
        self.rule = rule
        self.analysis = analysis
        self.margin = margin
        # the dashboard's history spans capacity × spacing (15 minutes): as much here, at
        # whichever is the wider of the two steps
        live = ValueHistory()
        spacing = max(step_s, live.spacing_s)
        span = live.capacity * live.spacing_s
        self._history = ValueHistory(
            capacity=max(4, math.ceil(span / spacing)), spacing_s=live.spacing_s
        )
        self._keeper = StatusKeeper(margin=margin)

    def step(self, now: float, series: Iterable[tuple[LabelKey, int, float]]) -> set[LabelKey]:
        """The label sets that are near at `now`, given each one's alert state (the state
        machine's) and compared value (NaN: no value)."""
        rule, history = self.rule, self._history
        idents: list[LabelKey] = []
        statuses = []
        for ident, state, value in series:
            present = value == value
            if present:
                history.record(ident, now, value)
            idents.append(ident)
            statuses.append(
                series_status(
                    rule,
                    _STATES.get(state, "inactive"),
                    now=now,
                    value=value if present else None,
                    labels=dict(ident),
                    margin=self.margin,
                    points=history.points(ident),
                    source="local",
                    analysis=self.analysis,
                )
            )
        history.prune(now)
        settled = self._keeper.settle(statuses)
        return {ident for ident, st in zip(idents, settled, strict=True) if st.state == "near"}
