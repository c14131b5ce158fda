"""The inference servers' panel: per model, time to first token (a P95 sparkline on the latency
panel's time axis, with its value), then P50/P99, time per output token, end-to-end latency,
requests running and waiting, and KV-cache use.

Each model takes two lines laid out as the latency panel's two (label, sparkline, value; then
the numbers), so their sparklines share one time axis. Models that do not fit are counted in
the border. Model names are outside text: drawn as plain text, never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from gputop.core.models import ServingSample
from gputop.core.units import format_latency, format_value
from gputop.ui.spark import spark_runs
from gputop.ui.widgets.latency_panel import LABEL_W, VALUE_W

__all__ = ["LINES_PER_MODEL", "ServingPanel", "ServingRow", "serving_row"]

LINES_PER_MODEL = 2


@dataclass(frozen=True, slots=True)
class ServingRow:
    """One model's two lines, worded."""

    key: str
    value: str  # its TTFT P95
    stats: str
    spark: tuple[float | None, ...] = ()


def serving_row(sample: ServingSample, spark: tuple[float | None, ...], key: str) -> ServingRow:
    """A model's lines: `p50 80ms p99 410ms · TPOT p95 38ms · E2E p95 8.21s · run 17 wait 0 ·
    KV 38% · <model>`; n/a where the engine exports no such metric."""
    kv = format_value(sample.kv_cache_pct, "%")
    stats = (
        f"p50 {format_latency(sample.ttft_p50_s)} p99 {format_latency(sample.ttft_p99_s)}"
        f" · TPOT p95 {format_latency(sample.tpot_p95_s)}"
        f" · E2E p95 {format_latency(sample.e2e_p95_s)}"
        f" · run {format_value(sample.running)} wait {format_value(sample.waiting)}"
        f" · KV {kv}" + (f" · {sample.model}" if sample.model else "")
    )
    return ServingRow(key, format_latency(sample.ttft_p95_s), stats, spark)


class ServingPanel(Widget):
    COMPONENT_CLASSES = {
        "serving-panel--label",
        "serving-panel--spark",
        "serving-panel--value",
        "serving-panel--stats",
    }
    DEFAULT_CSS = """
    ServingPanel { height: 4; border: round $panel-lighten-2; padding: 0 1; }
    ServingPanel > .serving-panel--label { color: $text-muted; }
    ServingPanel > .serving-panel--spark { color: $secondary; }
    ServingPanel > .serving-panel--value { text-style: bold; }
    ServingPanel > .serving-panel--stats { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Serving"
        self._rows: tuple[ServingRow, ...] = ()

    @property
    def rows(self) -> tuple[ServingRow, ...]:
        return self._rows

    def spark_columns(self) -> int:
        """The same columns as the latency panel's sparkline: one time axis."""
        return max(1, self.content_size.width - LABEL_W - VALUE_W - 1)

    def set_rows(self, title: str, rows: Sequence[ServingRow], shown: int) -> None:
        """The models' rows; `shown` of them fit, the rest are counted in the border."""
        rows = tuple(rows)
        hidden = len(rows) - shown
        subtitle = f"+{hidden} more model{'s' if hidden != 1 else ''}" if hidden > 0 else ""
        if title != self.border_title:
            self.border_title = title
        if subtitle != (self.border_subtitle or ""):
            self.border_subtitle = subtitle
        if rows[:shown] != self._rows:
            self._rows = rows[:shown]
            self.refresh()

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        width = self.content_size.width
        block, line = divmod(y, LINES_PER_MODEL)
        if block >= len(self._rows):
            return Strip.blank(width, base)
        row = self._rows[block]

        def style(name: str) -> Style:
            return base + self.get_component_rich_style(f"serving-panel--{name}", partial=True)

        if line == 1:
            return Strip([Segment(row.stats.ljust(width)[:width], style("stats"))])
        cols = self.spark_columns()
        values = row.spark[-cols:]
        present = [v for v in values if v is not None]
        hi = max(present, default=1.0) * 1.2 or 1.0
        segs = [Segment("TTFT".ljust(LABEL_W), style("label"))]
        if len(values) < cols:
            segs.append(Segment(" " * (cols - len(values)), base))
        segs.extend(Segment(text, style("spark")) for text, _ in spark_runs(values, 0.0, hi, None))
        segs.append(Segment(" ", base))
        segs.append(Segment(row.value.rjust(VALUE_W), style("value")))
        return Strip(segs).crop(0, width).extend_cell_length(width, base)
