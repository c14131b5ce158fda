"""One GPU: its current numbers and four sparklines, as a card or as one compact line.

The panel is one widget that draws its cells with the line API (gputop/ui/widgets/cells.py)
and repaints each alone: the numbers, which change every tick, share one line, repainted up
to the last field that changed; each sparkline repaints only when one of its time buckets
closes. A compact line is laid out as a grid of the index, the readings and one sparkline per
metric (`COMPACT_COLUMNS`, resolved as Textual resolves a grid's columns).

The selected GPU is marked "▶" with its index in reverse video (in the card's title, or at the
start of the compact line): alert colours take the border, the selection never depends on one.
The worst rule touching the GPU shows as a glyph beside its index too (● firing, ◐ pending,
○ near), so it reads without colour. A card's title names who is on the GPU (its pod, Slurm
job or user); a MIG instance is a panel of its own ("GPU 0 GI 7 · MIG 1g.10gb"), after its GPU.
"""

from __future__ import annotations

from functools import lru_cache

from rich.style import Style
from rich.text import Text
from textual import events
from textual._resolve import resolve
from textual.css.scalar import Scalar
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip

from gputop.core.jobs import jobs_text
from gputop.core.models import GPU_METRICS, GpuSample
from gputop.core.units import format_since
from gputop.core.untrusted import visible
from gputop.ui.safetext import plain
from gputop.ui.views.readings import NumberLevels, metric_text, spark_bounds
from gputop.ui.widgets.cells import (
    INDEX_WIDTH,
    MARK_GLYPHS,
    PART_CLASSES,
    field_spans,
    index_strip,
    readings_strip,
    spark_strip,
)
from gputop.ui.widgets.partstyles import PartStyled

__all__ = ["COMPACT_COLUMNS", "GpuPanel", "readings_heading"]

#: Field widths of the readings, from the metrics: "100%", "100°C", "100%", "1000W".
READING_WIDTHS = tuple(m.width for m in GPU_METRICS)
CARD_LABELS = tuple(f"{m.label} " for m in GPU_METRICS)
COMPACT_LABELS = ("",) * len(GPU_METRICS)
#: Grid columns of a compact line: index, the readings, then one sparkline per metric.
COMPACT_COLUMNS = f"{INDEX_WIDTH} {sum(w + 1 for w in READING_WIDTHS)} " + " ".join(
    ["1fr"] * len(GPU_METRICS)
)
#: A sparkline's label on a card ("MEM  ").
SPARK_LABEL_WIDTH = 5
_LEVELS = ("reading-line--normal", "reading-line--warn", "reading-line--crit")


def readings_heading() -> str:
    """The compact layout's heading over the readings: each label over its field."""
    return " ".join(m.label.rjust(m.width) for m in GPU_METRICS)


@lru_cache(maxsize=32)
def compact_cells(width: int) -> tuple[tuple[int, int], ...]:
    """(x, width) of each cell of a compact line `width` wide: the index, the readings, one
    sparkline per metric, a blank column between them (as the grid of the overview's column
    headings lays them out)."""
    scalars = [Scalar.parse(token) for token in COMPACT_COLUMNS.split()]
    size = Size(width, 1)
    return tuple((x, max(0, w)) for x, w in resolve(scalars, width, 1, size, size))


class GpuPanel(PartStyled, can_focus=True):
    COMPONENT_CLASSES = PART_CLASSES  # its cells' parts
    DEFAULT_CSS = """
    GpuPanel {
        height: 7;
        border: round $panel-lighten-2;
        border-title-color: $text;
        padding: 0 1;
    }
    GpuPanel:focus { border: round $accent; }
    GpuPanel.-alert { border: round $warning; }
    GpuPanel.-firing { border: round $error; }
    GpuPanel.-stale { border: round $error; border-subtitle-color: $error; }
    GpuPanel.-compact { height: 1; border: none; padding: 0; }
    GpuPanel.-compact:focus { background: $boost; }
    GpuPanel > .spark-cell--label { color: $text-muted; }
    GpuPanel > .spark-cell--bar { color: $success; }
    GpuPanel > .spark-cell--warn { color: $warning; }
    GpuPanel > .reading-line--normal { text-style: bold; }
    GpuPanel > .reading-line--warn { color: $warning; text-style: bold; }
    GpuPanel > .reading-line--crit { color: $error; text-style: bold reverse; }
    GpuPanel > .index-cell--base { color: $text-muted; }
    GpuPanel > .index-cell--stale { color: $error; text-style: bold; }
    GpuPanel > .index-cell--selected { color: $text; text-style: bold reverse; }
    GpuPanel > .index-cell--firing { color: $error; text-style: bold; }
    GpuPanel > .index-cell--pending { color: $warning; text-style: bold; }
    GpuPanel > .index-cell--near { color: $warning; }
    """

    compact: reactive[bool] = reactive(False)

    class Selected(Message):
        """Enter on a panel: open the detail view of its GPU."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(
        self,
        gpu: GpuSample,
        *,
        levels: NumberLevels | None = None,
        compact: bool = False,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.gpu = gpu
        self.key = gpu.key
        self._levels = levels or NumberLevels()
        self._fields: list[tuple[str, int]] = [("", 0)] * len(GPU_METRICS)
        self._banner = ""
        # per metric: the closed buckets shown, the bounds, the warning level
        self._sparks: dict[str, tuple[tuple[float | None, ...], tuple[float, float], float | None]]
        self._sparks = {m.key: ((), (0.0, 1.0), None) for m in GPU_METRICS}
        self.set_reactive(GpuPanel.compact, compact)
        self.set_class(compact, "-compact")
        self._selected = False
        self._mark: str | None = None
        self._note = ""
        self._set_title(selected=False)

    def _set_title(self, *, selected: bool) -> None:
        gpu = self.gpu
        short = gpu.name.replace("NVIDIA ", "")
        if gpu.mig is not None:
            short = f"MIG {gpu.mig.profile or '?'}"
        elif gpu.mig_mode:
            short += " · MIG"
        host = f" · {gpu.host}" if gpu.source == "prometheus" else ""
        title = Text()
        if selected:
            title.append("▶ ", style="bold")
        if self._mark:
            title.append(f"{MARK_GLYPHS[self._mark]} ", style="bold")
        title.append(gpu.label, style="bold reverse" if selected else "")
        title.append(visible(f" · {short}{host}"))  # a name, a host are outside text
        who = jobs_text(gpu.jobs)
        if who:
            title.append(visible(f" · {who}"))
        self.border_title = title

    def set_mark(self, mark: str | None) -> None:
        """The worst rule state touching this GPU (firing, pending, near), as a glyph in the
        title and at the start of the compact line, and as the border's colour."""
        if mark == self._mark:
            return
        self._mark = mark
        self.set_class(mark in ("near", "pending"), "-alert")
        self.set_class(mark == "firing", "-firing")
        self._set_title(selected=self.has_focus)
        self._refresh_index()

    def on_focus(self) -> None:
        self._set_title(selected=True)
        self._selected = True
        self._refresh_index()

    def on_blur(self) -> None:
        self._set_title(selected=False)
        self._selected = False
        self._refresh_index()

    def on_mount(self) -> None:
        self.update_gpu(self.gpu, self._levels, force=True)

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "-compact")
        self.refresh()

    # ---- geometry ---------------------------------------------------------------------

    @property
    def _lost(self) -> bool:
        return self.gpu.state == "lost"

    def _labels(self) -> tuple[str, ...]:
        return COMPACT_LABELS if self.compact else CARD_LABELS

    def _readings_cell(self, width: int) -> tuple[int, int]:
        """(x, width) of the readings on the panel's line 0."""
        if not self.compact:
            return 0, width
        cells = compact_cells(width)
        if self._lost:  # the banner takes the sparklines' room too
            return cells[1][0], cells[-1][0] + cells[-1][1] - cells[1][0]
        return cells[1]

    def _spark_cell(self, i: int, width: int) -> tuple[int, int, int]:
        """(x, y, width) of the i-th sparkline."""
        if not self.compact:
            return 0, 1 + i, width
        x, w = compact_cells(width)[2 + i]
        return x, 0, w

    def spark_columns(self) -> int:
        """How many buckets the widest sparkline of this panel shows at its current size (a
        compact line's may differ by one: each shows the newest that fit)."""
        width = self.content_size.width
        if not self.compact:
            return max(0, width - SPARK_LABEL_WIDTH)
        return max(self._spark_cell(i, width)[2] for i in range(len(GPU_METRICS)))

    # ---- updates ----------------------------------------------------------------------

    def update_gpu(
        self,
        gpu: GpuSample,
        levels: NumberLevels,
        *,
        force: bool = False,
        lost_since: float | None = None,
        now: float | None = None,
    ) -> None:
        """A new reading: the numbers line repaints up to the last field that changed.

        A lost GPU shows since when it is lost (`lost_since`, at `now`) and why."""
        was_lost = self._lost
        jobs_moved = gpu.jobs != self.gpu.jobs
        self.gpu = gpu
        if jobs_moved:
            self._set_title(selected=self.has_focus)
        lost = self._lost
        if lost != was_lost or force:
            self.set_class(lost, "-lost")
            if lost != was_lost:
                self.refresh()  # the sparklines go or come back
        if lost:
            since = ""
            if lost_since is not None and now is not None:
                since = f" since {format_since(lost_since, now)}"
            self._set_banner(f"LOST{since} — {gpu.reason or 'the GPU is lost'}")
            return
        if was_lost or force:
            self._set_banner("")
        fields = [(metric_text(m, gpu), levels.level(m, gpu)) for m in GPU_METRICS]
        changed = [i for i, f in enumerate(fields) if f != self._fields[i]]
        if not changed:
            return
        self._fields = fields
        x, w = field_spans(self._labels(), READING_WIDTHS)[changed[-1]]
        at, room = self._readings_cell(self.content_size.width)
        self.refresh(Region(at, 0, min(room, x + w), 1))

    def _set_banner(self, text: str) -> None:
        """Show one critical message (a lost GPU) instead of the readings; "" to go back."""
        text = visible(text)  # its reason is a source's words
        if text != self._banner:
            self._banner = text
            at, room = self._readings_cell(self.content_size.width)
            self.refresh(Region(at, 0, room, 1))

    def update_sparks(
        self, sparks: dict[str, tuple[float | None, ...]], levels: NumberLevels
    ) -> None:
        width = self.content_size.width
        for i, m in enumerate(GPU_METRICS):
            values = sparks.get(m.key)
            if values is None:
                continue
            shown = (values, spark_bounds(m, self.gpu), levels.spark_warn(m.key))
            if shown != self._sparks[m.key]:
                self._sparks[m.key] = shown
                x, y, w = self._spark_cell(i, width)
                self.refresh(Region(x, y, w, 1))

    def set_stale(self, note: str) -> None:
        """Say why the numbers are not fresh (the source failing); "" when they are: on a
        card's border, and as a "✖" after the index of a compact line."""
        if note != self._note:
            self._note = note
            self.border_subtitle = plain(note) if note else None
            self.set_class(bool(note), "-stale")
            self._refresh_index()

    def _refresh_index(self) -> None:
        if self.compact:
            self.refresh(Region(0, 0, INDEX_WIDTH, 1))

    # ---- drawing ----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        width = self.content_size.width
        if self.compact:
            return self._compact_line(y, base, width)
        if y == 0:
            return self._readings(base, width)
        if 1 <= y <= len(GPU_METRICS) and not self._lost:
            return self._spark(y - 1, base, width, label=True)
        return Strip.blank(width, base)

    def _readings(self, base: Style, width: int) -> Strip:
        styles = [self._part_styles(c, base) for c in _LEVELS]
        labels = self._labels()
        return readings_strip(
            self._fields, labels, READING_WIDTHS, self._banner, styles, base, width
        )

    def _spark(self, i: int, base: Style, width: int, *, label: bool) -> Strip:
        metric = GPU_METRICS[i]
        values, bounds, warn = self._sparks[metric.key]
        styles = (
            self._part_styles("spark-cell--label", base),
            self._part_styles("spark-cell--bar", base),
            self._part_styles("spark-cell--warn", base),
        )
        name = metric.label if label else None
        return spark_strip(name, SPARK_LABEL_WIDTH, values, bounds, warn, styles, base, width)

    def _compact_line(self, y: int, base: Style, width: int) -> Strip:
        if y != 0:
            return Strip.blank(width, base)
        index_base = self._part_styles(
            "index-cell--stale" if self._note else "index-cell--base", base
        )
        alert = index_base
        if self._mark in MARK_GLYPHS:
            alert = self._part_styles(f"index-cell--{self._mark}", index_base)
        cells: list[tuple[int, Strip]] = [
            (
                0,
                index_strip(
                    self.gpu.index,
                    gi=None if self.gpu.mig is None else self.gpu.mig.gi,
                    selected=self._selected,
                    mark=self._mark,
                    stale=bool(self._note),
                    base=index_base,
                    chosen=self._part_styles("index-cell--selected", index_base),
                    alert=alert,
                    failing=self._part_styles("index-cell--firing", index_base),
                ),
            )
        ]
        at, room = self._readings_cell(width)
        cells.append((at, self._readings(base, room)))
        if not self._lost:
            for i in range(len(GPU_METRICS)):
                x, _, w = self._spark_cell(i, width)
                cells.append((x, self._spark(i, base, w, label=False)))
        strips: list[Strip] = []
        gutter = Style(bgcolor=base.bgcolor)  # between the grid's cells: the background only
        x = 0
        for at, strip in cells:
            if at > x:
                strips.append(Strip.blank(at - x, gutter))
            strips.append(strip)
            x = at + strip.cell_length
        return Strip.join(strips).crop(0, width).extend_cell_length(width, base)

    def on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            self.post_message(self.Selected(self.key))

    def on_click(self) -> None:
        self.focus()
