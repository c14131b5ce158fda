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

from gputop.core.untrusted import visible
from gputop.ui.spark import spark_runs

__all__ = ["MARK_GLYPHS", "PART_CLASSES", "IndexCell", "NodeHeading", "ReadingLine", "SparkCell"]

#: The worst rule state touching a GPU, readable without colour (as on the fleet screen).
MARK_GLYPHS = {"firing": "●", "pending": "◐", "near": "○"}
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
        text = visible(text)  # its reason is a source's words
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
    """The GPU index at the start of a compact line: "▶" and the index in reverse video when
    the GPU is selected, so the selection reads without colour and whatever its alert colour;
    then the glyph of the worst rule touching it ("▶● 3▕"). A MIG instance shows its GPU
    instance id under its GPU ("╰7"). While the GPU's source fails, the bar after the index
    is a "✖": the numbers beside it are its last known ones."""

    COMPONENT_CLASSES = {
        "index-cell--selected",
        "index-cell--firing",
        "index-cell--pending",
        "index-cell--near",
    }
    DEFAULT_CSS = """
    IndexCell { height: 1; width: 5; color: $text-muted; }
    IndexCell > .index-cell--selected { color: $text; text-style: bold reverse; }
    IndexCell > .index-cell--firing { color: $error; text-style: bold; }
    IndexCell > .index-cell--pending { color: $warning; text-style: bold; }
    IndexCell > .index-cell--near { color: $warning; }
    """

    def __init__(self, index: int, gi: int | None = None) -> None:
        super().__init__()
        self.index = index
        self.gi = gi
        self.selected = False
        self.stale = False
        self.mark: str | None = None

    def set_stale(self, stale: bool) -> None:
        if stale != self.stale:
            self.stale = stale
            self.refresh()

    def set_mark(self, mark: str | None) -> None:
        """The worst rule state touching the GPU: firing, pending, near, or None."""
        if mark != self.mark:
            self.mark = mark
            self.refresh()

    def set_selected(self, selected: bool) -> None:
        if selected != self.selected:
            self.selected = selected
            self.refresh()

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        chosen = base + self.get_component_rich_style("index-cell--selected", partial=True)
        mark = self.mark
        glyph = MARK_GLYPHS.get(mark or "", " ")
        alert = base
        if mark in MARK_GLYPHS:
            alert += self.get_component_rich_style(f"index-cell--{mark}", partial=True)
        index = f"{self.index:>2}" if self.index >= 0 else " ?"
        if self.gi is not None:
            index = f"╰{self.gi}" if self.gi < 10 else f"{self.gi:>2}"
        failing = base + self.get_component_rich_style("index-cell--firing", partial=True)
        segments = [
            Segment("▶" if self.selected else " ", chosen if self.selected else base),
            Segment(glyph, alert),
            Segment(index, chosen if self.selected else base),
            Segment("✖", failing) if self.stale else Segment("▕", base),
        ]
        return (
            Strip(segments)
            .crop(0, self.content_size.width)
            .extend_cell_length(self.content_size.width, base)
        )


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
