"""Freshness against a real Prometheus scraping at ordinary intervals: Prometheus' default
60 s and a common 15 s. While scrapes arrive the header never says STALE (nor loses a GPU);
when the exporter stops, STALE comes after 3 intervals of nothing new, not before; `--once
--json` and `--check` judge the same way from one look. The scenarios run side by side (each
costs minutes of waiting for scrapes, not CPU); VictoriaMetrics has the same in
`test_freshness_victoria`.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import Callable

import pytest

from gputop.core.models import SourceStatus
from tests.support.freshness import SLACK_S, Watch, live_scrapes, once, raw_times, watch
from tests.support.prometheus_server import BACKFILL_LEAD_S, PromStack

pytestmark = pytest.mark.prometheus


async def test_60s_and_15s_scrapes_are_never_stale_while_they_arrive_and_stale_after_3(
    prometheus_factory: Callable[..., PromStack], isolated_env: dict[str, str]
) -> None:
    started = time.time()
    backfill_end = math.floor(started + BACKFILL_LEAD_S)
    # 60 s: ten minutes back-filled at 60 s spacing, then live scrapes
    live60 = Watch(
        "60 s, scraping",
        prometheus_factory(nodes=2, gpus=2, history_s=600, scrape_s=60.0, wait_up=False),
    )
    # 15 s: live scrapes for a while, then the exporter stops
    live15 = Watch("15 s", prometheus_factory(nodes=2, gpus=2, history_s=300, scrape_s=15.0))
    # 60 s: the exporter stopped 150 s ago (2.5 intervals): fresh for 30 s more, then STALE
    died = math.floor(time.time()) - 150
    dead60 = Watch(
        "60 s, exporter stopped",
        prometheus_factory(
            nodes=2, gpus=2, history_s=600, scrape_s=60.0, wait_up=False, history_until=died
        ),
    )

    async def scraping_60() -> None:
        await watch(live60, lambda _: live_scrapes(live60.stack, backfill_end) >= 2, 140)

    async def stopping_60() -> None:
        await watch(
            dead60, lambda w: w.looks[-1].status is not SourceStatus.OK, died + 200 - time.time()
        )

    stopped15: list[float] = []  # when the exporter stopped, and its last sample then

    async def stopping_15() -> None:
        def done(w: Watch) -> bool:
            if not stopped15 and len(w.looks) >= 35:  # 35 s of scrapes, then stop
                newest = max(ts[-1] for ts in raw_times(w.stack).values())
                w.stack.exporter.stop()
                stopped15.extend([time.time(), newest])
            return bool(stopped15) and w.looks[-1].status is SourceStatus.STALE

        await watch(live15, done, 120)

    await asyncio.gather(scraping_60(), stopping_60(), stopping_15())

    # 60 s, scraping: every look fresh, no GPU lost, two live scrapes seen per node
    assert live_scrapes(live60.stack, backfill_end) >= 2, live60.story()
    assert not live60.failing(), live60.story()
    assert all("STALE" not in k.header and "lost" not in k.header for k in live60.looks)
    assert all("● prometheus now" in k.header for k in live60.looks), live60.story()
    doc = json.loads(once(live60.stack, isolated_env, "--json").stdout)
    assert doc["sources"]["prometheus"]["state"] == "ok", doc["sources"]
    assert doc["sources"]["prometheus"]["age_s"] < 60 + SLACK_S
    assert once(live60.stack, isolated_env, "--check").returncode == 0

    # 60 s, exporter stopped: OK until its newest sample is 3 intervals old, then STALE
    stale = [k for k in dead60.looks if k.status is SourceStatus.STALE]
    assert stale, dead60.story()
    first = stale[0]
    assert first.age_s is not None and 180 < first.age_s <= 180 + SLACK_S, dead60.story()
    assert all(k.status is SourceStatus.OK and k.lost == 0 for k in dead60.looks[:-1])
    assert re.search(r"✖ prometheus STALE, newest 3m(\ds)? ago", first.header), first.header
    gone = json.loads(once(dead60.stack, isolated_env, "--json").stdout)["sources"]["prometheus"]
    assert gone["state"] == "stale" and gone["age_s"] > 180, gone
    assert once(dead60.stack, isolated_env, "--check").returncode == 3

    # 15 s: fresh while scraping; STALE 45 s (3 intervals) after the last sample, not before
    assert stopped15, live15.story()
    stop_at, last_sample = stopped15
    before = [k for k in live15.looks if k.at < last_sample + 45]
    assert before and all(k.status is SourceStatus.OK for k in before), live15.story()
    bad = [k for k in before if "STALE" in k.header or "lost" in k.header]
    assert not bad, Watch("15 s", live15.stack, bad).story()
    stale = [k for k in live15.looks if k.status is SourceStatus.STALE]
    assert stale and stale[0].at <= stop_at + 45 + SLACK_S, (stop_at, live15.story())
    assert time.time() - started < 200  # the three side by side: minutes, not ten
