"""The smallest units of repaint: a sparkline cell and a line of current readings.

Textual repaints a dirty line of a widget from the widget's left edge, and every line it
repaints costs a cursor move and style codes. So the numbers that change every tick share one
line in their own widget, and a sparkline (which changes once per time bucket) lives in
another. Both draw with the line API as runs of one style.

Their component classes are declared on the panel that holds them (`PART_CLASSES`, styled in
the panel's CSS): Textual styles every component class of every widget as a node of its own,
twice at start-up, so one set per panel rather than one per cell is a good part of what the
first frame costs.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from gputop.ui.spark import spark_runs

__all__ = ["PART_CLASSES", "IndexCell", "ReadingLine", "SparkCell"]

#: Component classes of the cells, to be declared (and styled) by the panel holding them.
PART_CLASSES = {
    "spark-cell--label",
    "spark-cell--bar",
    "spark-cell--warn",
    "reading-line--normal",
    "reading-line--warn",
    "reading-line--crit",
}


def _part_style(cell: Widget, name: str) -> Style:
    """A cell's component style, declared on the panel that holds it."""
    panel = cell.parent
    assert isinstance(panel, Widget), "a cell is drawn inside its panel"
    return panel.get_component_rich_style(name, partial=True)


class SparkCell(Widget):
    """An optional label, then one glyph per closed time bucket; gaps stay blank."""

    DEFAULT_CSS = "SparkCell { height: 1; width: 1fr; }"

    def __init__(self, label: str, *, label_width: int = 5, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.label = label
        self.label_width = label_width
        self.show_label = True
        self._values: tuple[float | None, ...] = ()
        self._bounds = (0.0, 1.0)
        self._warn: float | None = None

    def columns(self) -> int:
        label = self.label_width if self.show_label else 0
        return max(0, self.content_size.width - label)

    def set_show_label(self, show: bool) -> None:
        if show != self.show_label:
            self.show_label = show
            self.refresh()

    def set_values(
        self, values: tuple[float | None, ...], lo: float, hi: float, warn: float | None = None
    ) -> None:
        if (values, (lo, hi), warn) != (self._values, self._bounds, self._warn):
            self._values, self._bounds, self._warn = values, (lo, hi), warn
            self.refresh()

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        width = self.content_size.width
        segs: list[Segment] = []
        if self.show_label:
            style = base + _part_style(self, "spark-cell--label")
            segs.append(Segment(self.label.ljust(self.label_width)[: self.label_width], style))
        cols = self.columns()
        values = self._values[-cols:] if cols else ()
        if len(values) < cols:
            segs.append(Segment(" " * (cols - len(values)), base))
        bar = base + _part_style(self, "spark-cell--bar")
        warn = base + _part_style(self, "spark-cell--warn")
        lo, hi = self._bounds
        for text, level in spark_runs(values, lo, hi, self._warn):
            segs.append(Segment(text, warn if level == 1 else bar))
        return Strip(segs).crop(0, width)


class ReadingLine(Widget):
    """All of a GPU's current numbers on one line: one chop to repaint, one style run.

    Fields have fixed widths so a change never moves its neighbours; a repaint is cropped
    just after the last field that changed. A field at warning or critical level gets its
    own style; the rest share one.
    """

    DEFAULT_CSS = "ReadingLine { height: 1; width: 1fr; }"
    _LEVELS = ("reading-line--normal", "reading-line--warn", "reading-line--crit")

    def __init__(self, widths: tuple[int, ...], *, labels: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.widths = widths
        self.labels = labels or ("",) * len(widths)
        self._fields: list[tuple[str, int]] = [("", 0)] * len(widths)
        self._banner = ""

    def set_labels(self, labels: tuple[str, ...]) -> None:
        if labels != self.labels:
            self.labels = labels
            self.refresh()

    def set_banner(self, text: str) -> None:
        """Show one critical message (a lost GPU) instead of the readings; "" to go back."""
        if text != self._banner:
            self._banner = text
            self.refresh()

    def _spans(self) -> list[tuple[int, int]]:
        spans, x = [], 0
        for label, width in zip(self.labels, self.widths, strict=True):
            w = len(label) + width
            spans.append((x, w))
            x += w + 1
        return spans

    def set_fields(self, fields: list[tuple[str, int]]) -> None:
        changed = [i for i, f in enumerate(fields) if f != self._fields[i]]
        if not changed:
            return
        self._fields = list(fields)
        x, w = self._spans()[changed[-1]]
        self.refresh(Region(0, 0, x + w, 1))

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        base = self.rich_style
        styles = [base + _part_style(self, c) for c in self._LEVELS]
        if self._banner:
            return (
                Strip([Segment(self._banner, styles[2])])
                .crop(0, width)
                .extend_cell_length(width, base)
            )
        runs: list[tuple[str, int]] = []
        for (text, level), label, w in zip(self._fields, self.labels, self.widths, strict=True):
            cell = f"{label}{text.rjust(w)[-w:]} "
            if runs and runs[-1][1] == level:
                runs[-1] = (runs[-1][0] + cell, level)
            else:
                runs.append((cell, level))
        segs = [Segment(text, styles[level]) for text, level in runs]
        return Strip(segs).crop(0, width).extend_cell_length(width, base)


class IndexCell(Widget):
    """The GPU index at the start of a compact line."""

    DEFAULT_CSS = "IndexCell { height: 1; width: 3; color: $text-muted; }"

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def render_line(self, y: int) -> Strip:
        return Strip(
            [Segment(f"{self.index:>1}▕ ".ljust(self.content_size.width), self.rich_style)]
        )
