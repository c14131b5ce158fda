"""The header line: host, driver/CUDA, each source's state and freshness, and the clock.

Each part is its own field; a part repaints only when its text changes (the clock once a
second, a source's age only when it stops saying "now").
"""

from __future__ import annotations

from rich.segment import Segment
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

__all__ = ["StatusBar"]


class StatusBar(Widget):
    COMPONENT_CLASSES = {"status-bar--title", "status-bar--ok", "status-bar--bad", "status-bar--off"}
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; }
    StatusBar > .status-bar--title { text-style: bold; color: $accent; }
    StatusBar > .status-bar--ok { color: $success; }
    StatusBar > .status-bar--bad { color: $error; text-style: bold; }
    StatusBar > .status-bar--off { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # (text, component class) per part, in display order
        self._parts: list[tuple[str, str]] = []
        self._clock = ""

    def set_parts(self, parts: list[tuple[str, str]], clock: str) -> None:
        if parts != self._parts:
            self._parts = parts
            self._clock = clock
            self.refresh()
        elif clock != self._clock:
            self._clock = clock
            width = self.content_size.width
            self.refresh(Region(max(0, width - len(clock) - 1), 0, len(clock) + 1, 1))

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        width = self.content_size.width
        segments: list[Segment] = []
        used = 0
        for text, cls in self._parts:
            piece = f" {text} "
            segments.append(Segment(piece, base + self.get_component_rich_style(cls, partial=True)))
            used += len(piece)
        clock = f"{self._clock} "
        gap = width - used - len(clock)
        if gap > 0:
            segments.append(Segment(" " * gap, base))
        segments.append(Segment(clock, base))
        return Strip(segments).crop(0, width)
