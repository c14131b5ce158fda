"""What the rules engine carries between evaluations, and Prometheus' times in words: the
rows of lost GPUs, "firing since" when firing began, countdowns that only
decrease, the last states kept through an outage, and the check status of a lost GPU."""

from __future__ import annotations

import dataclasses
import re
from typing import NoReturn

from gputop.core.backoff import RETRY_CAP_S
from gputop.core.clock import FakeClock
from gputop.core.models import GpuSample
from gputop.rules.engine import RulesEngine, check_status
from gputop.rules.model import RuleDef, RuleStatus, series_status
from gputop.rules.settle import GPU_LOST, StatusKeeper
from gputop.rules.text import rule_detail, rule_detail_short
from gputop.sources.base import SourceError
from tests.support.ui import fixed_utc

HOT = RuleDef("GPUTemperatureHigh", "DCGM_FI_DEV_GPU_TEMP > 85", for_s=60.0, severity="critical")
NOW = 1_767_268_800.0  # 12:00:00 UTC
LABELS = {"gpu": "2", "UUID": "GPU-2", "Hostname": "node-a"}


def temp(value: float, *, source: str = "local") -> RuleStatus:
    return series_status(HOT, "inactive", now=NOW, value=value, labels=LABELS, source=source)  # type: ignore[arg-type]


def test_a_lost_gpus_rows_stay_as_unknown_gpu_lost() -> None:
    keeper = StatusKeeper()
    firing = dataclasses.replace(temp(90.0), state="firing", active_at=NOW - 120)
    other = dataclasses.replace(temp(50.0), labels={"gpu": "3", "Hostname": "node-a"})
    keeper.settle([firing, other])
    lost = GpuSample(2, "GPU-2", "A100", "node-a", "nvml", NOW, state="lost", reason="GPU is lost")
    # the evaluator no longer sees the lost GPU's series at all
    after = keeper.settle([other], [lost])
    by_gpu = {s.labels["gpu"]: s for s in after}
    assert by_gpu["2"].state == "unknown" and by_gpu["2"].reason == GPU_LOST
    assert by_gpu["2"].name == "GPUTemperatureHigh" and by_gpu["3"] == other
    assert keeper.settle([other], [lost])[1].reason == GPU_LOST  # for as long as it is lost
    assert len(keeper.settle([other], [])) == 1  # back, or gone: no row is invented

    # a locally evaluated alert on a lost GPU runs on readings that stopped: unknown too;
    # Prometheus' own alert states are shown as Prometheus reports them
    assert keeper.settle([firing], [lost])[0].state == "unknown"
    prom = dataclasses.replace(firing, source="prometheus")
    assert keeper.settle([prom], [lost])[0].state == "firing"


def test_check_status_is_critical_with_a_lost_gpu() -> None:
    ok = [temp(50.0)]
    assert check_status(ok, sources_failing=False) == 0
    assert check_status(ok, sources_failing=False, lost_gpus=1) == 2
    lost_row = dataclasses.replace(temp(50.0), state="unknown", reason=GPU_LOST)
    assert check_status([lost_row], sources_failing=False, lost_gpus=1) == 2


def test_firing_since_is_when_firing_began_not_when_pending_began() -> None:
    with fixed_utc():
        status = series_status(HOT, "firing", now=NOW, value=90.0, active_at=NOW - 300.0)
        # pending from 11:55:00, firing once it held for the rule's 1m: 11:56:00
        assert status.firing_since == NOW - 240.0
        assert rule_detail(status, NOW).endswith("firing since 11:56:00")
        assert rule_detail_short(status, NOW) == "90 vs > 85 since 11:56:00"


def test_a_pending_countdown_only_decreases_and_has_no_tilde() -> None:
    slow = RuleDef("GPUBusy", "DCGM_FI_PROF_GR_ENGINE_ACTIVE > 0.95", for_s=300.0)
    status = series_status(slow, "pending", now=NOW, value=0.97, active_at=NOW - 10.0)
    seconds = []
    for t in range(0, 289, 7):
        match = re.search(r"fires in (?:(\d+)m)?(?:(\d+)s)?$", rule_detail(status, NOW + t))
        assert match is not None, rule_detail(status, NOW + t)
        seconds.append(60 * int(match[1] or 0) + int(match[2] or 0))
    assert seconds[0] == 290 and seconds == sorted(seconds, reverse=True)
    assert len(set(seconds)) == len(seconds)  # every step shows a smaller number
    assert rule_detail(status, NOW + 290.0).endswith("due")


class FailingClient:
    """A Prometheus client whose rules endpoint cannot be reached."""

    async def rules(self) -> NoReturn:
        raise SourceError("unreachable: connection refused")


async def test_an_outage_keeps_the_last_statuses_and_retries_within_the_cap() -> None:
    clock = FakeClock(NOW)
    engine = RulesEngine([], clock=clock, origin="Prometheus")
    engine.statuses = [dataclasses.replace(temp(90.0), state="firing", source="prometheus")]
    engine.last_ok = NOW - 30.0
    client = FailingClient()
    delays = []
    for _ in range(8):
        await engine.refresh_prometheus(client)  # type: ignore[arg-type]
        assert engine.error == "unreachable: connection refused"
        assert [s.state for s in engine.statuses] == ["firing"]  # the last known truth
        assert engine.retry_at is not None
        delays.append(engine.retry_at - clock.now())
        clock.set(engine.retry_at)
    assert delays == [1, 2, 4, 8, 8, 8, 8, 8] and RETRY_CAP_S == 8
    await engine.refresh_prometheus(client)  # type: ignore[arg-type]
    assert engine.retry_at == clock.now() + 8
    engine.retry_now()  # `r`: no waiting for the backoff
    assert engine.retry_at is not None and engine.retry_at <= clock.now()
