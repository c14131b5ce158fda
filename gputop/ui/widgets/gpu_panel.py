"""One GPU: its current numbers and four sparklines, as a card or as one compact line.

The panel is a grid of small cells (gputop/ui/widgets/cells.py): the numbers, which change
every tick, share one line in one widget; each sparkline repaints only when one of its time
buckets closes.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from gputop.core.models import GPU_METRICS, GpuSample
from gputop.ui.view import metric_level, metric_text, spark_bounds, spark_warn
from gputop.ui.widgets.cells import PART_CLASSES, IndexCell, ReadingLine, SparkCell

__all__ = ["COMPACT_COLUMNS", "LABELS", "GpuPanel"]

LABELS = {
    "memory_used_pct": "MEM",
    "temperature_c": "TEMP",
    "utilization_gpu_pct": "UTIL",
    "power_w": "PWR",
}
#: Field widths of the readings: "100%", "100°C", "100%", "1000W".
READING_WIDTHS = (4, 5, 4, 5)
CARD_LABELS = tuple(f"{label} " for label in LABELS.values())
COMPACT_LABELS = ("", "", "", "")
#: Grid columns of a compact line: index, readings, then one sparkline per metric.
COMPACT_COLUMNS = "3 22 1fr 1fr 1fr 1fr"


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
        compact: bool = False,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.gpu = gpu
        self.key = gpu.key
        self._readings = ReadingLine(
            READING_WIDTHS, labels=COMPACT_LABELS if compact else CARD_LABELS
        )
        self._sparks = {m.key: SparkCell(LABELS[m.key]) for m in GPU_METRICS}
        self.set_reactive(GpuPanel.compact, compact)
        self.set_class(compact, "-compact")
        short = gpu.name.replace("NVIDIA ", "")
        host = f" · {gpu.host}" if gpu.source == "prometheus" else ""
        self.border_title = f"GPU {gpu.index} · {short}{host}"

    def compose(self) -> ComposeResult:
        yield IndexCell(self.gpu.index)
        yield self._readings
        for m in GPU_METRICS:
            spark = self._sparks[m.key]
            spark.show_label = not self.compact
            yield spark

    def on_mount(self) -> None:
        self.update_gpu(self.gpu, force=True)

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "-compact")
        self._readings.set_labels(COMPACT_LABELS if compact else CARD_LABELS)
        for spark in self._sparks.values():
            spark.set_show_label(not compact)

    def spark_columns(self) -> int:
        """How many buckets a sparkline of this panel shows at its current size."""
        return self._sparks[GPU_METRICS[0].key].columns()

    def update_gpu(self, gpu: GpuSample, *, force: bool = False) -> None:
        """A new reading: the numbers line repaints up to the last field that changed."""
        was_lost = self.gpu.state == "lost"
        self.gpu = gpu
        lost = gpu.state == "lost"
        if lost != was_lost or force:
            self.set_class(lost, "-lost")
            self._readings.set_banner(f"LOST — {gpu.reason or 'the GPU is lost'}" if lost else "")
        if lost:
            return
        self._readings.set_fields(
            [(metric_text(m, gpu), metric_level(m, gpu)) for m in GPU_METRICS]
        )

    def update_sparks(self, sparks: dict[str, tuple[float | None, ...]]) -> None:
        for m in GPU_METRICS:
            values = sparks.get(m.key)
            if values is not None:
                lo, hi = spark_bounds(m, self.gpu)
                self._sparks[m.key].set_values(values, lo, hi, spark_warn(m.key))

    def set_stale(self, note: str) -> None:
        """Say why the numbers are not fresh (the source failing); "" when they are."""
        if note != (self.border_subtitle or ""):
            self.border_subtitle = note
            self.set_class(bool(note), "-stale")

    def on_key(self, event) -> None:
        if event.key == "enter":
            event.stop()
            self.post_message(self.Selected(self.key))

    def on_click(self) -> None:
        self.focus()
