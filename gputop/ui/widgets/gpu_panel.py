"""One GPU: its current numbers and four sparklines, as a card or as one compact line.

The panel is a grid of small cells (gputop/ui/widgets/cells.py): the numbers, which change
every tick, share one line in one widget; each sparkline repaints only when one of its time
buckets closes.

The selected GPU is marked "▶" with its index in reverse video (in the card's title, or at the
start of the compact line): alert colours take the border, the selection never depends on one.
The worst rule touching the GPU shows as a glyph beside its index too (● firing, ◐ pending,
○ near), so it reads without colour. A card's title names who is on the GPU (its pod, Slurm
job or user); a MIG instance is a panel of its own ("GPU 0 GI 7 · MIG 1g.10gb"), after its GPU.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from gputop.core.jobs import jobs_text
from gputop.core.models import GPU_METRICS, GpuSample
from gputop.core.units import format_since
from gputop.core.untrusted import visible
from gputop.ui.safetext import plain
from gputop.ui.view import NumberLevels, metric_text, spark_bounds
from gputop.ui.widgets.cells import MARK_GLYPHS, PART_CLASSES, IndexCell, ReadingLine, SparkCell

__all__ = ["COMPACT_COLUMNS", "GpuPanel", "readings_heading"]

#: Field widths of the readings, from the metrics: "100%", "100°C", "100%", "1000W".
READING_WIDTHS = tuple(m.width for m in GPU_METRICS)
CARD_LABELS = tuple(f"{m.label} " for m in GPU_METRICS)
COMPACT_LABELS = ("",) * len(GPU_METRICS)
#: Grid columns of a compact line: index, the readings, then one sparkline per metric.
COMPACT_COLUMNS = f"5 {sum(w + 1 for w in READING_WIDTHS)} " + " ".join(["1fr"] * len(GPU_METRICS))


def readings_heading() -> str:
    """The compact layout's heading over the readings: each label over its field."""
    return " ".join(m.label.rjust(m.width) for m in GPU_METRICS)


class GpuPanel(Widget, can_focus=True):
    COMPONENT_CLASSES = PART_CLASSES  # its cells' parts: one set per panel, not per cell
    DEFAULT_CSS = f"""
    GpuPanel {{
        layout: grid;
        grid-size: 1;
        grid-rows: 1;
        height: 7;
        border: round $panel-lighten-2;
        border-title-color: $text;
        padding: 0 1;
    }}
    GpuPanel:focus {{ border: round $accent; }}
    GpuPanel.-alert {{ border: round $warning; }}
    GpuPanel.-firing {{ border: round $error; }}
    GpuPanel.-stale {{ border: round $error; border-subtitle-color: $error; }}
    GpuPanel.-compact.-stale > IndexCell {{ color: $error; text-style: bold; }}
    GpuPanel > IndexCell {{ display: none; }}
    GpuPanel.-lost > SparkCell {{ display: none; }}
    GpuPanel.-compact {{
        grid-size: 6;
        grid-columns: {COMPACT_COLUMNS};
        grid-gutter: 0 1;
        height: 1;
        border: none;
        padding: 0;
    }}
    GpuPanel.-compact > IndexCell {{ display: block; }}
    GpuPanel.-compact.-lost > ReadingLine {{ column-span: 5; }}
    GpuPanel.-compact:focus {{ background: $boost; }}
    GpuPanel > .spark-cell--label {{ color: $text-muted; }}
    GpuPanel > .spark-cell--bar {{ color: $success; }}
    GpuPanel > .spark-cell--warn {{ color: $warning; }}
    GpuPanel > .reading-line--normal {{ text-style: bold; }}
    GpuPanel > .reading-line--warn {{ color: $warning; text-style: bold; }}
    GpuPanel > .reading-line--crit {{ color: $error; text-style: bold reverse; }}
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
        self._readings = ReadingLine(
            READING_WIDTHS, labels=COMPACT_LABELS if compact else CARD_LABELS
        )
        self._sparks = {m.key: SparkCell(m.label) for m in GPU_METRICS}
        self.set_reactive(GpuPanel.compact, compact)
        self.set_class(compact, "-compact")
        self._index = IndexCell(gpu.index, None if gpu.mig is None else gpu.mig.gi)
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
        self._index.set_mark(mark)

    def on_focus(self) -> None:
        self._set_title(selected=True)
        self._index.set_selected(True)

    def on_blur(self) -> None:
        self._set_title(selected=False)
        self._index.set_selected(False)

    def compose(self) -> ComposeResult:
        yield self._index
        yield self._readings
        for m in GPU_METRICS:
            spark = self._sparks[m.key]
            spark.show_label = not self.compact
            yield spark

    def on_mount(self) -> None:
        self.update_gpu(self.gpu, self._levels, force=True)

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "-compact")
        self._readings.set_labels(COMPACT_LABELS if compact else CARD_LABELS)
        for spark in self._sparks.values():
            spark.set_show_label(not compact)

    def spark_columns(self) -> int:
        """How many buckets a sparkline of this panel shows at its current size."""
        return self._sparks[GPU_METRICS[0].key].columns()

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
        was_lost = self.gpu.state == "lost"
        jobs_moved = gpu.jobs != self.gpu.jobs
        self.gpu = gpu
        if jobs_moved:
            self._set_title(selected=self.has_focus)
        lost = gpu.state == "lost"
        if lost != was_lost or force:
            self.set_class(lost, "-lost")
        if lost:
            since = ""
            if lost_since is not None and now is not None:
                since = f" since {format_since(lost_since, now)}"
            self._readings.set_banner(f"LOST{since} — {gpu.reason or 'the GPU is lost'}")
            return
        if was_lost or force:
            self._readings.set_banner("")
        self._readings.set_fields(
            [(metric_text(m, gpu), levels.level(m, gpu)) for m in GPU_METRICS]
        )

    def update_sparks(
        self, sparks: dict[str, tuple[float | None, ...]], levels: NumberLevels
    ) -> None:
        for m in GPU_METRICS:
            values = sparks.get(m.key)
            if values is not None:
                lo, hi = spark_bounds(m, self.gpu)
                self._sparks[m.key].set_values(values, lo, hi, levels.spark_warn(m.key))

    def set_stale(self, note: str) -> None:
        """Say why the numbers are not fresh (the source failing); "" when they are: on a
        card's border, and as a "✖" after the index of a compact line."""
        if note != self._note:
            self._note = note
            self.border_subtitle = plain(note) if note else None
            self.set_class(bool(note), "-stale")
            self._index.set_stale(bool(note))

    def on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            self.post_message(self.Selected(self.key))

    def on_click(self) -> None:
        self.focus()
