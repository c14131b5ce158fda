"""A fleet's first fetch in bounded memory: range results are compact, merged one GPU at a time.

The first refresh of a 256-GPU fleet brings some 400k points. Held as Python tuples and dicts
all at once they cost ~100 MB of peak resident memory; kept as arrays and merged one GPU and
metric at a time, the transient is a few MB above what the store keeps. Measured with
tracemalloc (allocations, not time), against the fake Prometheus of test_promfeed.
"""

from __future__ import annotations

import math
import tracemalloc
from array import array

import pytest

from gputop.core.clock import FakeClock
from gputop.sources.prometheus.api import PromSeries, parse_matrix
from tests.support.fake_prometheus import T0, FakeProm, make


def test_range_series_keep_sixteen_bytes_a_point() -> None:
    data = {
        "resultType": "matrix",
        "result": [{"metric": {"gpu": "0"}, "values": [[1, "2.5"], [2, "NaN"], [3, "+Inf"]]}],
    }
    (series,) = parse_matrix(data)
    assert isinstance(series.times, array) and isinstance(series.values, array)
    assert series.times.itemsize + series.values.itemsize == 16
    assert series.points == [(1.0, 2.5), (2.0, None), (3.0, math.inf)]
    assert len(series) == 3


def _series(labels: dict[str, str], points: list[tuple[float, float]]) -> PromSeries:
    times, values = zip(*points, strict=True)
    return PromSeries(labels, array("d", times), array("d", values))


def test_a_gpu_reported_twice_fills_only_gaps_and_memory_percent_follows() -> None:
    source, store = make(FakeProm(), FakeClock(T0))
    gpu = {"UUID": "GPU-a", "gpu": "0", "Hostname": "n"}
    nan = math.nan
    results = {
        "memory_used_mib": (
            _series(gpu, [(T0, 10.0), (T0 + 5, nan)]),
            _series(gpu, [(T0, nan), (T0 + 5, 30.0)]),  # the same GPU through another target
        ),
        "memory_free_mib": (_series(gpu, [(T0, 90.0), (T0 + 5, 70.0)]),),
        "temperature_c": (_series(gpu, [(T0, 50.0), (T0 + 5, 51.0)]),),
    }
    source._writer.merge_gpus(results, set(), full=True)
    assert results == {}, "each result is let go once merged"
    assert list(store.series("GPU-a", "memory_used_mib").items()) == [(T0, 10.0), (T0 + 5, 30.0)]
    assert list(store.series("GPU-a", "memory_used_pct").items()) == [(T0, 10.0), (T0 + 5, 30.0)]
    assert list(store.series("GPU-a", "temperature_c").items())[-1] == (T0 + 5, 51.0)


@pytest.mark.slow
async def test_a_fleets_first_fetch_costs_little_above_what_the_store_keeps() -> None:
    fake, clock = FakeProm(hosts=32, gpus=8), FakeClock(T0)
    source, store = make(fake, clock, range_s=900, columns=180)  # 5 s steps, as the dashboard
    tracemalloc.start()
    try:
        await source.refresh()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(source.gpus()) == 256
    series = store._series.values()
    assert sum(len(s) for s in series) >= 256 * 9 * 180
    kept = sum(16 * s.capacity for s in series)  # what the store keeps, by design
    # the fake server's JSON bodies are in the peak too; all the points as Python objects
    # at once would add some 50 MB
    assert peak < kept + 15e6, f"peak {peak / 1e6:.1f} MB, the store {kept / 1e6:.1f} MB"


@pytest.fixture(autouse=True)
def _no_leftover_tracing() -> None:
    assert not tracemalloc.is_tracing()
