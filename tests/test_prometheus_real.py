"""The client and the range panels against real engines scraping the sim exporter: Prometheus
2.42, and VictoriaMetrics 1.79 with vmalert, which shows data 30 s late by default."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gputop.core.clock import RealClock
from gputop.core.models import SourceStatus
from gputop.core.store import LATENCY_KEY, MetricStore
from gputop.monitor import Monitor
from gputop.sources.prometheus import PrometheusClient
from gputop.sources.prometheus.feed import PrometheusSource
from gputop.sources.prometheus.freshness import OVERLAP_STEPS
from gputop.sources.simexporter import make_nodes
from gputop.ui.app import GpuTopApp
from tests.support.prometheus_server import ENGINES, PromStack, engine_stack, until_searchable
from tests.support.ui import screen_lines
from tests.support.victoria_server import VictoriaMetricsServer

pytestmark = pytest.mark.prometheus

P95 = "histogram_quantile(0.95, sum(rate(t2v_inference_duration_seconds_bucket[5m])) by (le))"
RULES = """
groups:
- name: sim
  rules:
  - alert: SimAlwaysFiring
    expr: vector(1) > 0
  - alert: SimGpuWarm
    expr: DCGM_FI_DEV_GPU_TEMP > 0
    for: 1h
    labels:
      severity: info
  - record: sim:gpu_temp:max
    expr: max(DCGM_FI_DEV_GPU_TEMP)
"""


class RecordingTransport(httpx.AsyncBaseTransport):
    """The real transport, remembering the query parameters of every request."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def ranges(self) -> list[tuple[str, float, float, float]]:
        out = []
        for r in self.requests:
            if r.url.path.endswith("/query_range"):
                p = r.url.params
                out.append((p["query"], float(p["start"]), float(p["end"]), float(p["step"])))
        return out


@pytest.fixture(scope="module", params=ENGINES)
def fleet(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PromStack]:
    """2 nodes x 8 GPUs, ten minutes of history back-filled, a few rules; one engine at a
    time, stopped before the next starts."""
    workdir = tmp_path_factory.mktemp(request.param)
    rules = workdir / "sim-rules.yml"
    rules.write_text(RULES)
    options = {"nodes": 2, "gpus": 8, "history_s": 600, "rule_files": [rules]}
    with engine_stack(request.param, workdir / "stack", **options) as stack:
        # the last five minutes of every GPU's temperature, all but a few seconds of them
        until_searchable(stack.engine, math.inf, 300.0, 1.0, series=16, least=295)
        yield stack


@pytest.fixture
async def recorded(fleet: PromStack) -> AsyncIterator[tuple[PrometheusClient, RecordingTransport]]:
    transport = RecordingTransport()
    async with PrometheusClient(fleet.url, transport=transport) as client:
        yield client, transport


async def _next_second(end: float, lag_s: float = 0.0) -> None:
    """Sleep until a sample newer than the next 1 s step after `end` must exist in an engine
    that shows data `lag_s` late (a scrape each second, landing within the next)."""
    await asyncio.sleep(max(0.0, end + lag_s + 2.1 - time.time()))


async def test_prefill_then_only_newer_points(
    fleet: PromStack, recorded: tuple[PrometheusClient, RecordingTransport]
) -> None:
    client, transport = recorded
    store = MetricStore()
    source = PrometheusSource(client, store, RealClock(), range_s=300, columns=300)
    await source.refresh()
    answered_at = time.time()
    assert source.state.status is SourceStatus.OK
    first = transport.ranges()
    # and the freshness probe, each group's raw samples once (its scrape interval), and the
    # look for inference servers (once a minute)
    assert len(first) == 12 and len(transport.requests) == 16
    # the scrapes' own spacing: a busy engine stamps them a few milliseconds late or early
    assert source.interval_s == pytest.approx(1.0, abs=0.05)
    (end,) = {e for _, _, e, _ in first}
    assert end <= answered_at - fleet.engine.lag_s  # never past what the engine shows
    assert {st for *_, st in first} == {1.0}
    assert all(297 <= e - s <= 299 for _, s, e, _ in first)  # the whole visible range
    key = source.gpus()[0].key
    assert len(store.series(key, "temperature_c")) >= 295  # full at once, from the history
    assert len(store.series(LATENCY_KEY, "p95_s")) >= 295
    lag = source.state.age_s(time.time())
    assert lag is not None and fleet.engine.lag_s <= lag + 1 <= fleet.engine.lag_s + 4

    await _next_second(end, fleet.engine.lag_s)
    transport.requests.clear()
    before = client.stats.bytes
    await source.refresh()
    second_bytes = client.stats.bytes - before
    second = transport.ranges()
    assert len(second) == 12
    for _, start, new_end, step in second:
        assert start == end + step - OVERLAP_STEPS * step  # newer points and a short overlap
        assert start % step == 0 and new_end > end
        assert new_end - start <= 5 + OVERLAP_STEPS
    assert store.series(key, "temperature_c").last_time == second[0][2]

    async with PrometheusClient(fleet.url) as other:  # what a full re-fetch costs now
        await PrometheusSource(
            other, MetricStore(), RealClock(), range_s=300, columns=300
        ).refresh()
        full_bytes = other.stats.bytes
    assert second_bytes <= 0.10 * full_bytes, (second_bytes, full_bytes)


async def test_p95_is_the_engine_own_answer(fleet: PromStack) -> None:
    async with PrometheusClient(fleet.url) as client:
        store = MetricStore()
        source = PrometheusSource(client, store, RealClock(), range_s=300, columns=60)
        assert source.queries["p95_s"] == P95
        asked_at = time.time() - fleet.engine.lag_s
        await source.refresh()
    settled = [
        (t, v)
        for t, v in store.series(LATENCY_KEY, "p95_s").items()
        if t <= asked_at - 3  # scrapes still landing could change the newest points
    ]
    checked = 0
    async with httpx.AsyncClient(base_url=fleet.url) as http:
        for t, held in settled[-6:]:
            doc = (await http.get("/api/v1/query", params={"query": P95, "time": t})).json()
            (sample,) = doc["data"]["result"]
            theirs = float(sample["value"][1])
            assert held == (None if math.isnan(theirs) else theirs)
            checked += held is not None
    assert checked >= 3  # real quantiles, not only "no data" on both sides
    latency = source.latency()
    assert latency is not None and latency.p95_s is not None and latency.jobs_per_min
    assert 30 <= latency.p95_s <= 900  # inside the histogram's finite buckets


async def test_a_fleet_of_two_nodes(fleet: PromStack) -> None:
    async with PrometheusClient(fleet.url) as client:
        source = PrometheusSource(client, MetricStore(), RealClock())
        await source.refresh()
    gpus = source.gpus()
    assert len(gpus) == 16
    assert [(g.host, g.index) for g in gpus] == [
        (f"sim-node-{n:02d}", i) for n in range(2) for i in range(8)
    ]
    sims = make_nodes(2, 8, start=fleet.exporter.start)
    assert [g.uuid for g in gpus] == [s.uuid for n in sims for s in n.gpu_samples()]
    for g in gpus:
        assert g.state == "ok" and g.name == "NVIDIA A100-SXM4-80GB"
        assert g.memory_total_mib == 81920 and g.temperature_c is not None
        labels = source.labels(g.key)
        assert labels["pod"] == f"t2v-serve-{g.host}-{g.index}"
        assert labels["namespace"] == "t2v"


async def test_queries_per_refresh_do_not_grow_with_gpus(fleet: PromStack) -> None:
    seen = {}
    for selector, gpus in (('Hostname="sim-node-00"', 8), ("", 16)):
        transport = RecordingTransport()
        async with PrometheusClient(fleet.url, transport=transport) as client:
            source = PrometheusSource(
                client, MetricStore(), RealClock(), range_s=60, columns=60, selector=selector
            )
            await source.refresh()
            assert len(source.gpus()) == gpus
            first = len(transport.requests)
            await _next_second(transport.ranges()[0][2], fleet.engine.lag_s)
            await source.refresh()
            seen[gpus] = (first, len(transport.requests) - first)
    # the probe and one range query per panel (and at first each group's raw samples once,
    # and the look for inference servers)
    assert seen[8] == seen[16] == (16, 13)


async def test_rules_and_alerts_with_their_states(fleet: PromStack) -> None:
    async with PrometheusClient(fleet.url) as client:
        assert await client.ready()
        if fleet.engine.kind == "prometheus":
            assert (await client.buildinfo())["version"].startswith("2.")
        deadline = time.monotonic() + 20
        while True:
            groups = await client.rules(type=None)
            states = {r.name: r.state for g in groups for r in g.rules}
            if states.get("SimGpuWarm") == "pending" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        (group,) = groups
        assert group.interval_s == 1.0 and group.file.endswith("sim-rules.yml")
        firing, warm, recorded = group.rules
        assert (firing.name, firing.state, firing.type) == ("SimAlwaysFiring", "firing", "alerting")
        assert (warm.state, warm.duration_s, warm.health) == ("pending", 3600.0, "ok")
        assert warm.labels == {"severity": "info"} and len(warm.alerts) == 16
        now = time.time()
        for alert in warm.alerts:
            assert alert.state == "pending"
            assert alert.active_at is not None and now - 120 < alert.active_at <= now + 1
            assert alert.value is not None and alert.value > 0
        assert (recorded.type, recorded.state or None) == ("recording", None)  # vmalert: ""

        only = await client.rules(names={"SimGpuWarm"})  # 2.42 would ignore rule_name[]
        assert [r.name for g in only for r in g.rules] == ["SimGpuWarm"]
        alerts = await client.alerts()
        assert {a.name for a in alerts} == {"SimAlwaysFiring", "SimGpuWarm"}


@pytest.mark.parametrize("engine", ENGINES)
async def test_killed_engine_then_back_on_the_same_port(
    prometheus_factory: Callable[..., PromStack], engine: str
) -> None:
    stack = prometheus_factory(engine=engine, nodes=1, gpus=8, history_s=60)
    async with PrometheusClient(stack.url, timeout=2.0) as client:
        store = MetricStore()
        source = PrometheusSource(client, store, RealClock(), range_s=60, columns=60)
        await source.refresh()
        assert source.state.ok
        key = source.gpus()[0].key
        held = list(store.series(key, "power_w").items())
        assert held

        stack.engine.kill()
        await _next_second(held[-1][0])
        await source.refresh()
        state = source.state
        assert state.status is SourceStatus.ERROR and state.reason == "unreachable"
        assert state.retry_at is not None and state.last_ok is not None
        assert list(store.series(key, "power_w").items()) == held
        assert len(source.gpus()) == 8

        port, data = stack.engine.port, stack.engine.data_dir
        stack.engine.start()  # same port, same data directory
        assert (stack.engine.port, stack.engine.data_dir) == (port, data)
        deadline = time.monotonic() + 60

        def back() -> bool:
            return source.state.ok and (store.series(key, "power_w").last_time or 0) > held[-1][0]

        while not back() and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            await source.refresh()  # nobody resets anything: it must come back by itself
        assert back(), (source.state, store.series(key, "power_w").last_time, held[-1])


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_dead_target_reads_stale_while_the_engine_answers(
    prometheus_factory: Callable[..., PromStack], engine: str, tmp_path: Path
) -> None:
    """The engine keeps answering 200; the exporter it scrapes has died. The dashboard says
    STALE within the threshold (after the engine's own lag), and so do --json and --check."""
    stack = prometheus_factory(engine=engine, nodes=1, gpus=8, history_s=60)
    clock = RealClock()
    client = PrometheusClient(stack.url)
    monitor = Monitor(clock=clock, local=None, client=client, host="desk")
    source = PrometheusSource(client, monitor.store, clock, range_s=300, columns=60)
    monitor.remote = source
    app = GpuTopApp(monitor, interval=1.0)
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 30
        while "● prometheus" not in screen_lines(app)[0]:
            assert time.monotonic() < deadline, screen_lines(app)[0]
            await pilot.pause(0.2)
        header = screen_lines(app)[0]
        assert ("30s behind" if engine == "victoriametrics" else "● prometheus now") in header
        threshold = source.stale_after_s
        assert threshold == 15.0  # 3 x the 1 s scrape interval, but never under 15 s

        stack.exporter.stop()
        died = time.monotonic()
        allowed = stack.engine.lag_s + threshold + 4.0  # + a scrape, a refresh, a slow CPU
        while "prometheus STALE" not in screen_lines(app)[0]:
            assert time.monotonic() - died < allowed, screen_lines(app)[0]
            await pilot.pause(0.2)
        took = time.monotonic() - died
        state = monitor.state("prometheus")
        assert state.status is SourceStatus.STALE and state.last_ok is not None
        assert clock.now() - state.last_ok < 3  # the engine still answers
        text = "\n".join(screen_lines(app))
        assert text.count("stale since") >= 8, text  # every card says its data is stale
    assert took >= stack.engine.lag_s  # not before the engine itself could know

    # A one-shot run sees the data once and judges it by its age alone, against the
    # threshold it learns itself (15 s, as above): ask once that age is past it.
    await asyncio.sleep(max(0.0, died + stack.engine.lag_s + threshold + 1.0 - time.monotonic()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUTOP_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    argv = [sys.executable, "-m", "gputop", "--prometheus", stack.url, "--once"]
    done = subprocess.run([*argv, "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    prom = json.loads(done.stdout)["sources"]["prometheus"]
    assert prom["state"] == "stale" and prom["reason"].startswith("no new samples"), prom
    assert prom["age_s"] >= stack.engine.lag_s + threshold and prom["newest"]
    done = subprocess.run([*argv, "--check"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 3, (done.stdout, done.stderr)


def test_vmalert_is_named_and_read_through_rules_url(
    prometheus_factory: Callable[..., PromStack], tmp_path: Path
) -> None:
    """VictoriaMetrics with vmalert beside it, not proxied: pointed at vmalert, gputop says
    what it is and what to do; with `rules_url`, every alert series is listed once."""
    rules = tmp_path / "sim-rules.yml"
    rules.write_text(RULES)
    stack = prometheus_factory(engine="victoriametrics", rule_files=[rules], proxy_rules=False)
    assert isinstance(stack.engine, VictoriaMetricsServer)
    vmalert = stack.engine.vmalert_url
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUTOP_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "home")

    def gputop(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "gputop", "--once", *args]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)

    deadline = time.monotonic() + 20
    while True:  # vmalert's first evaluations: every GPU's alert pending, one firing
        groups = httpx.get(f"{vmalert}/api/v1/rules", timeout=5.0).json()["data"]["groups"]
        alerts = [a["state"] for g in groups for r in g["rules"] for a in r.get("alerts") or ()]
        if sorted(alerts) == ["firing"] + ["pending"] * 8 or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    wrong = gputop("--check", "--prometheus", vmalert)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr  # its rules fire, still
    (head, *_) = wrong.stdout.splitlines()
    assert (
        "prometheus: error (no query API at this URL: it serves alerting rules only, like "
        "vmalert; point --prometheus at the engine it reads (VictoriaMetrics, e.g. :8428) and "
        "this URL at [prometheus] rules_url)"
    ) in head

    alone = json.loads(gputop("--json", "--prometheus", stack.url).stdout)
    assert alone["sources"]["prometheus"]["state"] == "ok" and alone["rules"] == []

    config = tmp_path / "gputop.toml"
    config.write_text(f'[prometheus]\nurl = "{stack.url}"\nrules_url = "{vmalert}"\n')
    doc = json.loads(gputop("--json", "--config", str(config)).stdout)
    warm = [s for s in doc["rules"] if s["name"] == "SimGpuWarm" and s["state"] == "pending"]
    names = [(s["name"], tuple(sorted(s["labels"].items()))) for s in doc["rules"]]
    assert len(names) == len(set(names)) == 9, doc["rules"]  # each series once
    assert len(warm) == 8 and all("alertgroup" not in s["labels"] for s in doc["rules"])
    (firing,) = [s for s in doc["rules"] if s["name"] == "SimAlwaysFiring"]
    assert (firing["state"], firing["labels"]) == ("firing", {})
