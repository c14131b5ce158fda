"""Time series with a fixed memory bound, windowing and downsampling to fixed time buckets.

Missing values are stored as NaN inside the ring (compact `array('d')`), but nothing NaN
ever leaves this module: readers get `None` for a missing value and empty buckets.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["Bucket", "RingSeries", "bucket_edges"]

_NAN = float("nan")
#: Points a series' buffers hold before they first grow.
_FIRST_SIZE = 64


@dataclass(frozen=True, slots=True)
class Bucket:
    """Aggregate of the present values whose timestamps fall in [start, end)."""

    start: float
    end: float
    count: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    last: float | None = None

    @property
    def empty(self) -> bool:
        return self.count == 0


def bucket_edges(end: float, width_s: float, columns: int) -> list[float]:
    """Edges of `columns` buckets of `width_s`, aligned to multiples of the width.

    The last bucket is the one holding `end`, so the edges only move when a bucket closes:
    a sparkline drawn from them shifts once per bucket, not once per sample.
    """
    if columns <= 0:
        return []
    if width_s <= 0:
        raise ValueError("bucket width must be positive")
    last_start = math.floor(end / width_s) * width_s
    first_start = last_start - (columns - 1) * width_s
    return [first_start + i * width_s for i in range(columns + 1)]


class RingSeries:
    """Timestamps and values in two parallel ring buffers of a bounded capacity.

    Timestamps are kept in non-decreasing order: `append` of an older point is dropped,
    `merge` inserts a batch (e.g. a Prometheus back-fill) in order. The buffers grow (by
    doubling) as points come, up to `capacity`: a series that holds a few minutes of an
    hour's capacity costs memory for those minutes only.
    """

    __slots__ = ("_cap", "_len", "_size", "_start", "_t", "_v")

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self._cap = capacity
        self._size = min(capacity, _FIRST_SIZE)  # the buffers' length now
        self._t = array("d", bytes(8 * self._size))
        self._v = array("d", bytes(8 * self._size))
        self._start = 0
        self._len = 0

    @property
    def capacity(self) -> int:
        return self._cap

    def __len__(self) -> int:
        return self._len

    def _phys(self, i: int) -> int:
        return (self._start + i) % self._size

    def _time_at(self, i: int) -> float:
        return self._t[(self._start + i) % self._size]

    def _value_at(self, i: int) -> float | None:
        v = self._v[(self._start + i) % self._size]
        return None if v != v else v

    def _grow(self) -> None:
        """Full buffers below capacity: up to twice as long. The ring only turns (`_start`
        moves) once they are at capacity, so the points lie in order from index 0 here."""
        size = min(self._cap, 2 * self._size)
        more = bytes(8 * (size - self._size))
        self._t.frombytes(more)
        self._v.frombytes(more)
        self._size = size

    @property
    def first_time(self) -> float | None:
        return self._time_at(0) if self._len else None

    @property
    def last_time(self) -> float | None:
        return self._time_at(self._len - 1) if self._len else None

    def last(self) -> float | None:
        """The newest value, None when missing or empty."""
        return self._value_at(self._len - 1) if self._len else None

    def append(self, t: float, value: float | None) -> bool:
        """Add a point newer than the last; returns False (and drops it) otherwise."""
        if self._len and t <= self._time_at(self._len - 1):
            if t == self._time_at(self._len - 1):
                self._v[self._phys(self._len - 1)] = _clean(value)
                return True
            return False
        if self._len == self._size < self._cap:
            self._grow()
        if self._len < self._size:
            p = self._phys(self._len)
            self._len += 1
        else:
            p = self._start
            self._start = (self._start + 1) % self._size
        self._t[p] = t
        self._v[p] = _clean(value)
        return True

    def merge(self, points: Iterable[tuple[float, float | None]]) -> int:
        """Insert points in time order; a point at an existing timestamp replaces its value.

        Returns how many points were new or changed a value (0: nothing to repaint). Points
        newer than the last take the fast path; a batch reaching back into the series (a
        refresh asking its last few steps again) rewrites only the tail from its first point.
        """
        batch = sorted(points, key=lambda p: p[0])
        if not batch:
            return 0
        last = self.last_time
        if last is None or batch[0][0] > last:
            for t, v in batch:
                self.append(t, v)
            return len(batch)
        newer = [p for p in batch if p[0] > last]
        if self._holds(batch[: len(batch) - len(newer)]):  # the overlap, asked again: as held
            for t, v in newer:
                self.append(t, v)
            return len(newer)
        first, lo = batch[0][0], self._len
        while lo > 0 and self._t[(self._start + lo - 1) % self._size] >= first:
            lo -= 1  # from the end: an overlap reaches back only a few points
        tail = {self._time_at(i): self._v[self._phys(i)] for i in range(lo, self._len)}
        changed = 0
        for t, v in batch:
            value = _clean(v)
            held = tail.get(t)
            if held is None or not (held == value or (held != held and value != value)):
                changed += 1
            tail[t] = value
        if changed:
            self._len = lo  # the tail is written again, merged; at capacity the oldest go
            for t in sorted(tail):
                self.append(t, tail[t])
        return changed

    def _holds(self, points: list[tuple[float, float | None]]) -> bool:
        """Whether every point (oldest first, none newer than the last) is held as it is."""
        i = self._len - 1
        for t, v in reversed(points):
            while i >= 0 and self._time_at(i) > t:
                i -= 1
            if i < 0 or self._time_at(i) != t:
                return False
            held, value = self._v[self._phys(i)], _clean(v)
            if not (held == value or (held != held and value != value)):
                return False
        return True

    def items(self) -> Iterator[tuple[float, float | None]]:
        # whole slices of the two arrays, not an index computation per point: the rules'
        # value histories are read whole at every evaluation
        end = self._start + self._len
        if end <= self._size:
            times, values = self._t[self._start : end], self._v[self._start : end]
        else:
            wrap = end - self._size
            times = self._t[self._start :] + self._t[:wrap]
            values = self._v[self._start :] + self._v[:wrap]
        return zip(times, (None if v != v else v for v in values), strict=True)

    def _index_ge(self, t: float) -> int:
        return bisect_left(_TimeView(self), t)

    def window(self, start: float, end: float) -> list[tuple[float, float | None]]:
        """Points with start <= t <= end, oldest first."""
        lo = self._index_ge(start)
        hi = bisect_right(_TimeView(self), end)
        return [(self._time_at(i), self._value_at(i)) for i in range(lo, hi)]

    def downsample(self, end: float, width_s: float, columns: int) -> list[Bucket]:
        """Aggregate into `columns` fixed time buckets ending with the one holding `end`."""
        edges = bucket_edges(end, width_s, columns)
        if not edges:
            return []
        out: list[Bucket] = []
        i = self._index_ge(edges[0])
        n = self._len
        for b in range(columns):
            lo, hi = edges[b], edges[b + 1]
            count = 0
            total = 0.0
            vmin = math.inf
            vmax = -math.inf
            vlast: float | None = None
            while i < n and self._time_at(i) < hi:
                v = self._v[(self._start + i) % self._size]
                if v == v:
                    count += 1
                    total += v
                    vmin = min(vmin, v)
                    vmax = max(vmax, v)
                    vlast = v
                i += 1
            if count:
                mean = min(vmax, max(vmin, total / count))  # float sums can stray past the ends
                out.append(Bucket(lo, hi, count, vmin, vmax, mean, vlast))
            else:
                out.append(Bucket(lo, hi))
        return out


class _TimeView:
    """A sequence view of a ring's timestamps, for bisect."""

    __slots__ = ("_s",)

    def __init__(self, series: RingSeries) -> None:
        self._s = series

    def __len__(self) -> int:
        return len(self._s)

    def __getitem__(self, i: int) -> float:
        return self._s._time_at(i)


def _clean(value: float | None) -> float:
    if value is None:
        return _NAN
    v = float(value)
    return v if math.isfinite(v) else _NAN
