"""Dashboards with chosen rule states, for the tests of what must never be hidden.

- `four_of_each(host)`: 4 rule series in each state (firing, pending, near, ok, unknown) on
  the GPUs of one node, as an engine would report them.
- `FixedRules`: a rules engine that reports given statuses and ignores evaluations.
- `build_states_app()`: the seeded demo node (8 local GPUs) with `four_of_each`.
- `StandInFleet` and `build_fleet_app()`: 16 GPUs that only Prometheus sees, on 2 nodes,
  with one firing rule on a GPU of the second node.
- `assert_active_rows_shown(app)`: every firing and pending row on screen, the rest counted.

Every frame is deterministic: a fixed clock, a fixed seed, fixed statuses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gputop.core.clock import FakeClock
from gputop.core.models import GpuSample, SourceState, SourceStatus
from gputop.core.store import MetricStore
from gputop.monitor import Monitor
from gputop.rules.engine import RulesEngine
from gputop.rules.model import RuleStatus
from gputop.rules.text import STATE_LABELS, rule_title
from gputop.ui.app import GpuTopApp
from gputop.ui.widgets.rules_panel import RulesPanel
from tests.support.ui import START, build_monitor, screen_lines

__all__ = [
    "FLEET_HOSTS",
    "FixedRules",
    "StandInFleet",
    "assert_active_rows_shown",
    "build_fleet_app",
    "build_states_app",
    "fleet_firing",
    "four_of_each",
    "panel_text",
]

FLEET_HOSTS = ("gpu-node-a", "gpu-node-b")
_MORE = re.compile(r"\+(\d+) more: (.*?)( · Tab to scroll)?$")


class FixedRules(RulesEngine):
    """Reports `statuses` as they are given; local evaluations change nothing."""

    def __init__(self, statuses: Sequence[RuleStatus], clock: FakeClock, origin: str) -> None:
        super().__init__([], clock=clock, origin=origin)
        self.statuses = list(statuses)

    def evaluate_local(self, store: MetricStore, gpus: Sequence[GpuSample]) -> None:
        return None


def _on(gpu: int, host: str) -> dict[str, str]:
    return {"gpu": str(gpu), "Hostname": host}


def four_of_each(host: str, now: float = START) -> list[RuleStatus]:
    """Four series in each state, spread over GPUs 0-7 of `host`."""
    temp = {"op": ">", "threshold": 85.0, "severity": "critical", "query": "DCGM_FI_DEV_GPU_TEMP"}
    mem = {"op": ">", "threshold": 90.0, "severity": "warning"}
    busy = {"op": ">", "threshold": 0.95, "severity": "info"}
    out: list[RuleStatus] = []
    for i, gpu in enumerate((3, 5, 6, 1)):
        name = ("GPUTemperatureHigh", "GPUHighMemoryUsage", "GPUStuckJob", "GPUXidErrors")[i]
        kw = temp if i == 0 else mem
        out.append(
            RuleStatus(name, "firing", value=95.0 - i, labels=_on(gpu, host),
                       active_at=now - 600 + 60 * i, for_s=60.0, **kw)  # type: ignore[arg-type]
        )  # fmt: skip
    for i, gpu in enumerate((0, 2, 4, 7)):
        out.append(
            RuleStatus("GPUBusy", "pending", value=0.97, labels=_on(gpu, host),
                       active_at=now - 30 * (i + 1), for_s=300.0, **busy)  # type: ignore[arg-type]
        )  # fmt: skip
    for i, gpu in enumerate((0, 1, 2, 4)):
        out.append(
            RuleStatus("GPUTemperatureHigh", "near", value=78.0 + i, labels=_on(gpu, host),
                       eta_s=95.0 if i == 0 else None, for_s=60.0, **temp)  # type: ignore[arg-type]
        )  # fmt: skip
    for gpu in (0, 1, 2, 3):
        out.append(
            RuleStatus("GPUHighMemoryUsage", "ok", value=40.0 + gpu, labels=_on(gpu, host),
                       for_s=120.0, **mem)  # type: ignore[arg-type]
        )  # fmt: skip
    reasons = (
        "needs Prometheus: metric t2v_jobs_completed_total",
        "query failed: timeout",
        "no data: DCGM_FI_DEV_XID_ERRORS returned no series",
        "GPU lost",
    )
    for i, reason in enumerate(reasons):
        labels = {} if i < 3 else _on(7, host)
        name = ("T2VJobsStalled", "T2VInferenceSlow", "GPUXidErrorsAny", "GPUHighMemoryUsage")[i]
        out.append(RuleStatus(name, "unknown", reason=reason, labels=labels))
    return out


def build_states_app(**kwargs: object) -> GpuTopApp:
    """The demo node (8 local GPUs) whose rules report `four_of_each`."""
    monitor = build_monitor(rules=False, **kwargs)  # type: ignore[arg-type]
    clock = monitor.clock
    assert isinstance(clock, FakeClock)
    monitor.rules = FixedRules(four_of_each(monitor.host, clock.now()), clock, "team-rules.yml")
    return GpuTopApp(monitor, poll=False)


def _fleet_gpu(host: str, index: int, now: float) -> GpuSample:
    n = FLEET_HOSTS.index(host) * 8 + index
    return GpuSample(
        index=index,
        uuid=f"GPU-{host}-{index}",
        name="NVIDIA H100 80GB HBM3",
        host=host,
        source="prometheus",
        time=now,
        memory_used_mib=40960.0 + 1024 * n,
        memory_total_mib=81920.0,
        utilization_gpu_pct=float(40 + 3 * n),
        temperature_c=92.0 if (host, index) == fleet_firing() else float(50 + n),
        power_w=300.0 + 5 * n,
        power_limit_w=700.0,
    )


def fleet_firing() -> tuple[str, int]:
    """The one GPU of the stand-in fleet whose temperature rule fires."""
    return (FLEET_HOSTS[1], 6)


class StandInFleet:
    """The methods of the Prometheus source the dashboard uses: 16 GPUs on 2 nodes."""

    name = "prometheus"

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.state = SourceState(SourceStatus.OK, None, last_ok=clock.now())

    def gpus(self) -> tuple[GpuSample, ...]:
        now = self.clock.now()
        return tuple(_fleet_gpu(h, i, now) for h in FLEET_HOSTS for i in range(8))

    def labels(self, key: str) -> dict[str, str]:
        return {}

    def latency(self) -> None:
        return None

    async def refresh(self) -> None:
        return None

    def retry_now(self) -> None:
        return None


def build_fleet_app() -> GpuTopApp:
    """16 GPUs on 2 nodes seen only through Prometheus, one rule firing on gpu-node-b's GPU 6,
    a pending and a near one, the rest ok."""
    clock = FakeClock(START)
    fleet = StandInFleet(clock)
    host, index = fleet_firing()
    temp = {"op": ">", "threshold": 85.0, "query": "DCGM_FI_DEV_GPU_TEMP", "for_s": 60.0}
    statuses = [
        RuleStatus("GPUTemperatureHigh", "firing", severity="critical", value=92.0,
                   labels={"gpu": str(index), "Hostname": host}, active_at=START - 200, **temp),  # type: ignore[arg-type]
        RuleStatus("GPUHighMemoryUsage", "pending", severity="warning", value=93.0, op=">",
                   threshold=90.0, labels={"gpu": "7", "Hostname": FLEET_HOSTS[0]},
                   active_at=START - 40, for_s=120.0),
    ]  # fmt: skip
    for gpu in fleet.gpus():
        if (gpu.host, gpu.index) != (host, index):
            value = gpu.temperature_c or 0.0
            statuses.append(
                RuleStatus("GPUTemperatureHigh", "near" if value >= 76.5 else "ok",
                           severity="critical", value=value,
                           labels={"gpu": str(gpu.index), "Hostname": gpu.host}, **temp)  # type: ignore[arg-type]
            )  # fmt: skip
    monitor = Monitor(clock=clock, local=None, remote=fleet, host="desk")
    monitor.rules = FixedRules(statuses, clock, "Prometheus")
    for gpu in fleet.gpus():  # ten minutes of temperature history
        points = [(START - 600 + s, 40.0 + (s % 60) / 2) for s in range(0, 600, 5)]
        monitor.store.merge(gpu.key, "temperature_c", points)
    return GpuTopApp(monitor, poll=False)


# ---- what the rules panel shows -----------------------------------------------------------


def panel_text(app: GpuTopApp) -> list[str]:
    """The rules panel's lines as the screen shows them (inside its border)."""
    panel = app.screen.query_one(RulesPanel)
    lines = screen_lines(app)
    r = panel.content_region
    return [lines[y][r.x : r.right].rstrip() for y in range(r.y, r.bottom)]


def assert_active_rows_shown(app: GpuTopApp) -> None:
    """Every firing and pending status has its row on screen, with its state, rule, GPU and
    node; the rows shown and the "+N more" line account for every status."""
    statuses = app.monitor.rule_statuses()
    shown = panel_text(app)
    text = "\n".join(shown)
    active = [s for s in statuses if s.state in ("firing", "pending")]
    assert active
    for st in active:
        row = f"{STATE_LABELS[st.state]} "
        who = rule_title(st)  # "GPUTemperatureHigh · GPU 3 @ node-a"
        assert any(row in line and who in line for line in shown), (who, text)
    labels = tuple(label.strip() for label in STATE_LABELS.values())
    rows = [line for line in shown if line.lstrip(" ▶").startswith(labels)]
    more = next((m for m in map(_MORE.search, shown) if m), None)
    hidden = int(more[1]) if more else 0
    assert len(rows) + hidden == len(statuses), text
