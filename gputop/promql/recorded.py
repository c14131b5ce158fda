"""Series written by recording rules evaluated locally, so alerting rules built on them work.

Each evaluation of a recording rule appends one point per result series. History is kept as
long as the longest range any rule reads (never more than `MAX_RETENTION_S`) and at most
`MAX_POINTS` per series, so memory stays bounded however long gputop runs; a series that
stops appearing goes stale after Prometheus' lookback, as it would there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from gputop.core.labels import LabelKey

__all__ = ["LOOKBACK_S", "MAX_POINTS", "MAX_RETENTION_S", "RecordedSeries"]

#: Seconds a sample stays current (Prometheus' default lookback delta).
LOOKBACK_S = 300.0
MAX_RETENTION_S = 3600.0
MAX_POINTS = 1024


class RecordedSeries:
    """Recorded series by name, then by labels (without `__name__`): (time, value) points."""

    def __init__(self, retention_s: float = LOOKBACK_S) -> None:
        self.retention_s = min(max(retention_s, LOOKBACK_S), MAX_RETENTION_S)
        self._series: dict[str, dict[LabelKey, deque[tuple[float, float]]]] = {}

    def record(self, name: str, now: float, values: Mapping[LabelKey, float]) -> None:
        series = self._series.setdefault(name, {})
        for labels, value in values.items():
            points = series.get(labels)
            if points is None:
                points = series[labels] = deque(maxlen=MAX_POINTS)
            if points and points[-1][0] >= now:
                points.pop()  # evaluated twice at one time: the later value wins
            points.append((now, value))
        horizon = now - self.retention_s
        for labels in list(series):
            points = series[labels]
            while points and points[0][0] < horizon:
                points.popleft()
            if not points:
                del series[labels]

    def series(self, name: str) -> Mapping[LabelKey, deque[tuple[float, float]]]:
        return self._series.get(name, {})

    def latest(self, points: deque[tuple[float, float]], now: float) -> float | None:
        """The value current at `now`: the newest point no later than it, within lookback."""
        for t, value in reversed(points):
            if t <= now:
                return value if now - t <= LOOKBACK_S else None
        return None

    def window(self, points: deque[tuple[float, float]], start: float, end: float) -> list[float]:
        """Values in (start, end]: a range is left-open, as in Prometheus."""
        return [v for t, v in points if start < t <= end]
