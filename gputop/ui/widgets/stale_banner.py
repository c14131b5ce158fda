"""The kiosk's STALE banner: a band at the bottom of every page, naming each failing source and
since when its data is, readable from across the room.

It repaints only when its words change (they hold fixed times, never an age that ticks), and
takes no room at all while every source is fresh.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from gputop.core.untrusted import visible

__all__ = ["StaleBanner"]


class StaleBanner(Widget):
    DEFAULT_CSS = """
    StaleBanner {
        dock: bottom; height: auto; display: none; padding: 1 0;
        background: $error; color: $text; text-style: bold;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: list[str] = []

    @property
    def lines(self) -> list[str]:
        return list(self._lines)

    def set_lines(self, lines: list[str]) -> None:
        """The banner's lines: sources' names and reasons, shown with controls visible."""
        lines = [visible(line) for line in lines]
        if lines == self._lines:
            return
        relayout = len(lines) != len(self._lines)
        self._lines = list(lines)
        self.display = bool(lines)
        self.refresh(layout=relayout)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines)

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        style = self.rich_style
        if y >= len(self._lines):
            return Strip.blank(width, style)
        text = self._lines[y]
        if len(text) > width:
            text = text[: max(0, width - 1)] + "…"
        pad = max(0, (width - len(text)) // 2)
        return Strip([Segment(" " * pad + text, style)]).extend_cell_length(width, style)
