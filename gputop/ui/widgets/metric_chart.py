"""A metric of one GPU over time as a `plotext` chart: the series split into runs at its
gaps, rule thresholds as horizontal lines, past firing windows as bars at the foot.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence

from textual_plotext import PlotextPlot

from gputop.core.models import Metric
from gputop.core.series import RingSeries
from gputop.core.units import format_duration
from gputop.core.untrusted import visible

__all__ = [
    "FIRED_MARK",
    "MIN_STEP_S",
    "MetricChart",
    "Segment",
    "chart_segments",
    "series_points",
    "time_ticks",
]

MIN_STEP_S = 1.0  # charts are rebuilt at most once per this much time
Segment = tuple[list[float], list[float]]
#: Past firing windows on a chart's time axis.
FIRED_MARK = "▂"


def chart_segments(points: Sequence[tuple[float, float | None]], gap_s: float) -> list[Segment]:
    """Split (t, value) points into drawable runs: a missing value or a jump past `gap_s`
    ends a run, so a gap is drawn as a gap and never as a line through zero."""
    segments: list[Segment] = []
    xs: list[float] = []
    ys: list[float] = []
    last_t: float | None = None
    for t, v in points:
        broken = v is None or (last_t is not None and t - last_t > gap_s)
        if broken and xs:
            segments.append((xs, ys))
            xs, ys = [], []
        if v is None or not math.isfinite(v):
            last_t = None
            continue
        xs.append(t)
        ys.append(v)
        last_t = t
    if xs:
        segments.append((xs, ys))
    return segments


def series_points(
    series: RingSeries | None, now: float, range_s: float, max_points: int
) -> tuple[list[tuple[float, float | None]], float]:
    """Points of the last `range_s` (raw, or bucket means when there are too many),
    and the longest step between two points that still counts as continuous."""
    if series is None:
        return [], range_s
    raw = series.window(now - range_s, now)
    if len(raw) <= max_points:
        steps = [b[0] - a[0] for a, b in itertools.pairwise(raw)]
        step = statistics.median(steps) if steps else MIN_STEP_S
        return raw, 2.5 * max(step, 1e-9)
    width = range_s / max_points
    # closed buckets only, like the sparklines: the one still filling would move every tick
    buckets = series.downsample(now - width, width, max_points)
    # empty buckets are left out: a lone empty bucket is jitter, a run of them is a gap
    points = [((b.start + b.end) / 2, b.mean) for b in buckets if not b.empty]
    return points, 2.5 * width


def time_ticks(range_s: float) -> tuple[list[float], list[str]]:
    """Ticks of a time axis in seconds relative to now: "-5m" ... "now"."""
    step = {60.0: 15.0, 300.0: 60.0, 900.0: 300.0, 3600.0: 900.0}.get(range_s, range_s / 4)
    count = round(range_s / step)
    ticks = [-range_s + i * step for i in range(count + 1)]
    labels = ["now" if t == 0 else "-" + format_duration(-t) for t in ticks]
    return ticks, labels


class MetricChart(PlotextPlot):
    """One metric of one GPU over time, with rule thresholds as horizontal lines."""

    def __init__(self, metric: Metric, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # terminal default colours for axes and text: readable on any theme, and under NO_COLOR
        self.set_reactive(PlotextPlot.theme, "clear")
        self.metric = metric
        self.segments: list[Segment] = []
        self.thresholds: list[tuple[str, float]] = []
        self.firing: list[tuple[float, float]] = []  # past firing windows, relative to now

    def draw(
        self,
        segments: list[Segment],
        range_label: str,
        range_s: float,
        bounds: tuple[float, float],
        thresholds: list[tuple[str, float]],
        firing: Sequence[tuple[float, float]] = (),
    ) -> None:
        self.segments, self.thresholds, self.firing = segments, thresholds, list(firing)
        plt = self.plt
        plt.clear_figure()
        mark = f" · {FIRED_MARK} fired" if firing else ""
        plt.title(f"{self.metric.title} · last {range_label}{mark}")
        lo, hi = bounds
        values = [y for _, ys in segments for y in ys] + [v for _, v in thresholds]
        hi = max([hi, *values]) if values else hi
        plt.xlim(-range_s, 0)
        plt.ylim(lo, hi)
        ticks, labels = time_ticks(range_s)
        plt.xticks(ticks, labels)
        color = self.metric.colour
        for xs, ys in segments:
            plt.plot(xs, ys, marker="braille", color=color)
        for name, value in thresholds:
            plt.horizontal_line(value, color="red")
            # plotext output is read back as ANSI: a rule name must hold no escape
            plt.text(visible(name), -range_s, value, color="red", alignment="left")
        for start, end in firing:  # on the time axis, at the foot of the chart
            plt.plot([start, end], [lo, lo], marker=FIRED_MARK, color="red")
        self.refresh()
