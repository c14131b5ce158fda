"""Quitting while a request is on its way: the polling is cancelled and waited for before
the monitor closes its clients, so no request is ever sent on a closed client ("Cannot send
a request, as the client has been closed")."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

import httpx

from gputop.core.clock import RealClock
from gputop.monitor import Monitor
from gputop.rules.engine import RulesEngine
from gputop.sources.prometheus import PrometheusClient
from gputop.sources.promfeed import PrometheusSource
from gputop.ui.app import GpuTopApp


class WatchedClient(PrometheusClient):
    """A Prometheus client that counts the requests tried after it was closed."""

    closed_sends = 0

    async def _request(self, path: str, params: Mapping[str, str]) -> tuple[int, bytes, str]:
        if self._http.is_closed:
            self.closed_sends += 1
        return await super()._request(path, params)


class WatchedMonitor(Monitor):
    """A monitor noting which of the app's workers were still running when it was closed."""

    app: GpuTopApp | None = None
    running_at_close: list[str] | None = None

    async def aclose(self) -> None:
        assert self.app is not None
        self.running_at_close = [w.name for w in self.app.workers if not w.is_finished]
        await super().aclose()


class SlowRules:
    """A Prometheus answering every query at once and its rules slowly, one rule whose
    compared side is asked next. The slow answer takes its time whatever cancels the wait
    for it (a read that ends just as the cancel comes: Python 3.11's wait_for then lets the
    answer win, and the task runs on)."""

    def __init__(self) -> None:
        self.asked_rules = asyncio.Event()

    async def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/rules"):
            self.asked_rules.set()
            loop = asyncio.get_running_loop()
            until = loop.time() + 0.5  # the user quits meanwhile
            while loop.time() < until:
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(until - loop.time())
            rule = {"name": "Hot", "query": "DCGM_FI_DEV_GPU_TEMP > 85", "type": "alerting"}
            group = {"name": "g", "file": "f", "interval": 1, "rules": [rule]}
            return httpx.Response(200, json={"status": "success", "data": {"groups": [group]}})
        empty = {"resultType": "vector", "result": []}
        return httpx.Response(200, json={"status": "success", "data": empty})


async def test_quitting_during_a_refresh_waits_for_it_before_closing_the_clients() -> None:
    slow = SlowRules()
    client = WatchedClient("http://prom.test:9090", transport=httpx.MockTransport(slow.handler))
    clock = RealClock()
    monitor = WatchedMonitor(clock=clock, local=None, client=client, host="desk")
    monitor.rules = RulesEngine([], clock=clock, origin="Prometheus")
    monitor.remote = PrometheusSource(client, monitor.store, clock)
    app = monitor.app = GpuTopApp(monitor, interval=1.0)
    async with app.run_test(size=(80, 24)):
        await asyncio.wait_for(slow.asked_rules.wait(), 10)
        app.exit()  # while the rules request is on its way
    await asyncio.sleep(1.0)  # what the polling would still do after the app has closed
    assert client._http.is_closed
    assert monitor.running_at_close == []  # the polling had ended before the clients closed
    assert client.closed_sends == 0  # every request was made while the client was open
    assert app.return_code == 0
