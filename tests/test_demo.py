"""The demo node: deterministic from its seed, driven by the clock, with its episodes."""

from __future__ import annotations

import pytest

from gputop.core.clock import FakeClock
from gputop.core.models import NodeSnapshot
from gputop.sources.demo import DemoNode
from gputop.sources.demosource import DemoSource


def _run(seed: int, seconds: float, scenario: str = "mixed") -> NodeSnapshot:
    clock = FakeClock()
    src = DemoSource(clock, seed=seed, scenario=scenario)
    clock.advance(seconds)
    return src.sample()


def test_same_seed_same_node_different_seed_different_node() -> None:
    a, b, c = _run(3, 600), _run(3, 600), _run(4, 600)
    assert a == b
    assert [g.temperature_c for g in a.gpus] != [
        g.temperature_c for g in c.gpus
    ] or a.latency != c.latency


def test_an_hour_simulates_to_its_end() -> None:
    snap = _run(7, 3600)
    assert len(snap.gpus) == 8
    assert snap.time == pytest.approx(FakeClock().now() + 3600)


def test_readings_are_plausible_for_an_a100_80gb() -> None:
    snap = _run(7, 1200)
    for g in snap.gpus:
        assert g.memory_used_mib is not None and g.utilization_gpu_pct is not None
        assert g.temperature_c is not None and g.power_w is not None
        assert g.power_limit_w is not None
        assert g.memory_total_mib == 81920
        assert 0 < g.memory_used_mib <= g.memory_total_mib
        assert 0 <= g.utilization_gpu_pct <= 100
        assert 20 <= g.temperature_c <= 100
        assert 0 < g.power_w <= g.power_limit_w == 400
        assert g.fan_pct is None  # datacenter parts report no fan
    assert {p.gpu_index for p in snap.processes} == set(range(8))
    assert snap.latency is not None and snap.latency.p95_s is not None


def test_jobs_move_through_phases_and_complete() -> None:
    node = DemoNode(start=0.0, seed=1, scenario="calm")
    phases: set[str] = set()
    for t in range(1, 1800):
        node.advance_to(float(t))
        phases.update(node.phase_of(i) for i in range(8))
    assert {"text-encode", "diffusion", "vae-decode", "super-res", "idle"} <= phases
    assert sum(node.completed(i) for i in range(8)) > 10
    assert sum(node.histogram) == node.latency_count


def test_hot_gpu_scenario_heats_gpu_3_past_the_alert() -> None:
    clock = FakeClock()
    src = DemoSource(clock, seed=7, scenario="hot-gpu")
    peaks = [0.0] * 8
    for _ in range(120):
        clock.advance(10)
        for g in src.sample().gpus:
            assert g.temperature_c is not None
            peaks[g.index] = max(peaks[g.index], g.temperature_c)
    assert peaks[3] > 85
    assert max(t for i, t in enumerate(peaks) if i != 3) < 80


def test_memory_creep_fills_gpu_5_then_the_worker_restarts() -> None:
    clock = FakeClock()
    src = DemoSource(clock, seed=7, scenario="memory-creep")
    peak = 0.0
    pids = set()
    for _ in range(90):
        clock.advance(60)
        snap = src.sample()
        used = snap.gpus[5].memory_used_pct
        assert used is not None
        peak = max(peak, used)
        pids.add(next(p.pid for p in snap.processes if p.gpu_index == 5))
    assert peak > 92
    assert len(pids) > 1  # the worker restarted after running out of memory


def test_stuck_job_holds_gpu_6_busy_without_completing() -> None:
    node = DemoNode(start=0.0, seed=7, scenario="stuck-job")
    node.advance_to(300.0)
    done = node.completed(6)
    for t in range(301, 1500, 10):
        node.advance_to(float(t))
        assert (node.gpu_samples()[6].utilization_gpu_pct or 0) >= 95
    assert node.completed(6) == done


def _p95(snap: NodeSnapshot) -> float:
    assert snap.latency is not None and snap.latency.p95_s is not None
    return snap.latency.p95_s


def test_slow_scenario_pushes_p95_over_300s() -> None:
    assert _p95(_run(7, 2400, scenario="slow")) > 300
    assert _p95(_run(7, 2400, scenario="calm")) < 300


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        DemoNode(start=0.0, scenario="boom")
