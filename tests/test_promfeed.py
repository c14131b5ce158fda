"""The range panels against a fake Prometheus that answers range queries from formulas."""

from __future__ import annotations

import itertools
import math

import httpx
import pytest

from gputop.core.clock import FakeClock
from gputop.core.models import SourceStatus
from gputop.core.store import LATENCY_KEY, SERIES_FIELDS, MetricStore
from gputop.sources.prometheus.feed import PrometheusSource
from gputop.sources.prometheus.freshness import OVERLAP_STEPS
from gputop.sources.prometheus.queries import MAX_POINTS, latency_queries
from tests.support.fake_prometheus import T0, FakeProm, make


@pytest.mark.parametrize(
    ("range_s", "columns", "step"),
    [(900, 60, 15.0), (60, 120, 1.0), (300, 300, 1.0), (100_000, 100_000, 10.0), (1, 1, 1.0)],
)
def test_step_is_whole_seconds_and_capped(range_s: float, columns: int, step: float) -> None:
    source, _ = make(FakeProm(), FakeClock(T0), range_s=range_s, columns=columns)
    assert source.step == step
    assert range_s / source.step + 1 <= MAX_POINTS


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="range_s"):
        make(FakeProm(), FakeClock(T0), range_s=0)
    with pytest.raises(ValueError, match="columns"):
        make(FakeProm(), FakeClock(T0), columns=0)


async def test_prefill_then_only_new_points() -> None:
    fake, clock = FakeProm(), FakeClock(T0 + 7)
    source, store = make(fake, clock)  # 900 s in 60 columns: 15 s steps
    await source.refresh()
    assert source.state.status is SourceStatus.OK and source.state.last_ok == T0 + 7
    assert fake.probes() == 1  # the freshness probe, then
    assert len(fake.ranges()) == 12  # 8 dcgm metrics + p50, p95, p99, jobs/min
    assert {(s, e, st) for _, s, e, st in fake.ranges()} == {(T0 - 885, T0, 15.0)}
    key = "GPU-node-0-3"
    temps = list(store.series(key, "temperature_c").items())
    assert len(temps) == 60 and temps[0][0] == T0 - 885 and temps[-1][0] == T0
    assert temps[-1][1] == 50 + 3 + int(T0) % 7

    fake.requests.clear()
    clock.advance(5)  # the next point (T0 + 15) is not due yet: only the probe is asked
    await source.refresh()
    assert fake.probes() == 1 and fake.ranges() == []

    clock.advance(20)  # now T0 + 32: points T0 + 15 and T0 + 30 are new
    await source.refresh()
    overlap = T0 + 15 - OVERLAP_STEPS * 15  # a few steps again, for points that came late
    assert {(s, e) for _, s, e, _ in fake.ranges()} == {(overlap, T0 + 30)}
    assert len(fake.ranges()) == 12
    asked = {q for q, *_ in fake.ranges()}  # labels are known: only identity comes back
    assert (
        "max by (UUID, gpu, GPU_I_ID, Hostname, hostname, instance) (DCGM_FI_DEV_GPU_TEMP)" in asked
    )
    temps = list(store.series(key, "temperature_c").items())
    assert [t for t, _ in temps[-4:]] == [T0 - 15, T0, T0 + 15, T0 + 30]
    assert len(temps) == 62  # merged by timestamp: no duplicates


async def test_memory_percent_and_gpu_readings() -> None:
    fake, clock = FakeProm(hosts=2, gpus=2), FakeClock(T0)
    source, store = make(fake, clock)
    await source.refresh()
    gpus = source.gpus()
    assert [(g.host, g.index) for g in gpus] == [
        ("node-0", 0),
        ("node-0", 1),
        ("node-1", 0),
        ("node-1", 1),
    ]
    g = gpus[1]
    assert (g.uuid, g.name, g.source, g.state) == (
        "GPU-node-0-1",
        "NVIDIA H100 80GB HBM3",
        "prometheus",
        "ok",
    )
    assert g.memory_used_mib == 21_000 and g.memory_total_mib == 81_920
    assert g.memory_used_pct == pytest.approx(100 * 21_000 / 81_920)
    assert g.time == T0
    assert store.series(g.key, "memory_used_pct").last() == pytest.approx(100 * 21_000 / 81_920)
    assert set(SERIES_FIELDS) <= {m for e, m in store._series if e == g.key}
    assert source.labels(g.key)["pod"] == "serve-node-0-1"
    assert source.labels(g.key)["namespace"] == "t2v"
    assert "__name__" not in source.labels(g.key)
    assert source.labels("GPU-unknown") == {}


async def test_lowercase_hostname_and_no_uuid() -> None:
    fake = FakeProm(hosts=1, gpus=2, hostname_label="hostname")
    fake.with_uuid = False
    source, store = make(fake, FakeClock(T0))
    await source.refresh()
    assert [(g.host, g.index, g.key) for g in source.gpus()] == [
        ("node-0", 0, "node-0/0"),
        ("node-0", 1, "node-0/1"),
    ]
    assert store.get("node-0/1", "temperature_c") is not None


async def test_queries_grow_with_panels_not_gpus() -> None:
    counts = []
    for gpus in (8, 256):
        fake = FakeProm(hosts=gpus // 8, gpus=8)
        source, _ = make(fake, FakeClock(T0))
        await source.refresh()
        assert len(source.gpus()) == gpus
        counts.append(len(fake.requests))
    # the probe, the raw samples of each group (its scrape interval), the serving lookup,
    # 12 range queries
    assert counts[0] == counts[1] == 16


async def test_latency_queries_are_the_rules_own() -> None:
    fake, clock = FakeProm(hosts=2), FakeClock(T0 + 600 + 120)
    source, store = make(fake, clock, selector='Hostname="node-1"')
    await source.refresh()
    asked = {q for q, *_ in fake.ranges()}
    p95 = (
        "histogram_quantile(0.95, sum(rate("
        't2v_inference_duration_seconds_bucket{Hostname="node-1"}[5m])) by (le))'
    )
    assert p95 in asked
    assert 'sum(rate(t2v_inference_duration_seconds_count{Hostname="node-1"}[5m])) * 60' in asked
    assert 'DCGM_FI_DEV_GPU_TEMP{Hostname="node-1"}' in asked
    assert {g.host for g in source.gpus()} == {"node-1"}
    latency = source.latency()
    assert latency is not None and latency.time == T0 + 720
    assert latency.p95_s == 200 + 720 % 100 and latency.p50_s == 150
    assert latency.jobs_per_min == 2.5
    nan_point = store.series(LATENCY_KEY, "p95_s").window(T0 + 600, T0 + 600)
    assert nan_point == [(T0 + 600, None)]


def test_selector_with_or_without_braces() -> None:
    plain = latency_queries("h", 'job="x"')
    assert plain == latency_queries("h", '{job="x"}')
    assert latency_queries("h")["p95_s"] == (
        "histogram_quantile(0.95, sum(rate(h_bucket[5m])) by (le))"
    )


async def test_latency_is_none_before_any_data() -> None:
    source, _ = make(FakeProm(), FakeClock(T0))
    assert source.latency() is None
    assert source.gpus() == ()
    assert source.state.status is SourceStatus.UNAVAILABLE


async def test_local_gpus_get_only_older_history() -> None:
    fake, clock = FakeProm(hosts=1, gpus=2), FakeClock(T0)
    store = MetricStore()
    local_key = "GPU-node-0-0"
    for t in (T0 - 100, T0 - 50, T0):  # live NVML readings, already in the store
        store.series(local_key, "temperature_c").append(t, 99.0)
    source, _ = make(fake, clock, store, local_keys=lambda: {local_key})
    await source.refresh()
    points = list(store.series(local_key, "temperature_c").items())
    assert [v for t, v in points if t >= T0 - 100] == [99.0, 99.0, 99.0]
    older = [t for t, _ in points if t < T0 - 100]
    assert older and older[0] == T0 - 885 and older[-1] == T0 - 105
    remote = list(store.series("GPU-node-0-1", "temperature_c").items())
    assert remote[-1][0] == T0  # the other GPU is not local: filled to the end

    clock.advance(30)
    store.series(local_key, "temperature_c").append(T0 + 29, 98.0)
    await source.refresh()
    assert list(store.series(local_key, "temperature_c").items())[-4:] == [
        (T0 - 100, 99.0),
        (T0 - 50, 99.0),
        (T0, 99.0),
        (T0 + 29, 98.0),
    ]
    assert store.series("GPU-node-0-1", "temperature_c").last_time == T0 + 30


async def test_failure_keeps_data_and_backs_off_until_recovery() -> None:
    fake, clock = FakeProm(hosts=1, gpus=2), FakeClock(T0)
    source, store = make(fake, clock)
    await source.refresh()
    before = list(store.series("GPU-node-0-0", "temperature_c").items())
    gpus_before = source.gpus()

    fake.fail_with = httpx.Response(500, text="boom")
    delays = []
    for _ in range(9):
        clock.advance(15)
        await source.refresh()
        state = source.state
        assert state.status is SourceStatus.ERROR
        assert state.reason == "HTTP 500 Internal Server Error: boom"
        assert state.newest == T0  # the newest sample held, still known
        assert state.last_ok == T0
        assert state.retry_at is not None
        delays.append(state.retry_at - clock.now())
        asked = len(fake.requests)
        clock.set(state.retry_at - 0.5)
        await source.refresh()  # before retry_at: nothing is sent
        assert len(fake.requests) == asked
        clock.set(state.retry_at - 15)
    assert delays == [1, 2, 4, 8, 8, 8, 8, 8, 8]  # capped: a comeback is seen within seconds
    assert list(store.series("GPU-node-0-0", "temperature_c").items()) == before
    assert [g.uuid for g in source.gpus()] == [g.uuid for g in gpus_before]

    fake.fail_with = None
    clock.set(source.state.retry_at or 0)
    await source.refresh()
    assert source.state.status is SourceStatus.OK and source.state.reason is None
    assert source.state.last_ok == clock.now()
    assert store.series("GPU-node-0-0", "temperature_c").last_time == (clock.now() // 15) * 15
    fake.fail_with = httpx.Response(500)
    clock.advance(15)
    await source.refresh()
    assert source.state.retry_at == clock.now() + 1  # the backoff starts over

    fake.fail_with = None
    source.retry_now()  # `r`: no waiting for the backoff
    asked = len(fake.requests)
    await source.refresh()
    assert len(fake.requests) > asked and source.state.status is SourceStatus.OK


async def test_unreachable_first_is_unavailable_then_error() -> None:
    fake, clock = FakeProm(), FakeClock(T0)
    fake.fail_with = httpx.ConnectError("[Errno 111] Connection refused")
    source, _ = make(fake, clock)
    await source.refresh()
    assert source.state.status is SourceStatus.UNAVAILABLE
    assert source.state.reason == "unreachable"
    fake.fail_with = None
    clock.advance(1)
    await source.refresh()
    assert source.state.ok
    fake.fail_with = httpx.ConnectError("[Errno 111] Connection refused")
    clock.advance(15)
    await source.refresh()
    errored = source.state  # a new state: the one asserted above is gone
    assert errored.status is SourceStatus.ERROR
    assert errored.reason == "unreachable"
    assert len(source.gpus()) == 8


async def test_query_error_reason() -> None:
    fake = FakeProm()
    fake.fail_with = httpx.Response(
        400, json={"status": "error", "errorType": "bad_data", "error": "parse error"}
    )
    source, _ = make(fake, FakeClock(T0), selector="Hostname=")
    await source.refresh()
    assert source.state.status is SourceStatus.ERROR
    assert source.state.reason == "query error: bad_data: parse error"


async def test_a_surprise_is_recorded_not_raised() -> None:
    fake = FakeProm()
    fake.fail_with = RuntimeError("bug in a transport")
    source, _ = make(fake, FakeClock(T0))
    await source.refresh()
    assert source.state.status is SourceStatus.ERROR
    assert source.state.reason == "internal error: RuntimeError: bug in a transport"


async def test_a_failed_group_asks_its_window_again() -> None:
    fake, clock = FakeProm(hosts=1, gpus=1), FakeClock(T0)
    source, store = make(fake, clock)
    await source.refresh()
    fake.broken = "histogram_quantile(0.99"
    clock.advance(15)
    await source.refresh()
    assert source.state.reason == "HTTP 503 Service Unavailable: busy"
    assert store.series(LATENCY_KEY, "p50_s").last_time == T0  # the group's merge was dropped
    assert store.series("GPU-node-0-0", "power_w").last_time == T0 + 15

    fake.broken = "\0"
    fake.requests.clear()
    clock.advance(1)
    await source.refresh()
    by_query = {q: (s, e) for q, s, e, _ in fake.ranges()}
    assert len(by_query) == 4 and set(by_query.values()) == {
        (T0 + 15 - OVERLAP_STEPS * 15, T0 + 15)
    }
    assert store.series(LATENCY_KEY, "p99_s").last_time == T0 + 15


async def test_after_a_long_outage_only_the_visible_range_is_asked() -> None:
    fake, clock = FakeProm(hosts=1, gpus=1), FakeClock(T0)
    source, _ = make(fake, clock, range_s=3600, columns=3600)
    await source.refresh()
    fake.requests.clear()
    clock.advance(86_400)
    await source.refresh()
    for _, start, end, step in fake.ranges():
        assert start == T0 + 86_400 - 3600 + 1 and end == T0 + 86_400
        assert (end - start) / step + 1 <= MAX_POINTS


async def test_a_gpu_that_stops_reporting_is_lost() -> None:
    fake, clock = FakeProm(hosts=1, gpus=2), FakeClock(T0)
    source, _ = make(fake, clock)
    await source.refresh()
    fake.silent = {("node-0", 1)}
    fake.silent_since = T0 + 1
    for _ in range(120):  # its node goes on reporting
        clock.advance(1)
        await source.refresh()
    state = {g.index: (g.state, g.reason) for g in source.gpus()}
    assert state[0] == ("ok", None)
    assert state[1] == ("lost", "no data from Prometheus for 120 s")
    clock.advance(900)
    await source.refresh()
    assert [g.index for g in source.gpus()] == [0]  # gone for the whole range: not shown


def _lost(source: PrometheusSource) -> set[str]:
    return {f"{g.host}/{g.index}" for g in source.gpus() if g.state == "lost"}


async def test_a_node_is_lost_only_after_missing_its_own_scrapes() -> None:
    fake, clock = FakeProm(hosts=2, gpus=2), FakeClock(T0)
    fake.interval_s = 15.0
    source, _ = make(fake, clock, range_s=300, columns=60)
    await source.refresh()
    fake.dead_hosts["node-1"] = T0 + 1  # node-1's exporter stops; node-0 goes on
    seen = []
    for _ in range(60):
        clock.advance(1)
        await source.refresh()
        seen.append(_lost(source))
        assert source.state.status is SourceStatus.OK
    # its newest sample is T0: lost once 3 of its 15 s scrapes are missed, never before
    assert seen[: 45 - 1] == [set()] * 44 and seen[-1] == {"node-1/0", "node-1/1"}


async def test_after_an_exporter_restart_the_node_scraped_last_is_not_lost() -> None:
    fake, clock = FakeProm(hosts=2, gpus=2), FakeClock(T0)
    source, _ = make(fake, clock, range_s=300, columns=60)
    await source.refresh()
    fake.dead_since = T0 + 1  # the exporter of both nodes restarts: nothing for 90 s
    for _ in range(90):
        clock.advance(1)
        await source.refresh()
        assert _lost(source) == set()  # STALE, not lost: nothing can be told apart
    assert source.state.status is SourceStatus.STALE
    fake.dead_since = math.inf
    fake.dead_hosts["node-1"] = math.inf
    fake.dead_hosts["node-1"] = -math.inf  # node-0 is scraped first ...
    for k in range(20):
        if k == 10:
            del fake.dead_hosts["node-1"]  # ... node-1 at its own turn, 10 s later
        clock.advance(1)
        await source.refresh()
        assert _lost(source) == set(), k
        back = source.state  # a new state each refresh
        assert back.status is SourceStatus.OK


async def test_labels_come_whole_first_then_for_new_gpus_and_every_minute() -> None:
    fake, clock = FakeProm(hosts=1, gpus=2), FakeClock(T0)
    source, store = make(fake, clock)
    await source.refresh()

    def instant_queries() -> int:  # the label queries, not the probes or the raw samples
        asked = sum(r.url.path.endswith("/api/v1/query") for r in fake.requests)
        return asked - fake.probes() - fake.raws()

    fake.gpus.append(("node-0", 2))  # a GPU appears after the first fetch
    clock.advance(15)
    await source.refresh()
    assert instant_queries() == 0
    assert source.labels("GPU-node-0-0")["pod"] == "serve-node-0-0"  # kept from the first fetch
    new = [g for g in source.gpus() if g.index == 2]
    assert new and new[0].name == "" and "pod" not in source.labels("GPU-node-0-2")
    assert store.series("GPU-node-0-2", "temperature_c").last_time == T0 + 15

    clock.advance(15)
    await source.refresh()  # its labels are fetched with the next refresh, in one query
    assert instant_queries() == 1
    assert source.labels("GPU-node-0-2")["pod"] == "serve-node-0-2"
    assert [g.name for g in source.gpus()] == ["NVIDIA H100 80GB HBM3"] * 3

    for _ in range(4):  # and again once a minute, for pods that moved
        clock.advance(15)
        await source.refresh()
    assert instant_queries() == 2


# ---- freshness from the data, and fetches that lose no points -------------------------


async def test_an_engine_that_lags_30s_gives_a_lagging_dashboard_that_moves() -> None:
    fake, clock = FakeProm(hosts=1, gpus=1), FakeClock(T0 + 3)
    fake.lag_s = 30.0  # VictoriaMetrics' -search.latencyOffset default
    source, store = make(fake, clock, range_s=300, columns=300)  # 1 s steps
    key = "GPU-node-0-0"
    ends = []
    for _ in range(60):
        await source.refresh()
        state = source.state
        assert state.status is SourceStatus.OK, state
        assert state.newest == math.floor(clock.now() - 30)
        series = store.series(key, "temperature_c")
        assert series.last_time is not None and series.last_time <= clock.now() - 30
        ends.append(series.last_time)
        clock.advance(1)
    assert ends == sorted(ends) and ends[-1] - ends[0] == 59  # one new point every second
    # and never a copy of an older value passing for a newer one: every point is true
    for t, v in store.series(key, "temperature_c").items():
        assert v == float(fake.value("DCGM_FI_DEV_GPU_TEMP", "node-0", 0, t)), t
    (gpu,) = source.gpus()
    assert gpu.time == ends[-1] and gpu.temperature_c == 50 + int(ends[-1]) % 7


async def test_no_window_reaches_past_the_newest_sample() -> None:
    fake, clock = FakeProm(hosts=1, gpus=1), FakeClock(T0 + 40)
    fake.lag_s = 30.0
    source, _ = make(fake, clock, range_s=300, columns=20)  # 15 s steps
    await source.refresh()
    clock.advance(16)
    await source.refresh()
    assert fake.ranges() and all(end <= T0 + 10 + 16 for _, _, end, _ in fake.ranges())


async def test_late_points_fill_in_on_the_next_fetch() -> None:
    fake, clock = FakeProm(hosts=1, gpus=1), FakeClock(T0)
    source, store = make(fake, clock, range_s=300, columns=300)
    key = "GPU-node-0-0"
    fake.late = {T0 + 1, T0 + 2}  # these temperatures have not arrived yet
    await source.refresh()
    clock.advance(2)
    await source.refresh()
    temps = dict(store.series(key, "temperature_c").items())
    assert T0 + 1 not in temps and T0 + 2 not in temps and temps[T0] is not None
    assert store.series(key, "power_w").last_time == T0 + 2

    fake.late = set()  # they arrive
    clock.advance(1)
    await source.refresh()
    temps = dict(store.series(key, "temperature_c").items())
    assert [temps.get(T0 + k) for k in (1, 2, 3)] == [
        float(fake.value("DCGM_FI_DEV_GPU_TEMP", "node-0", 0, T0 + k)) for k in (1, 2, 3)
    ]


async def test_the_cursor_moves_only_to_the_newest_point_received() -> None:
    fake, clock = FakeProm(hosts=1, gpus=1), FakeClock(T0)
    source, store = make(fake, clock, range_s=300, columns=300)
    await source.refresh()
    fake.dead_since = T0 + 1  # the ranges come back empty ...
    fake.stale_markers = False
    real_horizon = fake.horizon
    fake.horizon = lambda *_: clock.now()  # type: ignore[method-assign]  # ... yet newer data exists
    for _ in range(5):
        clock.advance(1)
        await source.refresh()
    fake.dead_since = math.inf  # the late points arrive
    fake.horizon = real_horizon  # type: ignore[method-assign]
    fake.requests.clear()
    clock.advance(1)
    await source.refresh()
    gpu_windows = {(s, e) for q, s, e, _ in fake.ranges() if q.startswith("max by")}
    assert gpu_windows == {(T0 + 1, T0 + 6)}  # from the newest point held, not the last asked
    assert [t for t, _ in store.series("GPU-node-0-0", "power_w").items()][-7:] == [
        T0 + k for k in range(7)
    ]


async def test_a_dead_target_is_stale_after_the_threshold_while_the_engine_answers() -> None:
    for stale_markers in (True, False):
        fake, clock = FakeProm(hosts=1, gpus=2), FakeClock(T0)
        fake.stale_markers = stale_markers
        source, _ = make(fake, clock, range_s=300, columns=300)
        await source.refresh()
        assert source.stale_after_s == 15.0  # 3 x the 1 s scrape interval, but at least 15 s
        fake.dead_since = T0 + 1  # the exporter dies; the engine goes on answering 200
        seen = []
        for _ in range(18):
            clock.advance(1)
            await source.refresh()
            seen.append(source.state.status)
        assert seen == [SourceStatus.OK] * 15 + [SourceStatus.STALE] * 3, (stale_markers, seen)
        state = source.state
        assert state.newest == T0 and state.last_ok == clock.now()  # answering, nothing new
        assert state.reason == "no new samples for over 15s"
        assert state.age_s(clock.now()) == 18.0
        assert state.as_json(clock.now()) == {
            "state": "stale",
            "reason": "no new samples for over 15s",
            "newest": "2026-01-01T00:00:00+00:00",
            "age_s": 18.0,
        }
        fake.dead_since = math.inf  # back
        clock.advance(1)
        await source.refresh()
        assert source.state.status is SourceStatus.OK and source.state.newest == clock.now()


async def test_at_first_sight_age_is_judged_by_the_engine_clock() -> None:
    lagging, clock = FakeProm(hosts=1, gpus=1), FakeClock(T0)
    lagging.lag_s = 30.0
    source, _ = make(lagging, clock)
    await source.refresh()  # as --once does: one look
    assert source.state.status is SourceStatus.OK
    assert source.state.age_s(clock.now()) == 30.0

    dead, clock = FakeProm(hosts=1, gpus=1), FakeClock(T0)
    dead.dead_since = T0 - 60
    source, _ = make(dead, clock)
    await source.refresh()
    state = source.state
    assert state.status is SourceStatus.STALE and state.newest == T0 - 75  # the 15 s step's
    assert state.as_json(clock.now())["age_s"] == 75.0


async def test_stale_after_follows_the_scrape_interval_or_the_setting() -> None:
    fake, clock = FakeProm(hosts=1, gpus=1), FakeClock(T0)
    fake.interval_s = 15.0
    source, _ = make(fake, clock, refresh_s=2.0)
    assert source.stale_after_s == 15.0  # nothing learned yet: 3 refreshes, at least 15 s
    await source.refresh()
    assert source.stale_after_s == 45.0  # 3 scrape intervals
    fake.interval_s = 1.0
    source, _ = make(fake, clock, refresh_s=7.0)
    await source.refresh()
    assert source.stale_after_s == 21.0  # 3 refreshes, when those are the longer
    source, _ = make(fake, clock, stale_after_s=90.0)
    await source.refresh()
    assert source.stale_after_s == 90.0
    with pytest.raises(ValueError, match="stale_after_s"):
        make(fake, clock, stale_after_s=0.0)


async def test_no_data_at_all_is_ok_with_nothing_newest() -> None:
    fake, clock = FakeProm(hosts=1, gpus=1), FakeClock(T0)
    fake.gpus = []
    fake.dead_since = -math.inf
    source, _ = make(fake, clock)
    await source.refresh()
    clock.advance(60)
    await source.refresh()
    assert source.state.status is SourceStatus.OK and source.state.newest is None
    assert source.gpus() == ()


@pytest.mark.parametrize(("interval_s", "windows"), [(1.0, 1), (10.0, 2), (60.0, 3), (300.0, 4)])
async def test_the_scrape_interval_is_read_from_the_raw_samples_in_growing_windows(
    interval_s: float, windows: int
) -> None:
    fake, clock = FakeProm(hosts=2, gpus=2), FakeClock(T0 + 7)
    fake.interval_s = interval_s
    source, _ = make(fake, clock, refresh_s=1.0)
    await source.refresh()
    assert source.interval_s == interval_s
    assert source.stale_after_s == max(15.0, 3 * interval_s)
    asked = [r.url.params.get("query", "") for r in fake.requests]
    raws = [q for q in asked if q.endswith("s]")]
    assert len(raws) == 2 * windows  # the windows grow until they hold a few samples, per group
    assert all('instance=~"node-0:9400|node-1:9400"' in q for q in raws)
    clock.advance(120)
    fake.requests.clear()
    await source.refresh()
    assert fake.raws() == 0  # learned once; followed from the probe from then on


async def test_a_changed_scrape_interval_is_learned_again_from_the_probe() -> None:
    fake, clock = FakeProm(hosts=1, gpus=1), FakeClock(T0)
    fake.interval_s = 60.0
    source, _ = make(fake, clock, refresh_s=1.0)
    await source.refresh()
    assert source.interval_s == 60.0
    fake.requests.clear()
    fake.interval_s = 15.0  # the scrape config changed
    seen = []
    for _ in range(60):
        clock.advance(1)
        await source.refresh()
        seen.append(source.interval_s)
    assert seen[-1] == 15.0 and source.stale_after_s == 45.0
    assert fake.raws() == 0  # from the probe's answers, not by asking the raw samples again
    fake.interval_s = 60.0  # and back: the first long gap is late by the old interval ...
    states = []
    for _ in range(400):
        clock.advance(1)
        await source.refresh()
        states.append(source.state.status)
    assert source.interval_s == 60.0
    flashes = sum(a != b == SourceStatus.STALE for a, b in itertools.pairwise(states))
    assert flashes <= 1 and set(states[-240:]) == {SourceStatus.OK}  # ... then never again


async def test_a_target_with_no_samples_yet_is_learned_when_they_come() -> None:
    fake, clock = FakeProm(hosts=1, gpus=1), FakeClock(T0)
    fake.interval_s = 10.0
    fake.dead_since = -math.inf  # no samples yet
    source, _ = make(fake, clock, refresh_s=1.0)
    await source.refresh()
    assert fake.raws() == 0 and source.stale_after_s == 15.0  # no target: nothing to read
    fake.dead_since = math.inf  # the exporter comes up
    clock.advance(30)
    await source.refresh()
    assert source.interval_s == 10.0 and source.stale_after_s == 30.0


async def test_the_latency_panel_is_stale_on_its_own_when_its_histogram_stops() -> None:
    fake, clock = FakeProm(hosts=1, gpus=1), FakeClock(T0)
    source, _ = make(fake, clock, range_s=300, columns=300)
    await source.refresh()
    assert source.latency_state().status is SourceStatus.OK
    fake.latency_until = T0  # the inference service dies; the GPUs go on reporting
    for _ in range(16):
        clock.advance(1)
        await source.refresh()
    assert source.state.status is SourceStatus.OK
    latency = source.latency_state()
    assert latency.status is SourceStatus.STALE and latency.newest == T0
    assert latency.reason == "no new latency samples for over 15s"
