"""Freshness against a real VictoriaMetrics, which shows its data 30 s late, scraping every
60 s and every 15 s: while scrapes arrive the header says `30s behind` and never STALE; when
the exporter stops, STALE comes 3 intervals after the newest sample it shows. (Prometheus:
`test_freshness_real`; the helpers of both are in `tests/support/freshness.py`.)"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import pytest

from gputop.core.models import SourceStatus
from tests.support.freshness import SLACK_S, Watch, live_scrapes, once, raw_times, watch
from tests.support.prometheus_server import PromStack

pytestmark = pytest.mark.prometheus


async def test_60s_and_15s_scrapes_with_the_engine_lag(
    prometheus_factory: Callable[..., PromStack], isolated_env: dict[str, str]
) -> None:
    started = time.time()
    live60 = Watch(
        "60 s",
        prometheus_factory(
            engine="victoriametrics", nodes=2, gpus=2, history_s=600, scrape_s=60.0, wait_up=False
        ),
    )
    live15 = Watch(
        "15 s",
        prometheus_factory(engine="victoriametrics", nodes=2, gpus=2, history_s=300, scrape_s=15.0),
    )
    lag = live15.stack.engine.lag_s

    async def scraping_60() -> None:
        await watch(live60, lambda _: live_scrapes(live60.stack, started) >= 2, 140)

    stopped15: list[float] = []  # when the exporter stopped, and its last sample then

    async def stopping_15() -> None:
        def done(w: Watch) -> bool:
            if not stopped15 and len(w.looks) >= 20:  # scrapes seen for a while, then stop
                newest = max(ts[-1] for ts in raw_times(w.stack).values())
                w.stack.exporter.stop()
                stopped15.extend([time.time(), newest])
            return bool(stopped15) and w.looks[-1].status is SourceStatus.STALE

        await watch(live15, done, 130)

    await asyncio.gather(scraping_60(), stopping_15())

    # 60 s: every look fresh and steady, 30 s behind whatever the phase of the scrape
    assert live_scrapes(live60.stack, started) >= 2, live60.story()
    assert not live60.failing(), live60.story()
    assert all("● prometheus 30s behind" in k.header for k in live60.looks), live60.story()
    assert all("STALE" not in k.header and "lost" not in k.header for k in live60.looks)
    doc = json.loads(once(live60.stack, isolated_env, "--json").stdout)
    assert doc["sources"]["prometheus"]["state"] == "ok", doc["sources"]
    assert once(live60.stack, isolated_env, "--check").returncode == 0

    # 15 s: STALE 3 intervals after the newest sample it shows (its lag later), not before
    assert stopped15, live15.story()
    stop_at, last_sample = stopped15
    before = [k for k in live15.looks if k.at < last_sample + lag + 45]
    assert before and all(k.status is SourceStatus.OK for k in before), live15.story()
    bad = [k for k in before if "STALE" in k.header or "lost" in k.header]
    assert not bad, Watch("15 s", live15.stack, bad).story()
    stale = [k for k in live15.looks if k.status is SourceStatus.STALE]
    assert stale and stale[0].at <= stop_at + lag + 45 + SLACK_S, (stop_at, live15.story())
    assert time.time() - started < 200
