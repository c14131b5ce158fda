"""The header line: the clock, host, driver/CUDA, and each source's state and freshness.

The clock comes first: Textual repaints a line from the widget's left edge, so the one part
that changes every second costs only its own cells. The rest repaints when its text changes
(a source's age only once it stops saying "now"). The parts are fitted to the width by
`header_view.fit_header`: the less urgent shorten first, so a critical fact is never cut.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.geometry import Region
from textual.strip import Strip

from gputop.core.untrusted import visible
from gputop.ui.views.header import fit_header
from gputop.ui.widgets.partstyles import PartStyled

__all__ = ["StatusBar"]


class StatusBar(PartStyled):
    COMPONENT_CLASSES = {
        "status-bar--title",
        "status-bar--ok",
        "status-bar--bad",
        "status-bar--off",
        "status-bar--badge",
    }
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; }
    StatusBar > .status-bar--title { text-style: bold; color: $accent; }
    StatusBar > .status-bar--ok { color: $success; }
    StatusBar > .status-bar--bad { color: $error; text-style: bold; }
    StatusBar > .status-bar--off { color: $text-muted; }
    StatusBar > .status-bar--badge { text-style: bold reverse; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # (text, component class) per part, in display order
        self._parts: list[tuple[str, str]] = []
        self._clock = ""
        self._fitted: tuple[int, list[tuple[str, str]]] = (-1, [])  # for a width

    @property
    def clock(self) -> str:
        """The clock as drawn now."""
        return self._clock

    def set_parts(self, parts: list[tuple[str, str]], clock: str) -> None:
        """The parts after the clock, as (text, component class); their text holds sources'
        reasons and the host's name, so it is shown with its controls visible."""
        parts = [(visible(text), cls) for text, cls in parts]
        if parts != self._parts:
            self._parts = parts
            self._clock = clock
            self._fitted = (-1, [])
            self.refresh()
        elif clock != self._clock:
            self._clock = clock
            self.refresh(Region(0, 0, len(clock) + 2, 1))

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        width = self.content_size.width
        segments = [Segment(f" {self._clock} ", base)]
        room = width - len(segments[0].text)
        if self._fitted[0] != room:
            self._fitted = (room, fit_header(self._parts, room))
        for text, cls in self._fitted[1]:
            segments.append(Segment(f" {text} ", self._part_styles(cls, base)))
        return Strip(segments).crop(0, width).extend_cell_length(width, base)
