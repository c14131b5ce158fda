"""The alert state machine of Prometheus' rule manager, replayed over a grid of evaluations.

One machine per label set, as `AlertingRule.Eval` (Prometheus 2.42) keeps one alert per label
set: a series whose condition holds goes pending at that evaluation (`activeAt`), fires at
the first evaluation at least `for` after it, and when the condition stops holding a pending
alert is dropped and a firing one resolves, unless `keep_firing_for` keeps it firing until
that long after the first evaluation without the condition. Where the engine had no data at
all (a gap), the machine does not step: the states carry over, so an outage of the engine is
never counted as a resolution.

A firing window runs from its first to its last evaluation in the firing state; a pending
window that never fired, from `activeAt` to its last pending evaluation. A flap is a firing
window that starts within `for` + one interval of the previous one's resolution: the
condition cleared for a single evaluation and came back (`for` counted in whole intervals, as
the rule manager fires).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gputop.rules.backtest.grid import Grid, steps_for

__all__ = ["FIRING", "INACTIVE", "PENDING", "SeriesRun", "flap_gap", "run_series"]

INACTIVE, PENDING, FIRING = 0, 1, 2

Span = tuple[int, int]  # first and last evaluation index, inclusive


@dataclass(slots=True)
class SeriesRun:
    """One label set's replay: windows as evaluation indices, and its state at each one."""

    firing: list[Span] = field(default_factory=list)
    pending_only: list[Span] = field(default_factory=list)
    states: bytearray = field(default_factory=bytearray)


def flap_gap(grid: Grid, for_s: float) -> int:
    """The most evaluations between a resolution and the next firing that count as a flap."""
    return 1 + steps_for(for_s, grid.step_ms)


def run_series(
    holding: Sequence[int], gaps: Sequence[int], grid: Grid, *, for_s: float, keep_s: float
) -> SeriesRun:
    """Replay one label set: `holding[i]` is true when the alert expression returned this
    series at evaluation i; `gaps[i]` when the engine had no data there."""
    n = grid.count
    step = grid.step_ms
    for_ms, keep_ms = round(for_s * 1000), round(keep_s * 1000)
    states = bytearray(n)
    run = SeriesRun(states=states)
    state = INACTIVE
    active = fired = 0  # where it went pending, where it started firing
    last = 0  # the last evaluation (not a gap) in the current state
    keep_since = -1  # the first evaluation without the condition while firing
    for i in range(n):
        if gaps[i]:
            states[i] = state
            continue
        if holding[i]:
            if state == INACTIVE:
                state, active = PENDING, i
            keep_since = -1
        elif state == FIRING:
            if keep_ms > 0:
                if keep_since < 0:
                    keep_since = i
                if (i - keep_since) * step < keep_ms:
                    states[i], last = FIRING, i
                    continue
            run.firing.append((fired, last))
            state, keep_since = INACTIVE, -1
        elif state == PENDING:
            run.pending_only.append((active, last))
            state = INACTIVE
        if state == PENDING and (i - active) * step >= for_ms:
            state, fired = FIRING, i
        states[i], last = state, i
    if state == FIRING:
        run.firing.append((fired, last))
    elif state == PENDING:
        run.pending_only.append((active, last))
    return run
