"""When the rule manager evaluates a group, and how a range is cut into range queries.

Prometheus evaluates a group at fixed slots: multiples of its interval plus an offset that
the group's name and file decide (`Group.EvalTimestamp`), the same for the group's whole life;
the `lastEvaluation` it reports in `/api/v1/rules` is one of those slots. A backtest evaluates
at the same slots: the offset is taken from the server's `lastEvaluation` when the group is
loaded there, else it is 0, so evaluations fall on multiples of the interval since the epoch
(where vmalert evaluates). A range query with `step` = the interval, whose start is one of
those slots, is evaluated at exactly those instants, each with an instant query's lookback:
each of its points is what one evaluation saw.

Times are kept in integer milliseconds, as Prometheus keeps them, so `for: 30s` at a 10 s
interval is three steps, never 2.9999.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["CHUNK_STEPS", "MAX_POINTS", "Grid", "ms", "steps_for"]

#: The most points a range query may return per series (Prometheus refuses more).
MAX_POINTS = 11_000
#: Steps per range query: under MAX_POINTS, and small enough that a fleet's answer stays a
#: few MB (256 series × 720 points ≈ 6 MB of JSON).
CHUNK_STEPS = 720


def ms(seconds: float) -> int:
    """Seconds as integer milliseconds."""
    return round(seconds * 1000)


def steps_for(duration_s: float, step_ms: int) -> int:
    """Whole evaluations needed for `duration_s` to pass: the rule manager fires a `for: 15s`
    rule at a 10 s interval on the third evaluation (20 s after it went pending)."""
    return -(-ms(duration_s) // step_ms) if duration_s > 0 else 0


@dataclass(frozen=True, slots=True)
class Grid:
    """Evaluation times `first_ms + i * step_ms` for i in range(count); those from `start`
    (index `start_index`) are reported, the ones before it only warm the state machine up."""

    first_ms: int
    step_ms: int
    count: int
    start_index: int = 0

    @classmethod
    def over(
        cls,
        start: float,
        end: float,
        step_s: float,
        *,
        offset_s: float = 0.0,
        warmup_s: float = 0.0,
    ) -> Grid:
        """The slots `offset + k * step` in [start - warmup, end]."""
        step = max(1, ms(step_s))
        offset = ms(offset_s) % step
        lo, first_reported, hi = ms(start - warmup_s), ms(start), ms(end)
        first = offset + math.ceil((lo - offset) / step) * step
        count = max(0, (hi - first) // step + 1)
        start_index = min(count, max(0, math.ceil((first_reported - first) / step)))
        return cls(first, step, count, start_index)

    @property
    def step_s(self) -> float:
        return self.step_ms / 1000.0

    def time(self, index: int) -> float:
        """Epoch seconds of evaluation `index`."""
        return (self.first_ms + index * self.step_ms) / 1000.0

    @property
    def reported(self) -> range:
        return range(self.start_index, self.count)

    def index(self, t: float) -> int | None:
        """The evaluation a returned point belongs to (nearest slot), None outside the grid."""
        i = round((ms(t) - self.first_ms) / self.step_ms)
        return i if 0 <= i < self.count else None

    def chunks(self, steps: int = CHUNK_STEPS) -> Iterator[tuple[int, int]]:
        """(first, last) index of each range query, inclusive; at most `steps` points each."""
        steps = max(1, min(steps, MAX_POINTS))
        for lo in range(0, self.count, steps):
            yield lo, min(self.count, lo + steps) - 1

    def coarse(self, points: int) -> Grid:
        """A grid over the same span with at most `points` slots (for presence checks)."""
        if self.count <= points:
            return self
        factor = -(-self.count // points)
        return Grid(self.first_ms, self.step_ms * factor, -(-self.count // factor), 0)
