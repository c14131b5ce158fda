"""The thresholds of a GPU's rules on its detail charts: the lines drawn, lowest first, and the
ones that cannot be (a ratio rule compared with a percentage would squash the chart flat),
listed as off-scale with the reason. Rule names are outside text: their controls are made
visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gputop.core.models import METRICS, GpuSample
from gputop.core.untrusted import visible
from gputop.rules.model import RuleStatus
from gputop.ui.views.readings import rule_metric, status_matches_gpu

__all__ = ["ChartThresholds", "chart_thresholds", "thresholds"]


@dataclass(frozen=True, slots=True)
class ChartThresholds:
    """Rule thresholds on one chart: the lines drawn, and those that cannot be."""

    lines: tuple[tuple[str, float], ...] = ()
    off_scale: tuple[str, ...] = ()


def chart_thresholds(
    statuses: Sequence[RuleStatus], gpu: GpuSample | None, metric_key: str
) -> ChartThresholds:
    """Thresholds of the rules on `metric_key` (and on this GPU), lowest first. One the metric
    can never reach (a ratio rule compared with a percentage) is not drawn, which would squash
    the chart flat, but listed as off-scale with the reason."""
    metric = METRICS.get(metric_key)
    lines: dict[str, float] = {}
    off: dict[str, str] = {}
    for st in statuses:
        mapped = rule_metric(st.query)
        if mapped is None or st.threshold is None or mapped[0] != metric_key:
            continue
        if st.labels and gpu is not None and not status_matches_gpu(st.labels, gpu):
            continue
        value = st.threshold / mapped[1]
        if metric is not None and metric.hi is not None and not metric.lo <= value <= metric.hi:
            op = f"{st.op} " if st.op else ""
            off[st.name] = visible(
                f"{st.name} {op}{st.threshold:g}: off-scale, {value:g}{metric.unit} on a "
                f"{metric.lo:g}–{metric.hi:g}{metric.unit} chart (can never be reached)"
            )
            continue
        lines[visible(st.name)] = value
    ordered = sorted(lines.items(), key=lambda item: item[1])
    return ChartThresholds(tuple(ordered), tuple(off.values()))


def thresholds(
    statuses: Sequence[RuleStatus], gpu: GpuSample | None, metric_key: str
) -> list[tuple[str, float]]:
    """(rule, threshold) lines to draw on a GPU's chart of `metric_key`, lowest first."""
    return list(chart_thresholds(statuses, gpu, metric_key).lines)
