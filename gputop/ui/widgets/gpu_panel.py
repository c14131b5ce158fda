"""One GPU: four sparklines with their live numbers, as a card or as one compact line.

Drawn with Textual's line API. A number that changes repaints only its own cells
(`refresh(region)`), and a sparkline repaints only when its closed buckets change; each row is
emitted as runs of one style. This is what keeps the bytes sent to an SSH terminal low.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from gputop.core.models import GPU_METRICS, GpuSample
from gputop.ui.spark import spark_runs
from gputop.ui.view import metric_level, metric_text, spark_bounds, spark_warn

__all__ = ["GpuPanel", "panel_geometry"]

VALUE_W = 6
LABELS = {"memory_used_pct": "MEM", "temperature_c": "TEMP", "utilization_gpu_pct": "UTIL",
          "power_w": "PWR"}
INDEX_W = 3  # compact mode: "7▕ "


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # "label:<metric>", "spark:<metric>", "value:<metric>", "index", "banner"
    x: int
    y: int
    width: int

    @property
    def region(self) -> Region:
        return Region(self.x, self.y, self.width, 1)


def panel_geometry(compact: bool, width: int) -> list[Field]:
    """Where each field of a panel sits, for a content width."""
    fields: list[Field] = []
    if compact:
        fields.append(Field("index", 0, 0, INDEX_W))
        cell = max(VALUE_W + 2, (width - INDEX_W) // len(GPU_METRICS))
        for i, m in enumerate(GPU_METRICS):
            x = INDEX_W + i * cell
            spark_w = max(1, cell - VALUE_W - 1)
            fields.append(Field(f"spark:{m.key}", x, 0, spark_w))
            fields.append(Field(f"value:{m.key}", x + spark_w, 0, VALUE_W))
        return fields
    label_w = 5
    spark_w = max(1, width - label_w - VALUE_W - 1)
    for y, m in enumerate(GPU_METRICS):
        fields.append(Field(f"label:{m.key}", 0, y, label_w))
        fields.append(Field(f"spark:{m.key}", label_w, y, spark_w))
        fields.append(Field(f"value:{m.key}", label_w + spark_w + 1, y, VALUE_W))
    return fields


class GpuPanel(Widget, can_focus=True):
    COMPONENT_CLASSES = {
        "gpu-panel--label",
        "gpu-panel--spark",
        "gpu-panel--spark-warn",
        "gpu-panel--value",
        "gpu-panel--warn",
        "gpu-panel--crit",
        "gpu-panel--lost",
        "gpu-panel--index",
    }

    DEFAULT_CSS = """
    GpuPanel {
        height: 6;
        border: round $panel-lighten-2;
        border-title-color: $text;
        padding: 0 1;
    }
    GpuPanel:focus { border: round $accent; }
    GpuPanel.-alert { border: round $warning; }
    GpuPanel.-firing { border: round $error; }
    GpuPanel.-compact { height: 1; border: none; padding: 0; }
    GpuPanel.-compact:focus { background: $boost; }
    GpuPanel > .gpu-panel--label { color: $text-muted; }
    GpuPanel > .gpu-panel--spark { color: $success; }
    GpuPanel > .gpu-panel--spark-warn { color: $warning; }
    GpuPanel > .gpu-panel--value { color: $text; text-style: bold; }
    GpuPanel > .gpu-panel--warn { color: $warning; text-style: bold; }
    GpuPanel > .gpu-panel--crit { color: $error; text-style: bold reverse; }
    GpuPanel > .gpu-panel--lost { color: $error; text-style: bold; }
    GpuPanel > .gpu-panel--index { color: $text-muted; }
    """

    compact: reactive[bool] = reactive(False, layout=True)

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
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.gpu = gpu
        self.key = gpu.key
        self._texts: dict[str, tuple[str, int]] = {}
        self._sparks: dict[str, tuple[float | None, ...]] = {}
        self._fields: list[Field] = []
        self._by_name: dict[str, Field] = {}
        self.set_reactive(GpuPanel.compact, compact)
        self.set_class(compact, "-compact")
        self._set_title()

    # ---- geometry ------------------------------------------------------------------

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "-compact")
        self._layout()

    def on_resize(self) -> None:
        self._layout()

    def _layout(self) -> None:
        self._fields = panel_geometry(self.compact, self.content_size.width)
        self._by_name = {f.name: f for f in self._fields}
        self.refresh()

    def spark_columns(self) -> int:
        """How many buckets a sparkline of this panel shows at its current size."""
        f = self._by_name.get(f"spark:{GPU_METRICS[0].key}")
        return f.width if f else 0

    # ---- data ----------------------------------------------------------------------

    def _set_title(self) -> None:
        g = self.gpu
        short = g.name.replace("NVIDIA ", "")
        host = f" · {g.host}" if g.source == "prometheus" else ""
        self.border_title = f"GPU {g.index} · {short}{host}"

    def update_gpu(self, gpu: GpuSample) -> None:
        """A new reading: repaint only the numbers that changed."""
        lost_changed = (gpu.state == "lost") != (self.gpu.state == "lost")
        self.gpu = gpu
        if lost_changed:
            self._texts.clear()
            self.refresh()
            return
        for m in GPU_METRICS:
            text = (metric_text(m, gpu), metric_level(m, gpu))
            name = f"value:{m.key}"
            if self._texts.get(name) != text:
                self._texts[name] = text
                f = self._by_name.get(name)
                if f is not None:
                    self.refresh(f.region)

    def update_sparks(self, sparks: dict[str, tuple[float | None, ...]]) -> None:
        for key, values in sparks.items():
            if self._sparks.get(key) != values:
                self._sparks[key] = values
                f = self._by_name.get(f"spark:{key}")
                if f is not None:
                    self.refresh(f.region)

    # ---- drawing -------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        base = self.rich_style
        if self.gpu.state == "lost":
            return self._lost_line(y, width, base)
        segments: list[Segment] = []
        x = 0
        for f in self._fields:
            if f.y != y:
                continue
            if f.x > x:
                segments.append(Segment(" " * (f.x - x), base))
            segments.extend(self._field_segments(f, base))
            x = f.x + f.width
        if x < width:
            segments.append(Segment(" " * (width - x), base))
        return Strip(segments).crop(0, width)

    def _style(self, name: str, base: Style) -> Style:
        return base + self.get_component_rich_style(name, partial=True)

    def _field_segments(self, f: Field, base: Style) -> list[Segment]:
        kind, _, key = f.name.partition(":")
        if kind == "index":
            return [Segment(f"{self.gpu.index:>1}▕ ".ljust(f.width), self._style("gpu-panel--index", base))]
        if kind == "label":
            return [Segment(LABELS[key].ljust(f.width), self._style("gpu-panel--label", base))]
        if kind == "value":
            text, level = self._texts.get(f.name, ("", 0))
            cls = ("gpu-panel--value", "gpu-panel--warn", "gpu-panel--crit")[level]
            return [Segment(text.rjust(f.width)[: f.width], self._style(cls, base))]
        metric = next(m for m in GPU_METRICS if m.key == key)
        lo, hi = spark_bounds(metric, self.gpu)
        values = self._sparks.get(key, ())[-f.width :]
        pad = f.width - len(values)
        warn = spark_warn(key)
        segs = [Segment(" " * pad, base)] if pad > 0 else []
        normal = self._style("gpu-panel--spark", base)
        hot = self._style("gpu-panel--spark-warn", base)
        for text, level in spark_runs(values, lo, hi, warn):
            segs.append(Segment(text, hot if level == 1 else normal))
        return segs

    def _lost_line(self, y: int, width: int, base: Style) -> Strip:
        if self.compact or y == 1:
            prefix = f"{self.gpu.index:>1}▕ " if self.compact else ""
            text = f"{prefix}LOST — {self.gpu.reason or 'GPU is lost'}"
            return Strip([Segment(text.ljust(width)[:width], self._style("gpu-panel--lost", base))])
        return Strip.blank(width, base)

    def on_key(self, event) -> None:  # type: ignore[no-untyped-def]
        if event.key == "enter":
            event.stop()
            self.post_message(self.Selected(self.key))

    def on_click(self) -> None:
        self.focus()
