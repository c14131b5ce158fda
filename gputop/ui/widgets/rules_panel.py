"""The rules panel: every alert rule, worst first; firing and pending never hidden.

One widget drawn with the line API: each line is laid out by `gputop.ui.views.rules_lines` at the
panel's width, and after every update only the lines that changed are repainted, from their
first to their last changed field (a countdown costs its own few cells).

What does not fit is counted ("+7 more: 2 near, 5 ok"). The panel takes focus (Tab from the
overview); then ↑↓ move its cursor, PgUp/PgDn/Home/End scroll, and Enter selects a row.
Firing and pending rows never scroll away: they stay at the top while the rest scrolls below
them (the overview keeps room for them, see `rows_needed`).

Public API for actions on rules (e.g. silencing one):

- `RulesPanel.selected`: the `RuleStatus` of the row under the cursor, or None (no rows);
- `RulesPanel.Highlighted(status)`: posted when the cursor moves to another rule;
- `RulesPanel.Selected(status)`: posted on Enter.

The cursor follows its rule when rows move; it is drawn (▶ and the title in reverse video)
while the panel has focus. Without focus the panel shows its first rows, the worst.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from rich.segment import Segment
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip

from gputop.rules.model import RuleStatus
from gputop.ui.safetext import plain
from gputop.ui.views.rules import RuleRow, RulesPanelView, row_index, row_states
from gputop.ui.views.rules_lines import Line, RuleColumns, counted, row_line, window
from gputop.ui.widgets.fleet_table import changed_until
from gputop.ui.widgets.partstyles import PartStyled

__all__ = ["RulesPanel"]

_ACTIVE = frozenset({"firing", "pending"})

_STYLES: dict[str, str] = {
    # without colour urgency reads from attributes: FIRING reverse, PENDING bold, NEAR plain
    "firing": "background: $error; color: $text; text-style: bold reverse;",
    "pending": "color: $warning; text-style: bold;",
    "near": "color: $warning;",
    "ok": "color: $success;",
    "unknown": "color: $text-muted;",
    "title": "text-style: bold;",
    "selected": "text-style: bold reverse;",
    "cursor": "color: $accent; text-style: bold;",
    "detail": "color: $text;",
    "spark": "color: $secondary;",
    "note": "color: $text-muted;",
    "more": "color: $text-muted; text-style: italic;",
    "stale": "color: $error; text-style: bold;",
}


class RulesPanel(PartStyled, can_focus=True):
    COMPONENT_CLASSES = {f"rules-panel--{name}" for name in _STYLES}
    DEFAULT_CSS = """
    RulesPanel {
        height: 1fr; min-height: 3; border: round $panel-lighten-2; padding: 0 1;
    }
    RulesPanel:focus { border: round $accent; }
    """ + "\n".join(f"RulesPanel > .rules-panel--{n} {{ {css} }}" for n, css in _STYLES.items())
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "↑", show=False),
        Binding("down,j", "cursor(1)", "↓", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First rule", show=False),
        Binding("end", "jump(-1)", "Last rule", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    class Highlighted(Message):
        """The cursor moved to another rule."""

        def __init__(self, status: RuleStatus | None) -> None:
            super().__init__()
            self.status = status

    class Selected(Message):
        """Enter on a rule row."""

        def __init__(self, status: RuleStatus) -> None:
            super().__init__()
            self.status = status

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Alert rules"
        self._view = RulesPanelView(note="no rules loaded")
        self._cursor = 0
        self._cursor_key: Hashable = None
        self._top = 0
        self._drawn: list[Line] = []
        self._laid_for = (0, 0)  # the content size `_drawn` was laid out for
        self._columns: RuleColumns | None = None
        self._shape: tuple[object, ...] = ()
        self._subtitle = ""

    # ---- public ----------------------------------------------------------------------

    @property
    def rows(self) -> Sequence[RuleRow]:
        return self._view.rows

    @property
    def selected(self) -> RuleStatus | None:
        """The status of the rule under the cursor; None when there are no rows."""
        rows = self._view.rows
        return rows[self._cursor].status if rows else None

    @property
    def lines(self) -> list[str]:
        """The text of each line as drawn now, top to bottom."""
        return ["".join(text for text, _ in line) for line in self._drawn]

    def set_view(self, view: RulesPanelView) -> None:
        """New content; only the lines that changed are repainted."""
        self._view = view
        if view.subtitle != self._subtitle:
            self._subtitle = view.subtitle
            self.border_subtitle = plain(view.subtitle) if view.subtitle else None
        if view.rows and self._cursor_key is not None:
            index = row_index(view.rows, self._cursor_key)
            if index is None:  # its rule is gone: the cursor stays where it was
                self._cursor = min(self._cursor, len(view.rows) - 1)
            else:
                self._cursor = index
        self._remember_cursor()
        self._update_lines()

    # ---- layout ----------------------------------------------------------------------

    def _layout(self) -> list[Line]:
        view = self._view
        width, height = self.content_size.width, self.content_size.height
        if view.note is not None:
            return [((view.note, "note"),)]
        lines: list[Line] = []
        if view.stale:
            lines.append(((view.stale, "stale"),))
        rows = view.rows
        states = row_states(rows)  # thousands of rows: only those on screen are worded
        cursor = self._cursor if self.has_focus else None
        room = max(1, height - len(lines))
        # firing and pending rows (first in order) stay at the top whatever is scrolled: the
        # window moves over the rest, when there is room for them and a line more
        pinned = sum(1 for state in states if state in _ACTIVE)
        if not (len(rows) > room and pinned < len(rows) and pinned < room):
            pinned = 0
        below_cursor = None if cursor is None or cursor < pinned else cursor - pinned
        if pinned and room - pinned < 2:  # room for the count of the rest only
            self._top, below_cursor = 0, None
        shown = window(len(rows) - pinned, room - pinned, self._top, below_cursor)
        self._top = shown.top
        start = pinned + shown.top
        visible = (*rows[:pinned], *rows[start : start + shown.count])
        cols = self._columns
        if cols is None or cols.width != width or self._rows_changed(visible):
            cols = self._columns = RuleColumns.fit(width, visible)
        for i in range(pinned):
            lines.append(row_line(rows[i], cols, selected=cursor == i))
        if shown.above:
            above = states[pinned:start]
            lines.append(((f"↑ {len(above)} above: {counted(above)}", "more"),))
        for i in range(start, start + shown.count):
            lines.append(row_line(rows[i], cols, selected=cursor == i))
        if shown.below:
            below = states[start + shown.count :]
            hint = "" if self.has_focus or not self.can_focus else " · Tab to scroll"
            lines.append(((f"+{len(below)} more: {counted(below)}{hint}", "more"),))
        return lines

    def _rows_changed(self, rows: tuple[RuleRow, ...]) -> bool:
        """Columns are fitted again when the texts of the rows in view could need other
        widths (a detail's length in steps of 6: a countdown losing a digit moves nothing)."""
        shape = tuple((r.state, r.title, len(r.detail) // 6, r.short) for r in rows)
        changed = shape != self._shape
        self._shape = shape
        return changed

    def _update_lines(self) -> None:
        width = self.content_size.width
        if width <= 0:
            return
        old, new = self._drawn, self._layout()
        self._drawn, self._laid_for = new, (width, self.content_size.height)
        for y in range(max(len(old), len(new))):
            before = old[y] if y < len(old) else None
            after = new[y] if y < len(new) else ()
            cells = changed_until(before, after, width) if after else width
            if cells:
                start = _same_start(before, after)
                self.refresh(Region(start, y, max(1, cells - start), 1))

    def on_resize(self) -> None:
        self._drawn = []
        self._update_lines()
        self.refresh()

    def on_focus(self) -> None:
        self.call_later(self._update_lines)  # after Widget._on_focus sets has_focus

    def on_blur(self) -> None:
        self._top = 0  # back to the worst rows: firing and pending first, whatever was scrolled
        self.call_later(self._update_lines)

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        width = self.content_size.width
        if (width, self.content_size.height) != self._laid_for:
            # resized since the lines were laid out (the GPU list gave room for a pending row):
            # lay them out for this size now, so no frame shows them cut for the old one
            self._drawn, self._laid_for = self._layout(), (width, self.content_size.height)
        if y >= len(self._drawn):
            return Strip.blank(width, base)
        segments: list[Segment] = []
        for text, name in self._drawn[y]:
            style = self._part_styles(f"rules-panel--{name}", base)
            if segments and segments[-1].style == style:  # one run per style: fewer codes
                segments[-1] = Segment(segments[-1].text + text, style)
            else:
                segments.append(Segment(text, style))
        return Strip(segments).crop(0, width).extend_cell_length(width, base)

    # ---- cursor ----------------------------------------------------------------------

    def _remember_cursor(self) -> None:
        """Note the rule under the cursor; tell when it is another one."""
        rows = self._view.rows
        key = rows[self._cursor].key if rows else None
        if key != self._cursor_key:
            self._cursor_key = key
            self.post_message(self.Highlighted(self.selected))

    def _move_to(self, index: int) -> None:
        rows = self._view.rows
        if not rows:
            return
        self._cursor = max(0, min(index, len(rows) - 1))
        self._remember_cursor()
        self._update_lines()

    def _page(self) -> int:
        return max(1, self.content_size.height - 2)

    def action_cursor(self, step: int) -> None:
        self._move_to(self._cursor + step)

    def action_page(self, direction: int) -> None:
        self._move_to(self._cursor + direction * self._page())

    def action_jump(self, index: int) -> None:
        self._move_to(index if index >= 0 else len(self._view.rows) - 1)

    def action_select(self) -> None:
        status = self.selected
        if status is not None:
            self.post_message(self.Selected(status))


def _same_start(old: Line | None, new: Line) -> int:
    """Cells of the fields two lines share from the left: a repaint can start after them
    (Textual sends a line's segments from the first one the dirty region touches)."""
    if old is None:
        return 0
    cells = 0
    for a, b in zip(old, new, strict=False):
        if a != b:
            break
        cells += len(a[0])
    return cells
