"""Whether a rule that is not firing is *near* firing: one pure function of the recent series
of its compared value, so the dashboard, `--once` and a replay over history say the same.

`assess(comparison, points, ...)` reads the series (oldest first; its last point is the value
the rule was evaluated on) and says near or ok, with an ETA and the reason:

- **Margin**: the value is within `margin` of the threshold (a fraction of it).
- **Hysteresis**: once within the margin, it stays near until the value is
  `NEAR_EXIT_MARGINS` margins away, read from the series itself (no hidden state): a value
  hovering at the edge of the margin does not flip its row between NEAR and OK.
- **Trend**: over its last `TREND_POINTS` samples (not a whole `for` window, which remembers
  swings long gone), the value has moved toward the threshold at every step or stood still
  (moves under 0.1 % of the threshold are standing still), never away, and at least twice
  toward it; at its pace (the slower of the window's and its later half's) it would cross
  within the horizon (the rule's `for`, at least `TREND_MIN_HORIZON_S`). The ETA is worked
  out from the last sample and counts down with the clock; an ETA longer than the one the
  previous sample gave (the approach slowing) is not given: a prediction that keeps moving
  away is no prediction. A value falling away from the threshold never has one.
- A value across the threshold of a rule whose own evaluation said otherwise (it crossed
  after that evaluation) is near, "crossed since its evaluation"; behind `and`/`unless` whose
  other side does not hold, it is ok.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Literal

from gputop.core.units import format_duration
from gputop.promql.analysis import Comparison

__all__ = [
    "CROSSED",
    "NEAR_EXIT_MARGINS",
    "TREND_MIN_HORIZON_S",
    "TREND_POINTS",
    "assess",
    "held_near",
    "trend_eta",
]

Verdict = Literal["near", "ok", "unknown"]
Point = tuple[float, float]

#: The trend is read from this many of the newest samples.
TREND_POINTS = 5
#: A trend counts when it crosses within the rule's `for`, but never less than this.
TREND_MIN_HORIZON_S = 180.0
#: A near series leaves near only once its value is this many margins from the threshold.
NEAR_EXIT_MARGINS = 1.5
#: A move smaller than this fraction of the threshold is standing still, not a step.
_NOISE = 0.001
#: The reason of a value across the threshold that the rule's evaluation did not see so.
CROSSED = "crossed since its evaluation: pending at the next one"
_RISING = (">", ">=")
_FALLING = ("<", "<=")


def _toward(comparison: Comparison) -> int:
    """+1 when the value rises toward the threshold, -1 when it falls toward it, 0 neither."""
    return 1 if comparison.op in _RISING else -1 if comparison.op in _FALLING else 0


def _distance(comparison: Comparison, value: float) -> float:
    """How far the value still has to go to the threshold (0 or less: across it)."""
    direction = _toward(comparison)
    if not direction:
        return abs(value - comparison.threshold)
    return (comparison.threshold - value) * direction


def held_near(values: Sequence[float], comparison: Comparison, margin: float) -> bool:
    """Whether the last value is near by the margin with hysteresis, read along the series:
    near from within the margin on, until beyond `NEAR_EXIT_MARGINS` margins."""
    band = margin * abs(comparison.threshold)
    near = False
    for value in values:
        distance = _distance(comparison, value)
        if distance <= band:
            near = True
        elif not _toward(comparison) or distance > NEAR_EXIT_MARGINS * band:
            near = False
    return near


def _pace(points: Sequence[Point], direction: int, noise: float) -> float | None:
    """The pace toward the threshold over these points, per second: None unless no step moved
    away and at least two moved toward (moves within `noise` are standing still). The slower
    of the whole window's pace and its later half's: an approach that slows is not
    extrapolated at the speed it had."""
    steps = [(b[1] - a[1]) * direction for a, b in itertools.pairwise(points)]
    if any(s < -noise for s in steps) or sum(s > noise for s in steps) < 2:
        return None
    later = points[len(points) // 2 :]
    paces = [
        (part[-1][1] - part[0][1]) * direction / (part[-1][0] - part[0][0])
        for part in (points, later)
        if part[-1][0] > part[0][0]
    ]
    pace = min(paces, default=0.0)
    return pace if pace > 0 else None


def _eta_at_last(points: Sequence[Point], comparison: Comparison) -> float | None:
    """Seconds from the last of these points until the threshold, at their pace."""
    direction = _toward(comparison)
    noise = _NOISE * abs(comparison.threshold)
    pace = _pace(points, direction, noise) if direction else None
    if not pace:
        return None
    return _distance(comparison, points[-1][1]) / pace


def trend_eta(
    points: Sequence[Point], comparison: Comparison, *, now: float, horizon_s: float
) -> float | None:
    """Seconds from `now` until the value crosses at the pace of its last `TREND_POINTS`
    samples; None without a consistent approach, beyond the horizon, or when the previous
    sample's window promised sooner (see the module docstring)."""
    if len(points) < TREND_POINTS or _distance(comparison, points[-1][1]) <= 0:
        return None
    eta = _eta_at_last(points[-TREND_POINTS:], comparison)
    if eta is None:
        return None
    if len(points) > TREND_POINTS:
        before = _eta_at_last(points[-TREND_POINTS - 1 : -1], comparison)
        if before is not None and eta > before:
            return None  # it would count up: the approach is slowing
    left = eta - (now - points[-1][0])
    return left if 0 < left <= horizon_s else None


def assess(
    comparison: Comparison,
    points: Sequence[Point],
    *,
    margin: float,
    for_s: float = 0.0,
    now: float,
    gated: bool = False,
) -> tuple[Verdict, float | None, str | None]:
    """Near or ok (unknown without a value), the ETA of a trend and the reason, for a series
    that is not pending or firing; `points` oldest first, the last the value evaluated."""
    value = points[-1][1] if points else None
    if value is None or math.isnan(value):
        return "unknown", None, f"no value for {comparison.query}"
    points = [(t, v) for t, v in points if not math.isnan(v)]
    if comparison.return_bool:
        return "ok", None, "a bool comparison has no margin"
    if comparison.holds(value):
        if gated:
            return "ok", None, "threshold crossed, but the and/unless condition does not hold"
        return "near", None, CROSSED
    if comparison.op == "!=":
        return "ok", None, None
    values = [v for _, v in points]
    horizon = max(for_s, TREND_MIN_HORIZON_S)
    eta = trend_eta(points, comparison, now=now, horizon_s=horizon)
    if _distance(comparison, value) <= margin * abs(comparison.threshold):
        return "near", eta, f"within {margin:.0%} of the threshold"
    if eta is not None:
        return "near", eta, f"trend crosses the threshold in {format_duration(eta)}"
    if held_near(values, comparison, margin):
        return "near", None, f"within {NEAR_EXIT_MARGINS:g}× the margin: near until it moves away"
    return "ok", None, None
