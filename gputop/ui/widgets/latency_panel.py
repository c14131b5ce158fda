"""The inference latency panel: a P95 sparkline with P50/P95/P99 and jobs per minute."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip

from gputop.core.models import LatencySample
from gputop.core.units import format_value
from gputop.core.untrusted import visible
from gputop.ui.safetext import plain
from gputop.ui.spark import spark_runs
from gputop.ui.widgets.partstyles import PartStyled

__all__ = ["LatencyPanel"]

LABEL_W = 5
VALUE_W = 7


class LatencyPanel(PartStyled):
    COMPONENT_CLASSES = {
        "latency-panel--label",
        "latency-panel--spark",
        "latency-panel--spark-warn",
        "latency-panel--value",
        "latency-panel--warn",
        "latency-panel--note",
    }
    DEFAULT_CSS = """
    LatencyPanel { height: 4; border: round $panel-lighten-2; padding: 0 1; }
    LatencyPanel > .latency-panel--label { color: $text-muted; }
    LatencyPanel > .latency-panel--spark { color: $secondary; }
    LatencyPanel > .latency-panel--spark-warn { color: $warning; }
    LatencyPanel > .latency-panel--value { text-style: bold; }
    LatencyPanel > .latency-panel--warn { color: $warning; text-style: bold; }
    LatencyPanel > .latency-panel--note { color: $text-muted; }
    """

    def __init__(self, *, threshold_s: float = 300.0, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "P95 latency"
        self.threshold_s = threshold_s
        self._spark: tuple[float | None, ...] = ()
        self._value = ""
        self._p95: float | None = None
        self._stats = ""
        self._note = "waiting for the first completed job"
        self._stale = ""

    def spark_columns(self) -> int:
        return max(1, self.content_size.width - LABEL_W - VALUE_W - 1)

    def set_stale(self, note: str) -> None:
        """Say why the latency is not fresh (its source failing); "" when it is."""
        if note != self._stale:
            self._stale = note
            self.border_subtitle = plain(note) if note else None

    def set_note(self, note: str) -> None:
        """A message instead of numbers (no latency source, source stale)."""
        note = visible(note)  # it can hold a source's reason
        if note != self._note:
            self._note = note
            self.refresh()

    def update_latency(self, sample: LatencySample | None) -> None:
        if sample is None:
            return
        value = format_value(sample.p95_s, "s")
        self._p95 = sample.p95_s
        stats = (
            f"p50 {format_value(sample.p50_s, 's')}  p99 {format_value(sample.p99_s, 's')}"
            f"  {format_value(sample.jobs_per_min, ' jobs/min', 1)}"
        )
        if self._note:
            self._note = ""
            self._value, self._stats = value, stats
            self.refresh()
            return
        width = self.content_size.width
        if value != self._value:
            self._value = value
            self.refresh(Region(width - VALUE_W, 0, VALUE_W, 1))
        if stats != self._stats:
            self._stats = stats
            self.refresh(Region(0, 1, width, 1))

    def update_spark(self, values: tuple[float | None, ...]) -> None:
        if values != self._spark:
            self._spark = values
            self.refresh(Region(LABEL_W, 0, self.spark_columns(), 1))

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        width = self.content_size.width

        def style(name: str) -> Style:
            return self._part_styles(name, base)

        if y == 0:
            cols = self.spark_columns()
            values = self._spark[-cols:]
            hi = max([self.threshold_s * 1.2, *(v for v in values if v is not None)])
            segs = [Segment("P95".ljust(LABEL_W), style("latency-panel--label"))]
            if len(values) < cols:
                segs.append(Segment(" " * (cols - len(values)), base))
            for text, level in spark_runs(values, 0.0, hi, self.threshold_s):
                segs.append(
                    Segment(
                        text,
                        style(
                            "latency-panel--spark-warn" if level == 1 else "latency-panel--spark"
                        ),
                    )
                )
            segs.append(Segment(" ", base))
            over = self._p95 is not None and self._p95 >= self.threshold_s
            segs.append(
                Segment(
                    self._value.rjust(VALUE_W),
                    style("latency-panel--warn" if over else "latency-panel--value"),
                )
            )
            return Strip(segs).crop(0, width)
        if y == 1:
            text = self._note or self._stats
            cls = "latency-panel--note" if self._note else "latency-panel--label"
            return Strip([Segment(text.ljust(width)[:width], style(cls))])
        return Strip.blank(width, base)
