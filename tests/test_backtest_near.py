"""The backtest's near replay says, at every evaluation, what the dashboard shows: the same
function (`rules.near.assess`) given the same inputs. Each test runs the dashboard's own code
over a series, evaluation by evaluation, beside `NearReplay` over the same values and alert
states, and compares the series each calls near:

- against Prometheus: the rules engine reading a Prometheus (its rules and their alerts, the
  compared side's range query) through the real client over a mock transport;
- without Prometheus: the local evaluator over a store fed with the same readings.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

import httpx
import pytest

from gputop.core.clock import FakeClock
from gputop.core.models import GpuSample
from gputop.core.store import MetricStore
from gputop.rules.backtest.grid import Grid
from gputop.rules.backtest.machine import FIRING, INACTIVE, PENDING, run_series
from gputop.rules.backtest.near import NearReplay, horizon_s
from gputop.rules.engine import RulesEngine
from gputop.rules.local import LocalEvaluator
from gputop.rules.model import DEFAULT_MARGIN, RuleDef, RuleStatus
from gputop.sources.prometheus import PrometheusClient

NOW = 1_767_225_600.0
STEP = 10.0
EVALUATIONS = 360
GPUS = ("0", "1", "2")
STATES = {PENDING: "pending", FIRING: "firing"}


def walks(seed: int, *, holes: bool) -> dict[str, list[float]]:
    """Per GPU, a temperature at each evaluation: steady climbs toward 80 and past it, falls,
    hovering near it, noise; GPU 2 misses a reading now and then (NaN) when `holes`."""
    rng = random.Random(seed)
    out: dict[str, list[float]] = {}
    for gpu in GPUS:
        value, drift, values = 60.0, 0.0, []
        for _ in range(EVALUATIONS):
            if rng.random() < 0.08:
                drift = rng.choice((-1.5, -0.5, 0.0, 0.0, 0.8, 1.5))
            value = min(92.0, max(45.0, value + drift + rng.uniform(-0.4, 0.4)))
            missing = holes and gpu == "2" and rng.random() < 0.1
            values.append(math.nan if missing else round(value, 2))
        out[gpu] = values
    return out


def states_of(values: dict[str, list[float]], rule: RuleDef) -> dict[str, bytearray]:
    """The alert state of each GPU's series at each evaluation (the rule manager's)."""
    grid = Grid.over(NOW, NOW + STEP * (EVALUATIONS - 1), STEP)
    gaps = bytearray(EVALUATIONS)
    return {
        gpu: run_series(
            [v > 80.0 for v in vs], gaps, grid, for_s=rule.for_s, keep_s=rule.keep_firing_for_s
        ).states
        for gpu, vs in values.items()
    }


def near_gpus(statuses: list[RuleStatus]) -> set[str]:
    return {s.labels["gpu"] for s in statuses if s.state == "near"}


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def prometheus(
    values: dict[str, list[float]], states: dict[str, bytearray], at: Callable[[], int]
) -> httpx.MockTransport:
    """A Prometheus holding `values` (one per evaluation), evaluating `temp > 80` (for 1m,
    every 10 s) with the given alert states; its newest evaluation is `at()`."""

    def handle(request: httpx.Request) -> httpx.Response:
        i = at()
        params = request.url.params
        if request.url.path == "/api/v1/rules":
            alerts = [
                {
                    "labels": {"alertname": "Hot", "gpu": gpu},
                    "annotations": {},
                    "state": STATES[states[gpu][i]],
                    "activeAt": _stamp(NOW),
                    "value": str(values[gpu][i]),
                }
                for gpu in GPUS
                if states[gpu][i] != INACTIVE
            ]
            rule = {
                "name": "Hot",
                "query": "temp > 80",
                "type": "alerting",
                "duration": 60,
                "labels": {},
                "annotations": {},
                "health": "ok",
                "state": "firing" if alerts else "inactive",
                "lastEvaluation": _stamp(NOW + i * STEP),
                "alerts": alerts,
            }
            group = {"name": "g", "file": "g.yml", "interval": STEP, "rules": [rule]}
            return httpx.Response(200, json={"status": "success", "data": {"groups": [group]}})
        assert request.url.path == "/api/v1/query_range" and params["query"] == "temp{}"
        start, end, step = (float(params[k]) for k in ("start", "end", "step"))
        first, last = round((start - NOW) / step), round((end - NOW) / step)
        result = [
            {
                "metric": {"__name__": "temp", "gpu": gpu},
                "values": [
                    [NOW + k * STEP, str(vs[k])]
                    for k in range(max(0, first), last + 1)
                    if not math.isnan(vs[k])
                ],
            }
            for gpu, vs in values.items()
        ]
        result = [r for r in result if r["values"]]
        data = {"resultType": "matrix", "result": result}
        return httpx.Response(200, json={"status": "success", "data": data})

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_against_prometheus_the_replay_calls_near_what_the_dashboard_shows(
    seed: int,
) -> None:
    rule = RuleDef("Hot", "temp > 80", for_s=60.0, interval_s=STEP, group="g")
    values = walks(seed, holes=True)
    states = states_of(values, rule)
    current = [0]
    clock = FakeClock(NOW)
    engine = RulesEngine([], clock=clock)
    client = PrometheusClient(
        "http://prom:9090", transport=prometheus(values, states, lambda: current[0])
    )
    replay = NearReplay(rule, rule.analysis, margin=DEFAULT_MARGIN)
    shown: list[set[str]] = []
    replayed: list[set[str]] = []
    reasons: set[str] = set()
    try:
        for i in range(EVALUATIONS):
            current[0] = i
            clock.set(NOW + i * STEP)
            await engine.refresh_prometheus(client)
            assert engine.error is None
            shown.append(near_gpus(engine.statuses))
            reasons.update(s.reason or "" for s in engine.statuses if s.state == "near")
            rows = [((("gpu", g),), states[g][i], values[g][i]) for g in GPUS]
            replayed.append({dict(k)["gpu"] for k in replay.step(i, NOW + i * STEP, rows)})
    finally:
        await client.aclose()
    assert replayed == shown
    # not a vacuous match: near by the margin, by a trend and held by hysteresis all occur,
    # and a row the dashboard keeps for an evaluation the series missed
    assert sum(map(len, shown)) > 40
    assert any(r.startswith("trend crosses") for r in reasons)
    assert any(r.startswith("within 1.5×") for r in reasons)
    assert any("2" in s and math.isnan(values["2"][i]) for i, s in enumerate(shown))


class _Node:
    """Readings of three GPUs, one every evaluation, into a store."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.store = MetricStore()

    def read(self, temps: dict[str, float]) -> list[GpuSample]:
        gpus = [
            GpuSample(
                index=int(g),
                uuid=f"GPU-{g}",
                name="NVIDIA A100-SXM4-80GB",
                host="node-a",
                source="test",
                time=self.clock.now(),
                temperature_c=v,
                memory_total_mib=81920.0,
            )
            for g, v in temps.items()
        ]
        for gpu in gpus:
            self.store.add_gpu(gpu)
        return gpus


@pytest.mark.parametrize("seed", [4, 5])
def test_without_prometheus_the_replay_calls_near_what_the_local_rules_show(seed: int) -> None:
    rule = RuleDef("Hot", "DCGM_FI_DEV_GPU_TEMP > 80", for_s=60.0, interval_s=STEP, group="g")
    values = walks(seed, holes=False)
    clock = FakeClock(NOW)
    node = _Node(clock)
    evaluator = LocalEvaluator([rule], clock=clock)
    replay = NearReplay(rule, rule.analysis, margin=DEFAULT_MARGIN, local=True)
    code = {"inactive": INACTIVE, "near": INACTIVE, "ok": INACTIVE}
    code |= {"pending": PENDING, "firing": FIRING}
    shown: list[set[str]] = []
    replayed: list[set[str]] = []
    for i in range(EVALUATIONS):
        clock.set(NOW + i * STEP)
        statuses = evaluator.evaluate(node.store, node.read({g: values[g][i] for g in GPUS}))
        shown.append(near_gpus(statuses))
        by_gpu = {s.labels["gpu"]: s for s in statuses}
        rows = [((("gpu", g),), code[by_gpu[g].state], values[g][i]) for g in GPUS]
        replayed.append({dict(k)["gpu"] for k in replay.step(i, NOW + i * STEP, rows)})
    assert replayed == shown
    assert sum(map(len, shown)) > 40


def test_a_warnings_horizon_is_the_trends_then_the_time_a_crossing_takes_to_fire() -> None:
    rule = RuleDef("Hot", "temp > 80", for_s=60.0, interval_s=10.0)
    # a trend looks 3 minutes ahead (at least `for`); the crossing is seen at the next
    # evaluation, pending for 60 s, and the value read is up to one interval old
    assert horizon_s(rule) == 180.0 + 60.0 + 20.0


def test_pending_and_firing_series_are_never_near() -> None:
    rule = RuleDef("Hot", "temp > 80", for_s=60.0, interval_s=10.0)
    replay = NearReplay(rule, rule.analysis, margin=0.1)
    key = (("gpu", "0"),)
    assert replay.step(0, NOW, [(key, INACTIVE, 75.0)]) == {key}  # within 10 % of 80
    assert replay.step(1, NOW + 10, [(key, PENDING, 85.0)]) == set()
    assert replay.step(2, NOW + 20, [(key, FIRING, 85.0)]) == set()
    assert replay.step(3, NOW + 30, [(key, INACTIVE, 79.0)]) == {key}
