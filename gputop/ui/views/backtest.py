"""What the dashboard shows of a backtest: a GPU's past firing windows per rule (drawn on its
detail charts), and the progress line of a backtest running in a worker.

The past firing windows come from the same backtest as `gputop rules backtest` (Prometheus'
rule-manager semantics over the engine's history, or this node's history without one), over
the chart's range; a rule is drawn on the chart of the metric it compares, and a rule on no
chart's metric (latency, a stuck job) on every chart of the GPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gputop.core.models import GpuSample
from gputop.rules.backtest.report import Report
from gputop.rules.model import RuleStatus
from gputop.ui.views.readings import rule_metric, status_matches_gpu

__all__ = ["Windows", "chart_windows", "firing_windows", "progress_text", "rule_metrics"]

#: Per rule: its firing windows (first and last firing evaluation, epoch seconds).
Windows = Mapping[str, tuple[tuple[float, float], ...]]


def firing_windows(report: Report, gpu: GpuSample) -> dict[str, tuple[tuple[float, float], ...]]:
    """The firing windows of the report's series that are about this GPU, per rule."""
    out: dict[str, tuple[tuple[float, float], ...]] = {}
    for rule in report.rules:
        if rule.outcome is None:
            continue
        found = [
            (w.start, w.end)
            for series in rule.outcome.series
            if status_matches_gpu(series.labels, gpu)
            for w in series.firing
        ]
        if found:
            out[rule.name] = tuple(sorted(found))
    return out


def rule_metrics(statuses: Sequence[RuleStatus]) -> dict[str, str | None]:
    """The chart metric each rule compares (None: no chart's)."""
    out: dict[str, str | None] = {}
    for st in statuses:
        mapped = rule_metric(st.query)
        out.setdefault(st.name, mapped[0] if mapped is not None else None)
    return out


def chart_windows(
    windows: Windows, metrics: Mapping[str, str | None], metric_key: str
) -> list[tuple[float, float]]:
    """The windows drawn on one metric's chart, oldest first."""
    return sorted(
        w
        for name, spans in windows.items()
        if metrics.get(name) in (metric_key, None)
        for w in spans
    )


def progress_text(done: int, planned: int, rules_done: int, rules: int) -> str:
    return f"{done}/{planned} queries · {rules_done}/{rules} rules replayed"
