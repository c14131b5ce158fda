"""One rule replayed over what the engine answered: its state machines, windows and flaps,
and the near logic's warnings scored against the firings.

A rule of the form `<query> <op> <number>` needs one query, its compared side: the alert
expression returns exactly the series whose compared value passes the comparison, so which
series hold at each evaluation is worked out here (and a changed threshold costs no query).
Any other rule's expression is asked as it is, and its compared side, when it has one, for
the near logic.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gputop.core.labels import LabelKey
from gputop.promql.analysis import Analysis, Comparison
from gputop.rules.backtest.grid import Grid, steps_for
from gputop.rules.backtest.history import History, Values
from gputop.rules.backtest.machine import FIRING, INACTIVE, SeriesRun, flap_gap, run_series
from gputop.rules.backtest.near import NearReplay, horizon_s
from gputop.rules.backtest.report import NearScore, Outcome, SeriesResult, Window
from gputop.rules.model import RuleDef

__all__ = ["Cancelled", "Target", "derivable", "replay"]

#: Evaluations between two looks at the cancel flag.
_CANCEL_EVERY = 64


class Cancelled(Exception):
    """The backtest was cancelled."""


@dataclass(frozen=True, slots=True)
class Target:
    """One rule as it is replayed: as written, or a what-if."""

    rule: RuleDef  # `for`, `keep_firing_for` and the expression as replayed
    analysis: Analysis  # of the expression as replayed
    expr: str  # the expression asked of the engine (recorded series it lacks substituted)
    compared: str | None  # the compared query asked, None without a comparison
    derive: bool  # which series hold comes from the compared values
    presence: str | None  # the query whose absence is a gap
    grid: Grid
    margin: float


def derivable(analysis: Analysis) -> bool:
    """Whether the expression is exactly `<query> <op> <number>` (no and/unless, no bool)."""
    comparison = analysis.comparison
    return (
        comparison is not None
        and len(analysis.comparisons) == 1
        and not analysis.gated
        and not comparison.return_bool
    )


def replay(
    target: Target,
    history: History,
    *,
    near: bool = True,
    local: bool = False,
    cancel: threading.Event | None = None,
) -> Outcome:
    """The rule's windows per series, and the near logic's score (without a comparison, or
    with `near=False`, none); `local`: the history is this node's own (see `near`)."""
    grid = target.grid
    rule = target.rule
    gaps = history.gaps.get(target.presence or "") or history.no_gaps()
    values = history.results.get(target.compared or "", {})
    comparison = target.analysis.comparison
    if target.derive and comparison is not None:
        holding = _derived(values, comparison)
    else:
        holding = _present(history.results.get(target.expr, {}))
    runs: dict[LabelKey, SeriesRun] = {}
    for n, (ident, held) in enumerate(holding.items()):
        if cancel is not None and n % _CANCEL_EVERY == 0 and cancel.is_set():
            raise Cancelled()
        runs[ident] = run_series(held, gaps, grid, for_s=rule.for_s, keep_s=rule.keep_firing_for_s)
    score = None
    if near and comparison is not None and values:
        warnings = _warnings(target, values, runs, gaps, local, cancel)
        score = _score(target, warnings, runs)
    series = [_series(ident, run, grid, gaps, rule.for_s) for ident, run in runs.items()]
    kept = tuple(
        sorted((s for s in series if s.firing or s.pending_only), key=lambda s: _order(s.labels))
    )
    return Outcome(kept, score)


def _derived(values: Values, comparison: Comparison) -> dict[LabelKey, bytearray]:
    holds = _HOLDS[comparison.op]
    threshold = comparison.threshold
    out: dict[LabelKey, bytearray] = {}
    for ident, vs in values.items():
        held = bytearray(holds(v, threshold) for v in vs)
        if 1 in held:  # a series that never holds never leaves the inactive state
            out[ident] = held
    return out


_HOLDS: Mapping[str, Callable[[float, float], bool]] = {
    ">": lambda v, t: v > t,
    "<": lambda v, t: v < t,
    ">=": lambda v, t: v >= t,
    "<=": lambda v, t: v <= t,
    "==": lambda v, t: v == t,
    "!=": lambda v, t: v == v and v != t,  # NaN here is "no series", never a match
}


def _present(values: Values) -> dict[LabelKey, bytearray]:
    return {ident: bytearray(v == v for v in vs) for ident, vs in values.items()}


def _warnings(
    target: Target,
    values: Values,
    runs: Mapping[LabelKey, SeriesRun],
    gaps: bytearray,
    local: bool,
    cancel: threading.Event | None,
) -> dict[LabelKey, list[int]]:
    """Where each series entered near (evaluation indices, warm-up included)."""
    near = NearReplay(target.rule, target.analysis, margin=target.margin, local=local)
    grid = target.grid
    idents = list(values)
    columns = [values[i] for i in idents]
    states = [runs[i].states if i in runs else None for i in idents]
    was: set[LabelKey] = set()
    out: dict[LabelKey, list[int]] = {}
    for i in range(grid.count):
        if gaps[i]:
            continue  # no evaluation: near stays as it was
        if cancel is not None and i % _CANCEL_EVERY == 0 and cancel.is_set():
            raise Cancelled()
        rows = [
            (ident, state[i] if state is not None else INACTIVE, column[i])
            for ident, column, state in zip(idents, columns, states, strict=True)
        ]
        now = near.step(i, grid.time(i), rows)
        for ident in now - was:
            out.setdefault(ident, []).append(i)
        was = now
    return out


def _score(
    target: Target, warnings: Mapping[LabelKey, list[int]], runs: Mapping[LabelKey, SeriesRun]
) -> NearScore:
    """Warnings against firings, per series: a warning is judged once a firing follows it
    within the horizon or the horizon has passed within the range; a firing that starts in
    the range is warned when a warning came at most a horizon before it."""
    grid = target.grid
    horizon = horizon_s(target.rule)
    reach = steps_for(horizon, grid.step_ms)
    judged = followed = firings = warned = 0
    leads: list[float] = []
    for ident in set(warnings) | set(runs):
        starts = [a for a, _ in runs[ident].firing] if ident in runs else []
        issued = warnings.get(ident, [])
        for w in issued:
            if w < grid.start_index:
                continue
            if any(w <= f <= w + reach for f in starts):
                judged += 1
                followed += 1
            elif w + reach < grid.count:
                judged += 1
        for f in starts:
            if f < grid.start_index or f == 0:
                continue
            firings += 1
            before = [w for w in issued if f - reach <= w <= f]
            if before:
                warned += 1
                leads.append((f - max(before)) * grid.step_s)
    return NearScore(judged, followed, firings, warned, tuple(leads), horizon)


def _series(
    ident: LabelKey, run: SeriesRun, grid: Grid, gaps: bytearray, for_s: float
) -> SeriesResult:
    first = grid.start_index
    firing = [(a, b) for a, b in run.firing if b >= first]
    pending = [(a, b) for a, b in run.pending_only if b >= first]
    evals = sum(1 for i in range(first, grid.count) if run.states[i] == FIRING and not gaps[i])
    limit = flap_gap(grid, for_s)
    flaps = sum(
        1
        for (_, end), (start, _) in itertools.pairwise(run.firing)
        if start >= first and start - (end + 1) <= limit
    )
    return SeriesResult(
        labels=dict(ident),
        firing=tuple(_window(a, b, grid) for a, b in firing),
        pending_only=tuple(_window(a, b, grid) for a, b in pending),
        firing_s=evals * grid.step_s,
        flaps=flaps,
        fired=sum(1 for a, _ in firing if a >= first and a > 0),
    )


def _window(a: int, b: int, grid: Grid) -> Window:
    return Window(grid.time(max(a, grid.start_index)), grid.time(b))


def _order(labels: Mapping[str, str]) -> tuple[object, ...]:
    """Series by node then GPU number, as the dashboard lists them."""
    gpu = labels.get("gpu", "")
    number = int(gpu) if gpu.isdigit() else math.inf
    host = labels.get("Hostname") or labels.get("instance") or ""
    return (host, number, sorted(labels.items()))
