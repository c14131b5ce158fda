"""Lines of styled fields, drawn with the line API: the fleet's title and its scrolling table.

A line is a tuple of (text, style) fields. Both widgets keep what they drew and, when given
new lines, repaint only the lines that differ, from the left edge to the last changed cell.
The table draws only the lines in view and asks for a line's text only when it is in view.

The table has a cursor on its GPU lines: "▶" in the first column and the line in reverse
video (it reads without colour); ↑↓ PgUp PgDn Home End move it, and it stays on its GPU when
the lines are sorted again. `FleetTable.cursor_key` is the key of the row under it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

__all__ = [
    "STYLES",
    "Field",
    "FleetLines",
    "FleetTable",
    "Line",
    "SparkFeed",
    "TableRow",
    "changed_until",
]

Field = tuple[str, str]  # (text, style name)
Line = tuple[Field, ...]

#: style name -> CSS of its component class `fleet--<name>`.
STYLES: dict[str, str] = {
    "title": "text-style: bold;",
    "heading": "color: $text-muted; text-style: bold;",
    "note": "color: $text-muted;",
    "muted": "color: $text-muted;",
    "node": "color: $accent; text-style: bold;",
    "model": "color: $text;",
    "value": "text-style: bold;",
    "warn": "color: $warning; text-style: bold;",
    "crit": "color: $error; text-style: bold reverse;",
    "lost": "color: $error; text-style: bold;",
    "spark": "color: $success;",
    "spark-warn": "color: $warning;",
    "firing": "color: $error; text-style: bold reverse;",
    "pending": "color: $warning; text-style: bold;",
    "near": "color: $warning;",
    "cursor": "color: $accent; text-style: bold;",
}
#: A selected line's fields are drawn in their own style, reversed.
SELECTED = " selected"
_CLASSES = {f"fleet--{name}" for name in STYLES}
REVERSE = Style(reverse=True)


def _css(widget: str) -> str:
    return "\n".join(f"{widget} > .fleet--{name} {{ {css} }}" for name, css in STYLES.items())


class TableRow(Protocol):
    """A row of the table: `key` names it; `spark_key` is the entity of its sparkline."""

    @property
    def key(self) -> str: ...

    @property
    def spark_key(self) -> str | None: ...


class SparkFeed(Protocol):
    """Sparkline values for the GPU lines in view; `token` changes when they may have."""

    def token(self, columns: int) -> Hashable: ...

    def values(self, key: str, columns: int) -> tuple[float | None, ...]: ...


def _cells(line: Line) -> int:
    return sum(len(text) for text, _ in line)


def changed_until(old: Line | None, new: Line, width: int) -> int:
    """Cells from the left edge that must be repainted to turn `old` into `new`."""
    if old is None:
        return width
    if old == new:
        return 0
    end = max(_cells(old), _cells(new))
    if _cells(old) != _cells(new):
        return min(width, end)  # the tail moved
    same = 0  # cells of the identical tail, matched field by field from the right
    for a, b in zip(reversed(old), reversed(new), strict=False):
        if a != b:
            break
        same += len(a[0])
    return min(width, max(1, end - same))


def _strip(widget: Widget, line: Line, width: int) -> Strip:
    base = widget.rich_style
    segments: list[Segment] = []
    for text, name in line:
        selected = name.endswith(SELECTED)
        name = name.removesuffix(SELECTED)
        style = base + widget.get_component_rich_style(f"fleet--{name}", partial=True)
        if selected and name != "cursor":
            style += REVERSE
        if segments and segments[-1].style == style:  # one run per style: fewer codes
            segments[-1] = Segment(segments[-1].text + text, style)
        else:
            segments.append(Segment(text, style))
    return Strip(segments).crop(0, width).extend_cell_length(width, base)


class FleetLines(Widget):
    """A few fixed lines (title, column headings); each repaints only when it changes."""

    COMPONENT_CLASSES = _CLASSES
    DEFAULT_CSS = "FleetLines { height: auto; }\n" + _css("FleetLines")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: list[Line] = []

    @property
    def text(self) -> list[str]:
        return ["".join(t for t, _ in line) for line in self._lines]

    def set_lines(self, lines: Sequence[Line]) -> None:
        width = self.content_size.width
        old = self._lines
        self._lines = list(lines)
        if len(old) != len(lines):
            self.refresh(layout=True)
            return
        for y, (a, b) in enumerate(zip(old, lines, strict=True)):
            if a != b:
                self.refresh(Region(0, y, changed_until(a, b, width) or width, 1))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self._lines))

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if y >= len(self._lines):
            return Strip.blank(width, self.rich_style)
        return _strip(self, self._lines[y], width)


class FleetTable(ScrollView, can_focus=True):
    """One line per row, scrolled; only lines in view are worded, drawn and compared.

    A row's line is worded again only when the row, its sparkline or the look changed.
    """

    COMPONENT_CLASSES = _CLASSES
    DEFAULT_CSS = "FleetTable { overflow-x: hidden; overflow-y: auto; }\n" + _css("FleetTable")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: Sequence[TableRow] = ()
        self._look: Hashable = None
        self._columns = 0
        self._feed: SparkFeed | None = None
        self._word: Callable[[Any, Sequence[float | None]], Line] = lambda row, spark: ()
        self._drawn: dict[int, Line] = {}  # absolute line -> what it shows (or will)
        self._sparks: dict[str, tuple[Hashable, tuple[float | None, ...]]] = {}
        self._worded: dict[str, tuple[TableRow, tuple[float | None, ...], Line]] = {}
        self._cursor = -1  # the line under the cursor; -1 until there are GPU lines
        self._cursor_key: str | None = None

    @property
    def cursor(self) -> int:
        """The line under the cursor (-1: none)."""
        return self._cursor

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor."""
        return self._cursor_key

    @property
    def row_count(self) -> int:
        return len(self._rows)

    @property
    def spark_columns(self) -> int:
        """Cells of a sparkline: one per closed time bucket."""
        return self._columns

    def show(
        self,
        rows: Sequence[TableRow],
        *,
        look: Hashable,
        spark_columns: int,
        feed: SparkFeed,
        word: Callable[[Any, Sequence[float | None]], Line],
    ) -> None:
        """New rows; `word(row, spark)` gives a row's line. A new `look` redraws every line."""
        self._rows, self._feed, self._word = rows, feed, word
        width = self.scrollable_content_region.width
        if (look, spark_columns) != (self._look, self._columns):
            self._look, self._columns = look, spark_columns
            self._drawn.clear()
            self._sparks.clear()
            self._worded.clear()
            self.refresh()
        if self.virtual_size.height != len(rows):
            self.virtual_size = Size(width, len(rows))
            self.refresh()  # GPUs came or went: every line may move
            self._worded = {r.key: w for r in rows if (w := self._worded.get(r.key))}
        self._follow_cursor()
        top, height = self.scroll_offset.y, self.scrollable_content_region.height
        drawn: dict[int, Line] = {}
        for y in range(top, min(top + height, len(rows))):
            line = drawn[y] = self._line(y)
            cells = changed_until(self._drawn.get(y), line, width)
            if cells:
                self.refresh(Region(0, y - top, cells, 1))
        self._drawn = drawn

    def _line(self, y: int) -> Line:
        row = self._rows[y]
        spark = self._spark(row.spark_key) if row.spark_key is not None else ()
        held = self._worded.get(row.key)
        if held is not None and held[1] is spark and (held[0] is row or held[0] == row):
            line = held[2]
        else:
            line = self._word(row, spark)
            self._worded[row.key] = (row, spark, line)
        if y == self._cursor:
            return (("▶", "cursor"), *((text, name + SELECTED) for text, name in line))
        return ((" ", "cursor"), *line)

    # ---- cursor -------------------------------------------------------------------------

    def _selectable(self, y: int) -> bool:
        return 0 <= y < len(self._rows) and self._rows[y].spark_key is not None

    def _follow_cursor(self) -> None:
        """Keep the cursor on its row after the rows changed (or on the first GPU line)."""
        rows = self._rows
        at = next((i for i, r in enumerate(rows) if r.key == self._cursor_key), None)
        if at is None:
            at = next((i for i in range(len(rows)) if self._selectable(i)), -1)
        self._cursor = at
        self._cursor_key = rows[at].key if at >= 0 else None

    def move_cursor(self, step: int) -> None:
        """Move the cursor `step` GPU lines (node lines are passed over), into view."""
        rows = self._rows
        if self._cursor < 0:
            return
        y, left = self._cursor, abs(step)
        direction = 1 if step > 0 else -1
        while left and 0 <= y + direction < len(rows):
            y += direction
            if self._selectable(y):
                self._set_cursor(y)
                left -= 1
        self._scroll_to_cursor(include_heading=direction < 0)

    def _set_cursor(self, y: int) -> None:
        old = self._cursor
        self._cursor, self._cursor_key = y, self._rows[y].key
        for line in (old, y):
            self._drawn.pop(line, None)
            top = self.scroll_offset.y
            self.refresh(Region(0, line - top, self.scrollable_content_region.width, 1))

    def _scroll_to_cursor(self, *, include_heading: bool = False) -> None:
        top, height = self.scroll_offset.y, self.scrollable_content_region.height
        y = self._cursor
        first = y - 1 if include_heading and y > 0 and not self._selectable(y - 1) else y
        if first < top:
            self.scroll_to(y=first, animate=False)
        elif y >= top + height:
            self.scroll_to(y=y - height + 1, animate=False)

    def _spark(self, key: str) -> tuple[float | None, ...]:
        feed, columns = self._feed, self._columns
        if feed is None or columns <= 0:
            return ()
        token = feed.token(columns)
        held = self._sparks.get(key)
        if held is not None and held[0] == token:
            return held[1]
        values = feed.values(key, columns)
        if held is not None and held[1] == values:
            values = held[1]  # the same object: the worded line stays valid
        self._sparks[key] = (token, values)
        return values

    def on_resize(self) -> None:
        self._drawn.clear()

    # the keys move the cursor; scrolls are jumps, not animations (every frame of an animated
    # scroll repaints the whole table)
    def action_scroll_up(self) -> None:
        self.move_cursor(-1)

    def action_scroll_down(self) -> None:
        self.move_cursor(1)

    def action_page_up(self) -> None:
        self._page(-1)

    def action_page_down(self) -> None:
        self._page(1)

    def _page(self, direction: int) -> None:
        """A page of lines: the view and the cursor move together."""
        if self._cursor < 0:
            return
        height = self.scrollable_content_region.height
        y = max(0, min(len(self._rows) - 1, self._cursor + direction * height))
        while not self._selectable(y) and 0 <= y + direction < len(self._rows):
            y += direction
        if not self._selectable(y):  # the end has a node line: the nearest GPU line back
            y = self._cursor
        self.scroll_relative(y=direction * height, animate=False)
        self._set_cursor(y)
        self._scroll_to_cursor()

    def action_scroll_home(self) -> None:
        self.move_cursor(-len(self._rows))
        self.scroll_home(animate=False)

    def action_scroll_end(self) -> None:
        self.move_cursor(len(self._rows))
        self.scroll_end(animate=False)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = self.scroll_offset.y + y
        if index >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        line = self._drawn.get(index)
        if line is None:  # scrolled into view since the last update
            line = self._drawn[index] = self._line(index)
        return _strip(self, line, width)
