"""Prometheus' rules' compared sides read in few requests: the queries of a rule group are
asked together (one range query, parts tagged and told apart again), a few requests at a
time; a batch the server refuses is asked again query by query, so one bad query costs only
its own rule. Against a server that answers any batched query part by part (as Prometheus
and VictoriaMetrics do: tests/test_rules_real.py reads real ones)."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from gputop.core.clock import FakeClock
from gputop.rules.engine import RulesEngine
from gputop.rules.recent import BATCH_LABEL, BATCH_QUERIES, CONCURRENCY, batches
from gputop.sources.prometheus import PrometheusClient

NOW = 1767225600.0
_PART = re.compile(r'label_replace\(\((.*?)\), "' + BATCH_LABEL + r'", "(\d+)", "", ""\)')
_GPU = re.compile(r'gpu="(\d+)"')


def _rule(k: int, *, bad: bool = False) -> dict[str, Any]:
    gpu = k % 8
    job = "bad" if bad else f"j{k}"
    return {
        "name": f"Hot{k:03d}",
        "query": f'DCGM_FI_DEV_GPU_TEMP{{gpu="{gpu}", job!="{job}"}} > 80',
        "duration": 60,
        "labels": {},
        "annotations": {},
        "alerts": [],
        "health": "ok",
        "type": "alerting",
        "state": "inactive",
        "lastEvaluation": "2026-01-01T00:00:00.000Z",  # NOW
    }


class Server:
    """Prometheus' rules API and query_range, answering each part of a batched query with its
    GPU's series (temperature 70 + GPU index), tagged; a query naming `job!="bad"` fails."""

    def __init__(self, rules: int, *, refuse_batches: bool = False, bad: int = -1) -> None:
        self.rules = rules
        self.refuse_batches = refuse_batches
        self.bad = bad  # the rule whose query the server refuses
        self.ranges: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/rules"):
            group = {"name": "g", "file": "g.yml", "interval": 15, "rules": []}
            group["rules"] = [_rule(k, bad=k == self.bad) for k in range(self.rules)]
            data: Any = {"groups": [group]}
            return httpx.Response(200, json={"status": "success", "data": data})
        query = parse_qs(urlsplit(str(request.url)).query)["query"][0]
        self.ranges.append(query)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            parts = _PART.findall(query) or [(query, None)]
            if 'job!="bad"' in query and (len(parts) == 1 or self.refuse_batches):
                error = {"status": "error", "errorType": "bad_data", "error": "parse error"}
                return httpx.Response(400, json=error)
            result = []
            for inner, tag in parts:
                gpu = _GPU.search(inner)
                labels = {"__name__": "DCGM_FI_DEV_GPU_TEMP", "gpu": gpu.group(1) if gpu else "0"}
                if tag is not None:
                    labels[BATCH_LABEL] = tag
                value = 70 + int(labels["gpu"])
                points = [[NOW - 15 * i, str(value)] for i in range(5, -1, -1)]
                result.append({"metric": labels, "values": points})
            data = {"resultType": "matrix", "result": result}
            return httpx.Response(200, json={"status": "success", "data": data})
        finally:
            self.in_flight -= 1


async def _statuses(server: Server) -> RulesEngine:
    engine = RulesEngine([], clock=FakeClock(NOW + 1.0))
    client = PrometheusClient("http://prom:9090", transport=httpx.MockTransport(server.handle))
    try:
        await engine.refresh_prometheus(client)
    finally:
        await client.aclose()
    return engine


async def test_a_hundred_rules_are_read_in_a_few_requests_a_few_at_a_time() -> None:
    server = Server(rules=100)
    engine = await _statuses(server)
    assert engine.error is None
    # one range query per BATCH_QUERIES rules of the group, not one per rule
    assert len(server.ranges) == -(-100 // BATCH_QUERIES)
    assert server.most_in_flight <= CONCURRENCY
    values = {(s.name, s.labels.get("gpu")): s.value for s in engine.statuses}
    assert len(values) == 100
    assert all(value == 70 + int(gpu or 0) for (_, gpu), value in values.items())


async def test_a_refused_batch_is_asked_query_by_query() -> None:
    server = Server(rules=10, refuse_batches=True, bad=3)
    engine = await _statuses(server)
    by_name = {s.name: s for s in engine.statuses}
    assert by_name["Hot003"].state == "unknown" and "query failed" in (
        by_name["Hot003"].reason or ""
    )
    assert all(by_name[f"Hot{k:03d}"].value == 70 + k % 8 for k in range(10) if k != 3)
    assert len(server.ranges) == 1 + 10  # the batch, then each query alone


def test_windows_of_one_group_evaluation_are_one_batch_others_apart() -> None:
    windows = {
        "a": (1000.000, 15.0),
        "b": (1000.004, 15.0),  # a few ms later in the same group's evaluation
        "c": (1007.5, 15.0),  # another group, half an interval later
        "d": (1000.002, 60.0),  # another step
    }
    grouped = {tuple(queries): window for window, queries in batches(windows)}
    assert grouped == {
        ("a", "b"): (1000.0, 15.0),
        ("c",): (1007.5, 15.0),
        ("d",): (1000.002, 60.0),
    }
