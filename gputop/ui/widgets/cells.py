"""The smallest units of repaint, drawn as lines: a GPU's readings, a sparkline, its index.

A GPU panel (gputop/ui/widgets/gpu_panel.py) is one widget that draws these with the line
API and repaints each alone: the numbers, which change every tick, share one line (a repaint
is cut just after the last field that changed); a sparkline repaints only when one of its time
buckets closes. Each is a run of segments of one style where it can be (a code per run, not
per cell). One widget per panel rather than one per cell: Textual renders every widget under
a repainted region, and styles, mounts and lays out each at start, so cells as widgets cost
the first frame and every tick more than the cells themselves.

Their styles are component classes of the panel (`PART_CLASSES`, styled in its CSS).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from gputop.core.untrusted import visible
from gputop.ui.spark import spark_runs

__all__ = [
    "INDEX_WIDTH",
    "MARK_GLYPHS",
    "PART_CLASSES",
    "NodeHeading",
    "field_spans",
    "index_strip",
    "readings_strip",
    "spark_strip",
]

#: The worst rule state touching a GPU, readable without colour (as on the fleet screen).
MARK_GLYPHS = {"firing": "●", "pending": "◐", "near": "○"}
#: Component classes of the cells, declared (and styled) by the panel holding them.
PART_CLASSES = {
    "spark-cell--label",
    "spark-cell--bar",
    "spark-cell--warn",
    "reading-line--normal",
    "reading-line--warn",
    "reading-line--crit",
    "index-cell--base",
    "index-cell--stale",
    "index-cell--selected",
    "index-cell--firing",
    "index-cell--pending",
    "index-cell--near",
}
#: Cells of a compact line's index: "▶● 3▕".
INDEX_WIDTH = 5


def field_spans(labels: Sequence[str], widths: Sequence[int]) -> list[tuple[int, int]]:
    """(x, width) of each reading: its label and its value, a blank between fields."""
    spans, x = [], 0
    for label, width in zip(labels, widths, strict=True):
        w = len(label) + width
        spans.append((x, w))
        x += w + 1
    return spans


def readings_strip(
    fields: Sequence[tuple[str, int]],
    labels: Sequence[str],
    widths: Sequence[int],
    banner: str,
    styles: Sequence[Style],
    base: Style,
    width: int,
) -> Strip:
    """All of a GPU's current numbers on one line, fixed-width fields so a change never moves
    its neighbours; a field at warning (1) or critical (2) level gets `styles[level]`, the rest
    share one run. A `banner` (a lost GPU) takes the line instead, in the critical style."""
    if banner:
        return Strip([Segment(banner, styles[2])]).crop(0, width).extend_cell_length(width, base)
    runs: list[tuple[str, int]] = []
    for (text, level), label, w in zip(fields, labels, widths, strict=True):
        cell = f"{label}{text.rjust(w)[-w:]} "
        if runs and runs[-1][1] == level:
            runs[-1] = (runs[-1][0] + cell, level)
        else:
            runs.append((cell, level))
    segs = [Segment(text, styles[level]) for text, level in runs]
    return Strip(segs).crop(0, width).extend_cell_length(width, base)


def spark_strip(
    label: str | None,
    label_width: int,
    values: Sequence[float | None],
    bounds: tuple[float, float],
    warn: float | None,
    styles: tuple[Style, Style, Style],
    base: Style,
    width: int,
) -> Strip:
    """An optional label, then one glyph per closed time bucket, the newest at the right;
    gaps stay blank. `styles`: the label's, a bar's, a bar's at or over `warn`."""
    label_style, bar, warning = styles
    segs: list[Segment] = []
    cols = width
    if label is not None:
        segs.append(Segment(label.ljust(label_width)[:label_width], label_style))
        cols = max(0, width - label_width)
    shown = values[-cols:] if cols else ()
    if len(shown) < cols:
        segs.append(Segment(" " * (cols - len(shown)), base))
    lo, hi = bounds
    for text, level in spark_runs(shown, lo, hi, warn):
        segs.append(Segment(text, warning if level == 1 else bar))
    return Strip(segs).crop(0, width)


def index_strip(
    index: int,
    *,
    gi: int | None = None,
    selected: bool,
    mark: str | None,
    stale: bool,
    base: Style,
    chosen: Style,
    alert: Style,
    failing: Style,
) -> Strip:
    """The GPU index at the start of a compact line: "▶" and the index in `chosen` style when
    the GPU is selected, so the selection reads without colour and whatever its alert colour;
    then the glyph of the worst rule touching it ("▶● 3▕"). A MIG instance shows its GPU
    instance id under its GPU ("╰7"). While the GPU's source fails, the bar after the index
    is a "✖": the numbers beside it are its last known ones."""
    number = f"{index:>2}" if index >= 0 else " ?"
    if gi is not None:
        number = f"╰{gi}" if gi < 10 else f"{gi:>2}"
    segments = [
        Segment("▶" if selected else " ", chosen if selected else base),
        Segment(MARK_GLYPHS.get(mark or "", " "), alert),
        Segment(number, chosen if selected else base),
        Segment("✖", failing) if stale else Segment("▕", base),
    ]
    return Strip(segments).crop(0, INDEX_WIDTH).extend_cell_length(INDEX_WIDTH, base)


class NodeHeading(Widget):
    """A node's heading in the compact GPU list: "▾ node-a · 8 GPUs"."""

    DEFAULT_CSS = "NodeHeading { height: 1; color: $accent; text-style: bold; }"

    def __init__(self, host: str, gpus: int) -> None:
        super().__init__()
        self.host = host
        self.text = visible(f"▾ {host} · {gpus} GPU{'s' if gpus != 1 else ''}")

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        return (
            Strip([Segment(self.text, self.rich_style)])
            .crop(0, width)
            .extend_cell_length(width, self.rich_style)
        )
