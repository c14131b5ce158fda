"""What-ifs: a rule replayed with another threshold, `for` or `keep_firing_for` beside the
original, and `--target N/7d`: the threshold (and, apart, the `for`) that would have fired at
most N times per 7 days over the same history.

The search assumes what a stricter rule does: a higher threshold (for `>`), or a longer
`for`, never fires more often. It bisects candidate thresholds taken from the compared values
themselves (quantiles of what the engine answered in the range) and `for` in whole
evaluation intervals, up to the whole range; each candidate is one replay of data already
fetched, no query. Only rules of the form `<query> <op> <number>` have a threshold to move.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

from gputop.promql.analysis import analyse
from gputop.rules.backtest.history import History
from gputop.rules.backtest.replay import Target, derivable, replay
from gputop.rules.backtest.report import Suggestion
from gputop.rules.backtest.rewrite import with_threshold

__all__ = ["Change", "TargetRate", "changed_target", "suggest"]

_CANDIDATES = 256  # threshold candidates: quantiles of the compared values
_SAMPLE = 50_000  # compared values looked at to pick them


@dataclass(frozen=True, slots=True)
class Change:
    """A what-if for one rule; None leaves that part as written."""

    threshold: float | None = None
    for_s: float | None = None
    keep_firing_for_s: float | None = None

    def merged(self, other: Change) -> Change:
        return Change(
            other.threshold if other.threshold is not None else self.threshold,
            other.for_s if other.for_s is not None else self.for_s,
            other.keep_firing_for_s
            if other.keep_firing_for_s is not None
            else self.keep_firing_for_s,
        )

    def as_dict(self) -> dict[str, float]:
        out = {"threshold": self.threshold, "for_s": self.for_s}
        out["keep_firing_for_s"] = self.keep_firing_for_s
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True, slots=True)
class TargetRate:
    """At most `count` firings per `per_s` seconds (`text` as the user wrote it)."""

    count: float
    per_s: float
    text: str

    def allowed(self, range_s: float) -> float:
        return self.count * range_s / self.per_s


def changed_target(target: Target, change: Change) -> Target:
    """The target replayed with `change` applied (raises RewriteError for a threshold on a
    rule without one)."""
    rule = target.rule
    expr, rule_expr, analysis = target.expr, rule.expr, target.analysis
    if change.threshold is not None:
        expr = with_threshold(target.expr, change.threshold)
        rule_expr = with_threshold(rule.expr, change.threshold)
        analysis = analyse(expr)
    rule = dataclasses.replace(
        rule,
        expr=rule_expr,
        for_s=rule.for_s if change.for_s is None else change.for_s,
        keep_firing_for_s=(
            rule.keep_firing_for_s if change.keep_firing_for_s is None else change.keep_firing_for_s
        ),
    )
    return dataclasses.replace(target, rule=rule, expr=expr, analysis=analysis)


def suggest(target: Target, history: History, rate: TargetRate) -> Suggestion:
    """The loosest threshold and the shortest `for` that stay within `rate`."""
    grid = target.grid
    range_s = (grid.count - grid.start_index) * grid.step_s
    allowed = rate.allowed(range_s)
    comparison = target.analysis.comparison

    def fired(change: Change) -> int:
        return replay(changed_target(target, change), history, near=False).fired

    threshold = threshold_fired = None
    note = None
    if comparison is None or not derivable(target.analysis):
        note = "only a rule of the form <query> <op> <number> has a threshold to move"
    elif comparison.op not in (">", ">=", "<", "<="):
        note = f"no stricter side to a {comparison.op} comparison"
    else:
        rising = comparison.op in (">", ">=")
        values = _candidates(history, target.compared or "", grid.start_index)
        values.add(comparison.threshold)
        ordered = sorted(values, reverse=not rising)  # loosest first
        found = _loosest(ordered, lambda v: fired(Change(threshold=v)) <= allowed)
        if found is None:
            note = "no threshold within the values seen stays within the target"
        else:
            threshold = ordered[found]
            threshold_fired = fired(Change(threshold=threshold))
    longest = max(0, grid.count - grid.start_index)
    steps = list(range(longest + 1))
    at = _loosest(steps, lambda k: fired(Change(for_s=k * grid.step_s)) <= allowed)
    for_s = for_fired = None
    if at is not None:
        for_s = steps[at] * grid.step_s
        for_fired = fired(Change(for_s=for_s))
    return Suggestion(rate.text, allowed, threshold, threshold_fired, for_s, for_fired, note)


def _loosest(ordered: list[float] | list[int], within: Callable[[float], bool]) -> int | None:
    """The first index from which `within` holds, by bisection (it holds on a suffix)."""
    if not ordered or not within(ordered[-1]):
        return None
    lo, hi = 0, len(ordered) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if within(ordered[mid]):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _candidates(history: History, query: str, first: int) -> set[float]:
    """Quantiles of the compared values in the range."""
    seen: list[float] = []
    columns = list(history.results.get(query, {}).values())
    total = sum(len(c) - first for c in columns)
    stride = max(1, total // _SAMPLE)
    for column in columns:
        seen.extend(v for v in column[first::stride] if math.isfinite(v))
    if not seen:
        return set()
    seen.sort()
    count = min(_CANDIDATES, len(seen))
    return {seen[round(k * (len(seen) - 1) / max(1, count - 1))] for k in range(count)}
