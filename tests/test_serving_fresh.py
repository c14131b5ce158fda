"""The inference servers' panels are as fresh as their own targets' samples: judged from those
targets' scrape spacing, like every other panel's, and never keeping the GPUs' panels fresh
(nor kept fresh by them). Against a fake engine, and a real Prometheus at a 15 s scrape."""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gputop.core.clock import FakeClock
from gputop.core.models import SourceStatus
from gputop.sources.prometheus.feed import PrometheusSource
from tests.support.cli import cli_monitor
from tests.support.fake_prometheus import T0, FakeProm, make
from tests.support.freshness import SLACK_S, once
from tests.support.prometheus_server import PromStack

VLLM = "vllm-0:8000"
_NAMES = ["vllm:num_requests_running", "vllm:time_to_first_token_seconds_count"]


class ServingProm(FakeProm):
    """The fake fleet, and a vLLM server on a target of its own, scraped every
    `serving_interval_s` until `serving_until`."""

    def __init__(self) -> None:
        super().__init__(hosts=1, gpus=2)
        self.serving_interval_s = 10.0
        self.serving_until = math.inf
        self.serving_raw_fails = False
        self.serving_markers = False  # once stopped, its series end (no raw sample is newest)

    def serving_horizon(self) -> float:
        step = self.serving_interval_s
        return float(math.floor(min(self.clock.now(), self.serving_until) / step) * step)

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/values"):
            self.requests.append(request)
            return _success(_NAMES)
        query = request.url.params.get("query", "")
        if "gputop_probe" in query:
            response = super().handler(request)
            doc = response.json()
            stopped = self.serving_markers and self.clock.now() > self.serving_until
            if "serving_vllm" in query and not stopped:
                labels = {"gputop_probe": "serving_vllm", "instance": VLLM}
                now = self.clock.now()
                doc["data"]["result"].append(
                    {"metric": labels, "value": [now, repr(self.serving_horizon())]}
                )
            return httpx.Response(200, json=doc)
        if not query.startswith("vllm:") and "vllm:" not in query:
            return super().handler(request)
        self.requests.append(request)
        if query.endswith("s]"):  # the raw samples of the server's target
            if self.serving_raw_fails:
                return httpx.Response(503, text="busy")
            newest = self.serving_horizon()
            times = [newest - k * self.serving_interval_s for k in range(3)][::-1]
            series = {"metric": {"instance": VLLM}, "values": [[t, "1"] for t in times]}
            return _success({"resultType": "matrix", "result": [series]})
        p = request.url.params
        start, end, step = float(p["start"]), float(p["end"]), float(p["step"])
        end = min(end, self.serving_horizon())
        times = [start + k * step for k in range(max(0, int((end - start) / step) + 1))]
        result = [
            {
                "metric": {"model_name": "m", "gputop_stat": stat},
                "values": [[t, "0.2"] for t in times],
            }
            for stat in re.findall(r'"gputop_stat", "(\w+)"', query)
        ]
        return _success({"resultType": "matrix", "result": result if times else []})


def _success(data: Any) -> httpx.Response:
    return httpx.Response(200, json={"status": "success", "data": data})


async def _second(source: PrometheusSource, clock: FakeClock) -> None:
    clock.advance(1)
    await source.refresh()


async def test_the_serving_panels_turn_stale_after_their_own_targets_spacing() -> None:
    fake, clock = ServingProm(), FakeClock(T0)
    source, _ = make(fake, clock, range_s=300, columns=60)
    for _ in range(60):  # scraped every 10 s: never stale while its samples come
        await _second(source, clock)
        state = source.serving_state()
        assert state is not None and state.status is SourceStatus.OK, state
    assert source.serving() and source.serving()[0].engine == "vLLM"
    fake.serving_until = clock.now()  # the server stops; the GPUs go on
    last = fake.serving_horizon()
    stale_at = None
    for _ in range(60):
        await _second(source, clock)
        assert source.state.status is SourceStatus.OK  # the GPUs' panels stay fresh
        state = source.serving_state()
        assert state is not None
        if state.status is SourceStatus.STALE:
            stale_at = clock.now()
            break
    assert stale_at is not None and state is not None
    # 3 of its 10 s intervals after its last sample was seen, never sooner
    assert last + 30 <= stale_at <= last + 32, stale_at - last
    assert state.reason == "no new inference-server samples for over 30s"
    assert state.newest == last


async def test_gpus_that_stop_are_stale_while_an_inference_server_goes_on() -> None:
    fake, clock = ServingProm(), FakeClock(T0)
    source, _ = make(fake, clock, range_s=300, columns=60)
    for _ in range(20):
        await _second(source, clock)
    assert source.serving_state() is not None
    fake.dead_since = clock.now()  # the exporter stops (the latency histogram with it)
    statuses = []
    for _ in range(30):
        await _second(source, clock)
        statuses.append(source.state.status)
        serving = source.serving_state()
        assert serving is not None and serving.status in (SourceStatus.OK, SourceStatus.STALE)
    assert statuses[-1] is SourceStatus.STALE  # not kept fresh by the server's samples
    assert statuses.index(SourceStatus.STALE) <= 17  # 15 s (3 scrapes, the floor) and a probe


async def test_reading_a_servers_spacing_can_fail_without_costing_the_gpus() -> None:
    fake, clock = ServingProm(), FakeClock(T0)
    fake.serving_raw_fails = True
    source, _ = make(fake, clock, range_s=300, columns=60)
    for _ in range(5):
        await _second(source, clock)
        assert source.state.status is SourceStatus.OK, source.state
    assert len(source.gpus()) == 2 and source.serving()


async def test_a_server_that_stopped_before_the_start_is_never_shown_fresh() -> None:
    fake, clock = ServingProm(), FakeClock(T0)
    fake.serving_until, fake.serving_markers = T0 - 120, True  # its history only, in range
    source, _ = make(fake, clock, range_s=300, columns=60)
    await source.refresh()
    assert source.serving()  # its panels hold its last two minutes before it stopped
    for _ in range(5):  # once the probe has asked about it: never fresh
        await _second(source, clock)
        state = source.serving_state()
        assert state is not None and state.status is SourceStatus.STALE, state
        assert state.reason == "no live sample of the inference server in Prometheus"
        assert source.state.status is SourceStatus.OK  # the GPUs' panels are fresh


@pytest.mark.prometheus
async def test_a_real_vllm_at_a_15s_scrape_is_fresh_while_scraped_and_stale_after_3(
    prometheus_factory: Callable[..., PromStack], isolated_env: dict[str, str]
) -> None:
    stack = prometheus_factory(nodes=1, gpus=2, vllm=True, history_s=300, scrape_s=15.0)
    looks: list[tuple[float, SourceStatus]] = []
    stopped: list[float] = []  # when the exporter stopped, and the server's newest sample then
    with cli_monitor(stack.url) as monitor:
        source = monitor.remote
        assert isinstance(source, PrometheusSource)
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            await source.refresh()
            state = source.serving_state()
            if state is not None:
                looks.append((time.time(), state.status))
                if not stopped and len(looks) >= 35:  # 35 s of scrapes, then none
                    newest = stack.engine.query("timestamp(vllm:num_requests_running)")
                    stack.exporter.stop()
                    stopped.extend([time.time(), float(newest[0]["value"][1])])
                if stopped and state.status is SourceStatus.STALE:
                    break
            await asyncio.sleep(1.0)
        # the same answer in `--once --json`, on the same data
        doc = json.loads(once(stack, isolated_env, "--json").stdout)
    assert len(looks) >= 35 and stopped, looks
    stop_at, last_sample = stopped
    fresh = [status for at, status in looks if at < last_sample + 45]
    assert fresh and all(status is SourceStatus.OK for status in fresh), looks
    stale_at = next(at for at, status in looks if status is SourceStatus.STALE)
    assert last_sample + 45 <= stale_at <= stop_at + 45 + SLACK_S, (stop_at, last_sample, looks)
    assert doc["serving"]["freshness"]["state"] == "stale", doc["serving"]
