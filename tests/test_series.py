"""RingSeries: fixed memory bound, time order, windowing and fixed-bucket downsampling."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gputop.core.series import RingSeries, bucket_edges

values = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=64))
gaps = st.floats(min_value=0.001, max_value=120.0)


def _buffers(s: RingSeries) -> tuple[int, int]:
    return (s._t.buffer_info()[1], s._v.buffer_info()[1])


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 300), points=st.lists(st.tuples(gaps, values), max_size=400))
def test_memory_stays_within_bound_for_any_number_of_appends(
    capacity: int, points: list[tuple[float, float | None]]
) -> None:
    s = RingSeries(capacity)
    t = 0.0
    for gap, v in points:
        t += gap
        s.append(t, v)
        # the buffers grow with the points held (doubling from 64), never past the capacity
        size = _buffers(s)[0]
        assert _buffers(s) == (size, size) and size <= capacity
        assert size <= max(64, 2 * len(s)), (size, len(s))
    assert len(s) == min(capacity, len(points))
    times = [p[0] for p in s.items()]
    assert times == sorted(times)
    if points:
        assert s.last_time == pytest.approx(t)


@settings(max_examples=200, deadline=None)
@given(
    columns=st.integers(1, 80),
    width=st.floats(min_value=0.5, max_value=60.0),
    points=st.lists(st.tuples(gaps, values), max_size=300),
)
def test_downsample_returns_n_buckets_in_time_order_and_never_nan(
    columns: int, width: float, points: list[tuple[float, float | None]]
) -> None:
    s = RingSeries(256)
    t = 1_000.0
    for gap, v in points:
        t += gap
        s.append(t, v)
    buckets = s.downsample(t, width, columns)
    assert len(buckets) == columns
    starts = [b.start for b in buckets]
    assert starts == sorted(starts)
    for b in buckets:
        assert b.end == pytest.approx(b.start + width)
        for agg in (b.min, b.max, b.mean, b.last):
            assert agg is None or math.isfinite(agg)
        if b.count:
            assert b.min is not None and b.mean is not None and b.max is not None
            assert b.min <= b.mean + 1e-9 and b.mean <= b.max + 1e-9
        else:
            assert (b.min, b.max, b.mean, b.last) == (None, None, None, None)
    for _, v in s.items():
        assert v is None or math.isfinite(v)


def test_missing_values_are_kept_as_missing_not_zero() -> None:
    s = RingSeries(10)
    s.append(1.0, 5.0)
    s.append(2.0, None)
    s.append(3.0, float("nan"))
    s.append(4.0, 7.0)
    assert list(s.items()) == [(1.0, 5.0), (2.0, None), (3.0, None), (4.0, 7.0)]
    assert s.last() == 7.0


def test_buckets_are_aligned_so_they_shift_only_when_one_closes() -> None:
    assert bucket_edges(125.0, 10.0, 3) == [100.0, 110.0, 120.0, 130.0]
    # any time inside the same bucket gives the same edges
    assert bucket_edges(129.9, 10.0, 3) == bucket_edges(120.0, 10.0, 3)
    assert bucket_edges(130.0, 10.0, 3)[0] == 110.0


def test_downsample_aggregates_per_bucket() -> None:
    s = RingSeries(100)
    for t, v in [(100, 1.0), (104, 3.0), (111, None), (115, 10.0), (119, 20.0)]:
        s.append(float(t), v)
    first, second, third = s.downsample(125.0, 10.0, 3)
    assert (first.count, first.min, first.max, first.mean, first.last) == (2, 1.0, 3.0, 2.0, 3.0)
    assert (second.count, second.mean, second.last) == (2, 15.0, 20.0)
    assert third.empty


def test_window_selects_by_time() -> None:
    s = RingSeries(5)
    for t in range(10):
        s.append(float(t), float(t))
    assert [t for t, _ in s.window(6.0, 8.0)] == [6.0, 7.0, 8.0]
    assert s.first_time == 5.0  # oldest points were dropped at capacity


def test_append_older_point_is_dropped_and_same_time_replaces() -> None:
    s = RingSeries(4)
    assert s.append(10.0, 1.0)
    assert not s.append(5.0, 2.0)
    assert s.append(10.0, 3.0)
    assert list(s.items()) == [(10.0, 3.0)]


def test_merge_backfills_older_points_in_order_within_capacity() -> None:
    s = RingSeries(5)
    s.append(10.0, 10.0)
    s.append(11.0, 11.0)
    added = s.merge([(7.0, 7.0), (8.0, None), (9.0, 9.0), (11.0, 99.0)])
    assert added == 4  # three new points, one changed value
    assert list(s.items()) == [(7.0, 7.0), (8.0, None), (9.0, 9.0), (10.0, 10.0), (11.0, 99.0)]
    s.merge([(12.0, 12.0), (13.0, 13.0)])
    assert len(s) == 5 and s.first_time == 9.0


def test_merge_of_an_overlap_rewrites_only_what_changed() -> None:
    s = RingSeries(6)
    for t in range(10, 16):
        s.append(float(t), float(t))
    assert s.merge([(13.0, 13.0), (14.0, 14.0), (15.0, 15.0)]) == 0  # asked again, same
    assert s.merge([(14.0, None), (15.0, 15.5), (16.0, 16.0)]) == 3  # late values, one new
    assert list(s.items()) == [
        (11.0, 11.0), (12.0, 12.0), (13.0, 13.0), (14.0, None), (15.0, 15.5), (16.0, 16.0)
    ]  # fmt: skip
    assert s.merge([(14.0, None)]) == 0  # missing stays missing: no change
    assert s.merge([(12.5, 1.0)]) == 1 and s.first_time == 12.0  # at capacity the oldest go
    assert s.window(12.0, 13.0) == [(12.0, 12.0), (12.5, 1.0), (13.0, 13.0)]


def _clean(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else v


#: (append?, points): an append of the first point, or a merge of them all
_ops = st.lists(
    st.tuples(st.booleans(), st.lists(st.tuples(st.integers(0, 400), values), min_size=1)),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(capacity=st.integers(1, 200), ops=_ops)
def test_growing_buffers_hold_what_a_fixed_ring_would(
    capacity: int, ops: list[tuple[bool, list[tuple[int, float | None]]]]
) -> None:
    """Appends and merges, wrapping and growing in any order: the newest `capacity` points,
    in time order, the later value of a timestamp given twice (a reference model)."""
    s, model = RingSeries(capacity), dict[float, float | None]()
    for append, points in ops:
        if append:
            t, v = points[0]
            if not model or t >= max(model):
                model[float(t)] = _clean(v)
            s.append(float(t), v)
        else:
            batch = sorted(points, key=lambda p: p[0])
            for t, v in batch:
                model[float(t)] = _clean(v)
            s.merge([(float(t), v) for t, v in batch])
        for old in sorted(model)[: max(0, len(model) - capacity)]:
            del model[old]
        assert list(s.items()) == sorted(model.items()), (capacity, append, points)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RingSeries(0)
