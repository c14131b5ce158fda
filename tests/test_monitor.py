"""The monitor: local readings into the store, failures into source states with backoff."""

from __future__ import annotations

import itertools

from gputop.core.clock import FakeClock
from gputop.core.models import GpuSample, NodeSnapshot, SourceState, SourceStatus
from gputop.monitor import Monitor
from gputop.sources.base import SourceError, SourceUnavailable
from gputop.sources.demosource import DemoSource


class FlakySource:
    """Fails while `failing` is set; otherwise one GPU whose temperature counts up."""

    name = "nvml"
    host = "test-node"

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.failing = False
        self.calls = 0
        self._temps = itertools.count(40)

    def open(self) -> None: ...

    def close(self) -> None: ...

    def sample(self) -> NodeSnapshot:
        self.calls += 1
        if self.failing:
            raise SourceError("NVML call failed: Unknown Error")
        now = self.clock.now()
        gpu = GpuSample(0, "GPU-x", "Fake", "h", "nvml", now, temperature_c=next(self._temps))
        return NodeSnapshot(now, "h", "nvml", gpus=(gpu,))


def test_readings_land_in_the_store_and_the_state_is_ok() -> None:
    clock = FakeClock()
    mon = Monitor(clock=clock, local=DemoSource(clock))
    mon.open()
    for _ in range(5):
        clock.advance(1)
        mon.poll()
    assert mon.state("demo").status is SourceStatus.OK
    assert mon.state("demo").newest == clock.now()  # its newest reading
    assert mon.latency_state() == mon.state("demo")  # the demo node's latency is its own
    assert mon.state("nvml").status is SourceStatus.OFF
    assert len(mon.gpus()) == 8
    key = mon.gpus()[0].key
    temperatures = mon.store.get(key, "temperature_c")
    assert temperatures is not None and len(temperatures) == 5


def test_a_failing_source_is_marked_with_its_reason_and_retried_with_backoff() -> None:
    clock = FakeClock()
    src = FlakySource(clock)
    mon = Monitor(clock=clock, local=src)
    mon.open()
    mon.poll()
    last_ok = mon.state("nvml").last_ok
    src.failing = True
    clock.advance(1)
    mon.poll()
    state = mon.state("nvml")
    assert state.status is SourceStatus.ERROR
    assert state.reason == "NVML call failed: Unknown Error"
    assert state.last_ok == last_ok  # how stale the data is stays known
    calls = src.calls
    clock.advance(0.5)
    mon.poll()  # inside the backoff delay: no call
    assert src.calls == calls
    clock.advance(1)
    mon.poll()  # due again, fails again: the delay doubles
    assert src.calls == calls + 1
    assert mon.state("nvml").retry_at == clock.now() + 2
    src.failing = False
    clock.advance(2)
    mon.poll()
    assert mon.state("nvml").status is SourceStatus.OK
    assert mon.gpus()[0].temperature_c is not None


def test_an_unavailable_source_is_marked_and_dropped() -> None:
    class Missing(FlakySource):
        def open(self) -> None:
            raise SourceUnavailable("NVML not found")

    clock = FakeClock()
    mon = Monitor(clock=clock, local=Missing(clock))
    mon.open()
    assert mon.local is None
    assert mon.state("nvml").status is SourceStatus.UNAVAILABLE
    assert mon.state("nvml").reason == "NVML not found"
    mon.poll()  # nothing to read, nothing raised
    assert mon.gpus() == []


def test_warm_start_fills_history_from_a_replayable_source() -> None:
    clock = FakeClock()
    mon = Monitor(clock=clock, local=DemoSource(clock, warmup_s=600))
    mon.open()
    mon.warm_start(300, 1.0)
    key = mon.gpus()[0].key
    series = mon.store.get(key, "utilization_gpu_pct")
    assert series is not None and len(series) == 300
    assert series.first_time is not None and series.last_time is not None
    assert series.last_time - series.first_time == 299


class FleetOnly:
    """A remote source that sees 40 GPUs on 5 nodes (no local GPU)."""

    def __init__(self) -> None:
        self._gpus = tuple(
            GpuSample(i % 8, f"GPU-{i}", "A100", f"node-{i // 8}", "prometheus", 0.0)
            for i in range(40)
        )

    def gpus(self) -> tuple[GpuSample, ...]:
        return self._gpus

    def latency(self) -> None:
        return None

    @property
    def state(self) -> SourceState:
        return SourceState(SourceStatus.OK)

    async def refresh(self) -> None:
        return None

    def retry_now(self) -> None:
        return None

    def labels(self, key: str) -> dict[str, str]:
        return {}


def test_with_no_local_gpu_the_overview_shows_the_first_of_the_fleet_and_json_all() -> None:
    from gputop.monitor import OVERVIEW_MAX

    mon = Monitor(clock=FakeClock(), local=None, remote=FleetOnly())
    assert len(mon.gpus()) == 40
    assert [g.key for g in mon.overview_gpus()] == [f"GPU-{i}" for i in range(OVERVIEW_MAX)]


class LateDriver(FlakySource):
    """A GPU whose driver loads only after `opens_failing` attempts (a wall screen at boot)."""

    def __init__(self, clock: FakeClock, opens_failing: int) -> None:
        super().__init__(clock)
        self.opens_failing = opens_failing
        self.opens = 0

    def open(self) -> None:
        self.opens += 1
        if self.opens <= self.opens_failing:
            raise SourceUnavailable("NVIDIA driver not loaded")


def test_a_kiosk_keeps_trying_a_source_that_cannot_open_yet() -> None:
    clock = FakeClock()
    src = LateDriver(clock, opens_failing=3)
    mon = Monitor(clock=clock, local=src)
    mon.open(keep_trying=True)
    assert mon.local is src  # kept, not dropped
    assert mon.state("nvml").status is SourceStatus.UNAVAILABLE
    for _ in range(20):
        clock.advance(1)
        mon.poll()
        if mon.state("nvml").ok:
            break
    assert mon.state("nvml").ok and src.opens == 4
    assert mon.state("nvml").reason is None and len(mon.gpus()) == 1
    assert src.opens == 4  # opened once it worked, never again
