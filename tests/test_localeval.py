"""Local rule evaluation: Prometheus' for/keep_firing_for semantics and the supported subset."""

from __future__ import annotations

from typing import Any

import pytest

from gputop.core.clock import FakeClock
from gputop.core.models import GpuSample, LatencySample
from gputop.core.store import MetricStore
from gputop.promql.evaluator import EvalContext, compile_query, gpu_labels
from gputop.rules.local import NEEDS_PROMETHEUS, LocalEvaluator
from gputop.rules.model import RecordDef, RuleDef, RuleStatus

MODEL = "NVIDIA A100-SXM4-80GB"


class Node:
    """A store fed with hand-made GPU samples at the fake clock's time."""

    def __init__(self, gpus: int = 2) -> None:
        self.clock = FakeClock()
        self.store = MetricStore()
        self.count = gpus
        self.latest: list[GpuSample] = []

    def sample(self, **per_gpu: list[float] | float) -> list[GpuSample]:
        samples = []
        for i in range(self.count):
            fields: dict[str, Any] = {
                k: (v[i] if isinstance(v, list) else v) for k, v in per_gpu.items()
            }
            fields.setdefault("memory_total_mib", 81920.0)
            samples.append(
                GpuSample(
                    index=i,
                    uuid=f"GPU-{i:04d}",
                    name=MODEL,
                    host="node-a",
                    source="test",
                    time=self.clock.now(),
                    **fields,
                )
            )
        for s in samples:
            self.store.add_gpu(s)
        self.latest = samples
        return samples

    def evaluator(self, *rules: RuleDef, records: tuple[RecordDef, ...] = ()) -> LocalEvaluator:
        return LocalEvaluator(list(rules), clock=self.clock, records=records)

    def query(self, expr: str) -> dict[str, float]:
        """Evaluate a query now; values by gpu label."""
        readings = {g.key: g for g in self.latest}
        ctx = EvalContext(self.clock.now(), self.store, gpu_labels(self.latest), readings)
        result = compile_query(expr)(ctx)
        assert isinstance(result, dict)
        return {dict(k).get("gpu", ""): v for k, v in result.items()}


def _by_gpu(statuses: list[RuleStatus]) -> dict[str, RuleStatus]:
    return {s.labels.get("gpu", ""): s for s in statuses}


HOT = RuleDef("Hot", "DCGM_FI_DEV_GPU_TEMP > 85", for_s=60.0, severity="critical")


def test_pending_then_firing_exactly_at_for() -> None:
    node = Node()
    ev = node.evaluator(HOT)
    seen = []
    for _ in range(6):  # evaluations every 15 s: 0, 15, 30, 45, 60, 75
        node.sample(temperature_c=[90.0, 40.0])
        s = _by_gpu(ev.evaluate(node.store, node.latest))["0"]
        seen.append((s.state, s.fires_in_s))
        node.clock.advance(15)
    assert seen == [
        ("pending", 60.0),
        ("pending", 45.0),
        ("pending", 30.0),
        ("pending", 15.0),
        ("firing", None),
        ("firing", None),
    ]


def test_pending_resets_when_the_condition_clears() -> None:
    node = Node()
    ev = node.evaluator(HOT)
    for temp in (90.0, 90.0, 70.0, 90.0):
        node.sample(temperature_c=temp)
        statuses = _by_gpu(ev.evaluate(node.store, node.latest))
        node.clock.advance(20)
    assert statuses["0"].state == "pending"
    assert statuses["0"].fires_in_s == 60.0  # a fresh activeAt, not the first one


def test_states_move_only_at_the_groups_interval_like_prometheus() -> None:
    """A one-second dip between two evaluations of a 30 s group does not reset pending; the
    value shown is the one the state was evaluated on, so the two never contradict each other
    (a PENDING row showing 90 against > 95, once)."""
    rule = RuleDef("Busy", "DCGM_FI_DEV_GPU_UTIL > 95", for_s=60.0, interval_s=30.0)
    node = Node(gpus=1)
    node.clock.set(1_767_268_800.0)  # on the 30 s grid
    ev = node.evaluator(rule)
    seen: list[tuple[int, str, float | None]] = []
    for t in range(0, 91):
        util = 90.0 if t in (10, 41, 42) else 98.0  # dips between evaluations at 0, 30, 60, 90
        node.sample(utilization_gpu_pct=util)
        (status,) = ev.evaluate(node.store, node.latest)
        seen.append((t, status.state, status.value))
        node.clock.advance(1)
    states = {t: state for t, state, _ in seen}
    assert {states[t] for t in range(0, 60)} == {"pending"}  # never reset by the dips
    assert states[60] == "firing" and states[90] == "firing"
    assert seen[10][2] == 98.0  # the dip at 10 s was not evaluated: its value is not shown
    assert all((value or 0) > 95.0 for _, state, value in seen if state in ("pending", "firing"))
    # the same dip at an evaluation resets it, as in Prometheus
    node.sample(utilization_gpu_pct=90.0)
    node.clock.advance(29)
    node.sample(utilization_gpu_pct=90.0)
    (status,) = ev.evaluate(node.store, node.latest)
    assert status.state in ("near", "ok")


def test_keep_firing_for_then_resolves() -> None:
    rule = RuleDef("Hot", "DCGM_FI_DEV_GPU_TEMP > 85", for_s=0.0, keep_firing_for_s=60.0)
    node = Node(gpus=1)
    ev = node.evaluator(rule)
    timeline = []
    for t, temp in [(0, 90), (15, 60), (45, 60), (74, 60), (75, 60), (90, 60)]:
        node.clock.set(FakeClock().now() + t)
        node.sample(temperature_c=float(temp))
        timeline.append((t, ev.evaluate(node.store, node.latest)[0].state))
    # Cleared at 15: kept firing while now - 15 < 60, resolved from 75 on.
    assert timeline == [
        (0, "firing"),
        (15, "firing"),
        (45, "firing"),
        (74, "firing"),
        (75, "ok"),
        (90, "ok"),
    ]


def test_condition_back_during_keep_firing_restarts_the_keep_window() -> None:
    rule = RuleDef("Hot", "DCGM_FI_DEV_GPU_TEMP > 85", keep_firing_for_s=30.0)
    node = Node(gpus=1)
    ev = node.evaluator(rule)
    states = []
    for t, temp in [(0, 90), (10, 60), (20, 90), (30, 60), (55, 60), (60, 60)]:
        node.clock.set(FakeClock().now() + t)
        node.sample(temperature_c=float(temp))
        states.append(ev.evaluate(node.store, node.latest)[0].state)
    assert states == ["firing", "firing", "firing", "firing", "firing", "ok"]


def test_firing_resolves_when_the_condition_clears() -> None:
    node = Node(gpus=1)
    ev = node.evaluator(RuleDef("Hot", "DCGM_FI_DEV_GPU_TEMP > 85"))
    node.sample(temperature_c=95.0)
    assert ev.evaluate(node.store, node.latest)[0].state == "firing"
    node.clock.advance(15)
    node.sample(temperature_c=50.0)
    after = ev.evaluate(node.store, node.latest)[0]
    assert (after.state, after.value, after.source) == ("ok", 50.0, "local")


@pytest.mark.parametrize(
    ("expr", "what"),
    [
        ("rate(DCGM_FI_DEV_GPU_UTIL[5m]) > 1", "function rate()"),
        ("increase(t2v_jobs_completed_total[10m]) == 0", "metric t2v_jobs_completed_total"),
        ('DCGM_FI_DEV_GPU_TEMP{pod="t2v-0"} > 85', 'label matcher pod="t2v-0"'),
        ("DCGM_FI_DEV_GPU_TEMP offset 5m > 85", "offset"),
        ("topk(1, DCGM_FI_DEV_GPU_TEMP) > 85", "aggregation topk"),
        ("DCGM_FI_DEV_GPU_TEMP > on(gpu) group_left DCGM_FI_DEV_SM_CLOCK", "group_left"),
        ("max_over_time(DCGM_FI_DEV_GPU_TEMP[5m:1m]) > 85", "subquery"),
        (
            "histogram_quantile(0.9, sum(rate(t2v_inference_duration_seconds_bucket[5m])) by (le))"
            " > 300",
            "Q = 0.5, 0.95, 0.99",
        ),
    ],
)
def test_outside_the_subset_is_unknown_with_its_reason(expr: str, what: str) -> None:
    node = Node()
    node.sample(temperature_c=50.0, utilization_gpu_pct=10.0)
    ev = node.evaluator(RuleDef("R", expr), HOT)
    statuses = ev.evaluate(node.store, node.latest)
    mine = [s for s in statuses if s.name == "R"]
    assert len(mine) == 1  # reported, never dropped
    assert mine[0].state == "unknown"
    assert (mine[0].reason or "").startswith(NEEDS_PROMETHEUS)
    assert what in (mine[0].reason or "")
    assert "R" in ev.unsupported()
    assert {s.name for s in statuses} == {"R", "Hot"}


def test_selectors_and_label_matchers() -> None:
    node = Node(gpus=3)
    node.sample(temperature_c=[70.0, 80.0, 90.0])
    assert node.query('DCGM_FI_DEV_GPU_TEMP{gpu="1"}') == {"1": 80.0}
    assert node.query('DCGM_FI_DEV_GPU_TEMP{gpu!="1"}') == {"0": 70.0, "2": 90.0}
    assert node.query('DCGM_FI_DEV_GPU_TEMP{UUID=~"GPU-000[12]"}') == {"1": 80.0, "2": 90.0}
    assert node.query('DCGM_FI_DEV_GPU_TEMP{modelName!~".*A100.*"}') == {}
    assert node.query('DCGM_FI_DEV_GPU_TEMP{Hostname="node-a", device="nvidia2"}') == {"2": 90.0}


def test_arithmetic_matching_and_derived_metrics() -> None:
    node = Node(gpus=2)
    node.sample(memory_used_mib=[40960.0, 77824.0], utilization_gpu_pct=[97.0, 10.0])
    mem = node.query("DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) * 100")
    assert mem == pytest.approx({"0": 50.0, "1": 95.0})
    assert node.query("DCGM_FI_PROF_GR_ENGINE_ACTIVE > 0.95") == {"0": pytest.approx(0.97)}
    assert node.query("100 - DCGM_FI_DEV_GPU_UTIL") == {"0": 3.0, "1": 90.0}
    assert node.query("DCGM_FI_DEV_GPU_UTIL > bool 50") == {"0": 1.0, "1": 0.0}
    assert node.query("90 < DCGM_FI_DEV_GPU_UTIL") == {"0": 97.0}  # the vector's value is kept


def test_set_operations_by_gpu() -> None:
    node = Node(gpus=3)
    node.sample(utilization_gpu_pct=[95.0, 95.0, 20.0], temperature_c=[80.0, 40.0, 80.0])
    util_high = "DCGM_FI_DEV_GPU_UTIL > 85"
    assert node.query(f"{util_high} and DCGM_FI_DEV_GPU_TEMP > 60") == {"0": 95.0}
    assert node.query(f"{util_high} unless on(UUID) DCGM_FI_DEV_GPU_TEMP > 60") == {"1": 95.0}
    assert node.query(f"{util_high} or DCGM_FI_DEV_GPU_TEMP > 60") == {
        "0": 95.0,
        "1": 95.0,
        "2": 80.0,
    }


def test_over_time_uses_local_history() -> None:
    node = Node(gpus=1)
    for temp in (60.0, 70.0, 80.0, 90.0):
        node.sample(temperature_c=temp)
        node.clock.advance(60)
    node.sample(temperature_c=100.0)  # now: 60, 70, 80, 90 were 240..60 s ago
    assert node.query("max_over_time(DCGM_FI_DEV_GPU_TEMP[2m])") == {"0": 100.0}
    assert node.query("min_over_time(DCGM_FI_DEV_GPU_TEMP[2m])") == {"0": 90.0}
    assert node.query("avg_over_time(DCGM_FI_DEV_GPU_TEMP[10m])") == {"0": 80.0}


def test_aggregation_by_host() -> None:
    node = Node(gpus=3)
    node.sample(temperature_c=[70.0, 80.0, 90.0])
    ctx = EvalContext(node.clock.now(), node.store, gpu_labels(node.latest))
    got = compile_query("max by (Hostname) (DCGM_FI_DEV_GPU_TEMP)")(ctx)
    assert got == {(("Hostname", "node-a"),): 90.0}
    assert compile_query("avg(DCGM_FI_DEV_GPU_TEMP)")(ctx) == {(): 80.0}


P95 = RuleDef(
    "Slow",
    "histogram_quantile(0.95, sum(rate(t2v_inference_duration_seconds_bucket[5m])) by (le)) > 300",
    for_s=300.0,
)


def test_latency_quantile_from_local_latency() -> None:
    node = Node(gpus=1)
    node.sample(temperature_c=50.0)
    ev = node.evaluator(P95)
    no_latency = ev.evaluate(node.store, node.latest)[0]
    assert no_latency.state == "unknown" and "needs Prometheus" in (no_latency.reason or "")
    node.store.add_latency(LatencySample(node.clock.now(), 200.0, 310.0, 400.0, 1.5))
    slow = ev.evaluate(node.store, node.latest)[0]
    assert (slow.state, slow.value, slow.fires_in_s) == ("pending", 310.0, 300.0)


def test_near_by_trend_from_store_history() -> None:
    node = Node(gpus=1)
    for i in range(37):  # 0..180 s: 60 -> 78 °C, 0.1 °C/s
        node.clock.advance(5 if i else 0)
        node.sample(temperature_c=60.0 + 0.5 * i)
    ev = node.evaluator(RuleDef("Hot", "DCGM_FI_DEV_GPU_TEMP > 85", for_s=300.0))
    status = ev.evaluate(node.store, node.latest)[0]
    assert status.state == "near"  # 78 is outside the 10 % margin; the trend is not
    assert status.eta_s == pytest.approx(70.0, rel=0.05)
    assert len(status.history) >= 15  # seeded from the store on the first evaluation


def test_no_local_data_is_unknown() -> None:
    node = Node(gpus=1)
    ev = node.evaluator(HOT)
    status = ev.evaluate(node.store, [])[0]
    assert status.state == "unknown" and "no local data" in (status.reason or "")


def test_a_scaled_metric_at_the_threshold_does_not_cross_it_by_rounding() -> None:
    # GR_ENGINE_ACTIVE is utilization / 100 locally: 95 % must read 0.95, which is not > 0.95
    from gputop.promql.localdata import _scaled

    assert _scaled(95.0, 0.01) == 0.95
    assert not _scaled(95.0, 0.01) > 0.95
    assert _scaled(96.0, 0.01) > 0.95


def test_every_dcgm_field_nvml_reads_is_evaluated_locally() -> None:
    node = Node(gpus=2)
    node.sample(
        memory_used_mib=[40960.0, 8192.0],
        power_w=[690.0, 300.0],
        power_limit_w=700.0,
        fan_pct=[30.0, 95.0],
    )
    assert node.query("DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_TOTAL") == {"0": 0.5, "1": 0.1}
    assert node.query("DCGM_FI_DEV_POWER_USAGE / DCGM_FI_DEV_POWER_MGMT_LIMIT > 0.95") == {
        "0": 690.0 / 700.0
    }
    assert node.query("DCGM_FI_DEV_ENFORCED_POWER_LIMIT") == {"0": 700.0, "1": 700.0}
    assert node.query("DCGM_FI_DEV_FAN_SPEED > 90") == {"1": 95.0}
    ev = node.evaluator(RuleDef("Full", "DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_TOTAL > 0.4"))
    assert [(s.state, s.labels["gpu"]) for s in ev.evaluate(node.store, node.latest)] == [
        ("firing", "0"),
        ("ok", "1"),
    ]


def test_a_reading_only_metric_over_time_needs_prometheus() -> None:
    node = Node()
    node.sample(temperature_c=50.0)
    ev = node.evaluator(RuleDef("R", "avg_over_time(DCGM_FI_DEV_FB_TOTAL[5m]) < 1000"))
    status = ev.evaluate(node.store, node.latest)[0]
    reason = status.reason or ""
    assert status.state == "unknown" and reason.startswith(NEEDS_PROMETHEUS)
    assert "only the current reading of DCGM_FI_DEV_FB_TOTAL is kept locally" in reason


def test_alerts_on_recorded_series_work_locally() -> None:
    node = Node(gpus=2)
    records = (
        RecordDef("gpu:fb_used:ratio", "DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_TOTAL"),
        RecordDef(
            "node:fb_used:max_ratio", "max by (Hostname) (gpu:fb_used:ratio)", {"team": "t2v"}
        ),
    )
    rules = (
        RuleDef("GpuFull", 'gpu:fb_used:ratio{gpu="0"} > 0.9', for_s=30.0),
        RuleDef("NodeFull", 'node:fb_used:max_ratio{team="t2v"} > 0.9'),
        RuleDef("WasFull", "max_over_time(gpu:fb_used:ratio[1m]) > 0.98"),
    )
    ev = node.evaluator(*rules, records=records)
    states = []
    for used in (81000.0, 81000.0, 81000.0, 40000.0):
        node.sample(memory_used_mib=[used, 1000.0])
        by_rule: dict[str, list[str]] = {}
        for status in ev.evaluate(node.store, node.latest):
            by_rule.setdefault(status.name, []).append(status.state)
        states.append(by_rule)
        node.clock.advance(15)
    assert [s["GpuFull"] for s in states] == [["pending"], ["pending"], ["firing"], ["ok"]]
    assert [s["NodeFull"] for s in states] == [["firing"], ["firing"], ["firing"], ["ok"]]
    # the recorded history: still full within the last minute after memory was freed
    assert states[0]["WasFull"] == states[3]["WasFull"] == ["firing", "ok"]
    assert ev.unsupported() == {}


def test_an_alert_on_a_record_that_needs_prometheus_says_which() -> None:
    node = Node()
    node.sample(temperature_c=50.0)
    records = (RecordDef("job:load:sum", "sum(node_load1)"),)
    ev = node.evaluator(RuleDef("Load", "job:load:sum > 4"), records=records)
    status = ev.evaluate(node.store, node.latest)[0]
    assert status.state == "unknown"
    assert status.reason == (
        NEEDS_PROMETHEUS + "metric node_load1 (in the recording rule job:load:sum)"
    )


@pytest.mark.parametrize("interval_s", [30.0, None])
def test_a_one_shot_says_what_the_running_dashboard_says(interval_s: float | None) -> None:
    """`--once` has a fresh evaluator and the stored history; the dashboard has evaluated
    every second for minutes. At the same moment both give the same states, values, ETAs."""
    node = Node(gpus=2)
    rule = RuleDef("Warm", "DCGM_FI_DEV_GPU_TEMP > 85", for_s=600.0, interval_s=interval_s)
    running = node.evaluator(rule)
    start = node.clock.now()
    for t in range(0, 600):
        # GPU 0 climbs steadily, GPU 1 swings between 40 and 70
        warm = 50.0 + 0.05 * t
        swing = 55.0 + 15.0 * (1 if (t // 90) % 2 else -1) * min(1.0, (t % 90) / 30)
        node.clock.set(start + t)
        node.sample(temperature_c=[warm, swing])
        if t >= 300:  # the dashboard started five minutes in
            dashboard = running.evaluate(node.store, node.latest)
            once = node.evaluator(rule).evaluate(node.store, node.latest)
            seen = [(s.labels["gpu"], s.state, s.value, s.eta_s, s.reason) for s in dashboard]
            said = [(s.labels["gpu"], s.state, s.value, s.eta_s, s.reason) for s in once]
            assert said == seen, t
    assert _by_gpu(dashboard)["0"].eta_s is not None  # the climb has an ETA, in both


def test_a_fresh_start_is_evaluated_at_once_not_at_a_grid_mark_without_data() -> None:
    """NVML has no past: a 30 s group started 7 s after its grid mark is evaluated now (a GPU
    lost before the next mark keeps its rows), then on the grid."""
    rule = RuleDef("Hot", "DCGM_FI_DEV_GPU_TEMP > 85", for_s=60.0, interval_s=30.0)
    node = Node(gpus=2)
    node.clock.set(1_767_268_807.0)  # 7 s past a mark of the 30 s grid
    ev = node.evaluator(rule)
    node.sample(temperature_c=[60.0, 61.0])
    first = _by_gpu(ev.evaluate(node.store, node.latest))
    assert {g: s.value for g, s in first.items()} == {"0": 60.0, "1": 61.0}
    node.clock.advance(1)
    node.sample(temperature_c=[70.0, 71.0])
    again = _by_gpu(ev.evaluate(node.store, node.latest))
    assert again["0"].value == 60.0  # the next evaluation is at the grid's next mark
    node.clock.set(1_767_268_830.0)
    node.sample(temperature_c=[72.0, 73.0])
    assert _by_gpu(ev.evaluate(node.store, node.latest))["0"].value == 72.0
