"""The inference servers' panel: per model, time to first token (a P95 sparkline on the latency
panel's time axis, with its value), then P50/P95/P99 of time to first token, time per output
token and end-to-end latency, then requests running and waiting, KV-cache use, tokens per
second and the model.

Each model takes three lines, the first laid out as the latency panel's (label, sparkline,
value), so their sparklines share one time axis. Models that do not fit are counted in the
border. Model names are outside text: drawn as plain text, never markup, their control
characters made visible (`serving_row`), as is every word from outside.
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
from gputop.core.untrusted import visible
from gputop.ui.safetext import plain
from gputop.ui.spark import spark_runs
from gputop.ui.widgets.latency_panel import LABEL_W, VALUE_W

__all__ = ["LINES_PER_MODEL", "ServingPanel", "ServingRow", "serving_row"]

LINES_PER_MODEL = 3


@dataclass(frozen=True, slots=True)
class ServingRow:
    """One model's three lines, worded."""

    key: str
    value: str  # its TTFT P95
    quantiles: str
    load: str
    spark: tuple[float | None, ...] = ()


def serving_row(sample: ServingSample, spark: tuple[float | None, ...], key: str) -> ServingRow:
    """A model's lines: `p50/p95/p99  TTFT 0.08/0.212/1.25s · TPOT 12/38/60ms · E2E ...`, then
    `running 17 · waiting 0 · KV 38% · 1.2k tok/s · <model>`; n/a where the engine exports
    no such metric."""
    quantiles = "p50/p95/p99  " + " · ".join(
        f"{title} {_triple([getattr(sample, f'{panel}_{q}_s') for q in _Q])}"
        for title, panel in (("TTFT", "ttft"), ("TPOT", "tpot"), ("E2E", "e2e"))
    )
    tokens = sample.tokens_per_s
    rate = (
        "n/a" if tokens is None else f"{tokens / 1000:.1f}k" if tokens >= 1000 else f"{tokens:.0f}"
    )
    load = (
        f"running {format_value(sample.running)} · waiting {format_value(sample.waiting)}"
        f" · KV {format_value(sample.kv_cache_pct, '%')} · {rate} tok/s"
    ) + (f" · {visible(sample.model)}" if sample.model else "")
    return ServingRow(key, format_latency(sample.ttft_p95_s), quantiles, load, spark)


_Q = ("p50", "p95", "p99")


def _triple(values: list[float | None]) -> str:
    """Three latencies in one unit: "38/50/70ms", "0.656/2.13/2.48s"; "–" for a missing one,
    "n/a" when all are."""
    present = [v for v in values if v is not None]
    if not present:
        return "n/a"
    if max(present) < 1.0:
        return "/".join("–" if v is None else f"{v * 1000:.0f}" for v in values) + "ms"
    return "/".join("–" if v is None else f"{v:.3g}" for v in values) + "s"


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
        self._stale = ""  # why the numbers are not fresh ("" when they are)
        self._hidden = 0  # models that do not fit

    @property
    def rows(self) -> tuple[ServingRow, ...]:
        return self._rows

    def spark_columns(self) -> int:
        """The same columns as the latency panel's sparkline: one time axis."""
        return max(1, self.content_size.width - LABEL_W - VALUE_W - 1)

    def set_stale(self, note: str) -> None:
        """Say why the numbers are not fresh (their servers' samples stand still, or the
        source fails), in the border, as the latency panel does; "" when they are fresh."""
        if note != self._stale:
            self._stale = note
            self._set_subtitle()

    def _set_subtitle(self) -> None:
        hidden = self._hidden
        more = f"+{hidden} more model{'s' if hidden != 1 else ''}" if hidden > 0 else ""
        words = " · ".join(w for w in (self._stale, more) if w)
        self.border_subtitle = plain(words) if words else None

    def set_rows(self, title: str, rows: Sequence[ServingRow], shown: int) -> None:
        """The models' rows; `shown` of them fit, the rest are counted in the border."""
        rows = tuple(rows)
        hidden = max(0, len(rows) - shown)
        if title != self.border_title:
            self.border_title = title
        if hidden != self._hidden:
            self._hidden = hidden
            self._set_subtitle()
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

        if line:
            text = row.quantiles if line == 1 else row.load
            return Strip([Segment(text.ljust(width)[:width], style("stats"))])
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
