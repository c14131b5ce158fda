"""The rules panel: every alert rule, worst first; near-firing ones highlighted.

Three columns, each its own widget, so a countdown that changes every second repaints only
its own cells: state and rule (left), the compared value's history (middle), the value
against its threshold with the countdown or ETA (right). Each column repaints only the
lines that changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from textual.app import ComposeResult
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from gputop.rules.model import RuleStatus
from gputop.ui.rules_view import RuleRow
from gputop.ui.spark import spark_text

__all__ = ["RulesPanel"]

_ACTIONABLE = ("firing", "pending", "near")
STATE_W = 9
SPARK_W = 16
DETAIL_W = 36


class _Column(Widget):
    """Lines of (text, component class) pairs; repaints only the lines that changed.

    The component classes are the panel's: it passes itself as `styles_from`.
    """

    def __init__(self, styles_from: Widget, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._styles_from = styles_from
        self._lines: list[tuple[tuple[str, str], ...]] = []

    def set_lines(self, lines: list[tuple[tuple[str, str], ...]]) -> None:
        width = self.content_size.width
        old = self._lines
        self._lines = lines
        for y in range(max(len(old), len(lines))):
            if y >= len(old) or y >= len(lines) or old[y] != lines[y]:
                self.refresh(Region(0, y, width, 1))

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        width = self.content_size.width
        if y >= len(self._lines):
            return Strip.blank(width, base)
        panel = self._styles_from
        segs = [
            Segment(text, base + panel.get_component_rich_style(cls, partial=True))
            for text, cls in self._lines[y]
        ]
        return Strip(segs).crop(0, width).extend_cell_length(width, base)


class RulesPanel(Widget):
    COMPONENT_CLASSES = {
        "rules-panel--firing",
        "rules-panel--pending",
        "rules-panel--near",
        "rules-panel--ok",
        "rules-panel--unknown",
        "rules-panel--title",
        "rules-panel--detail",
        "rules-panel--spark",
        "rules-panel--note",
    }
    DEFAULT_CSS = f"""
    RulesPanel {{
        height: 1fr; min-height: 3; border: round $panel-lighten-2; padding: 0 1;
        layout: horizontal; overflow: hidden;
    }}
    RulesPanel > .-names {{ width: 1fr; }}
    RulesPanel > .-sparks {{ width: {SPARK_W + 1}; }}
    RulesPanel > .-details {{ width: {DETAIL_W}; }}
    RulesPanel.-narrow > .-sparks {{ display: none; }}
    RulesPanel > .rules-panel--firing {{ background: $error; color: $text; text-style: bold; }}
    RulesPanel > .rules-panel--pending {{ color: $warning; text-style: bold reverse; }}
    RulesPanel > .rules-panel--near {{ color: $warning; text-style: bold; }}
    RulesPanel > .rules-panel--ok {{ color: $success; }}
    RulesPanel > .rules-panel--unknown {{ color: $text-muted; }}
    RulesPanel > .rules-panel--title {{ text-style: bold; }}
    RulesPanel > .rules-panel--detail {{ color: $text; }}
    RulesPanel > .rules-panel--spark {{ color: $secondary; }}
    RulesPanel > .rules-panel--note {{ color: $text-muted; }}
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Alert rules"
        self._names = _Column(self, classes="-names")
        self._sparks = _Column(self, classes="-sparks")
        self._details = _Column(self, classes="-details")
        self._rows: tuple[RuleRow, ...] = ()
        self._statuses: tuple[RuleStatus, ...] = ()  # behind the rows, in the same order
        self._note: str | None = "no rules loaded"

    def compose(self) -> ComposeResult:
        yield self._names
        yield self._sparks
        yield self._details

    def on_resize(self) -> None:
        self.set_class(self.content_size.width < 70, "-narrow")

    @property
    def rows(self) -> tuple[RuleRow, ...]:
        return self._rows

    @property
    def selected(self) -> RuleStatus | None:
        """The status of the row an action applies to.

        Until the panel has a selection of its own: the first firing, pending or near row.
        """
        return next((st for st in self._statuses if st.state in _ACTIONABLE), None)

    def set_statuses(self, statuses: Sequence[RuleStatus]) -> None:
        """The statuses behind the rows (for `selected`)."""
        self._statuses = tuple(statuses)

    def set_note(self, note: str) -> None:
        if note != self._note:
            self._note, self._rows = note, ()
            self.border_subtitle = ""
            self._names.set_lines([((note, "rules-panel--note"),)])
            self._sparks.set_lines([])
            self._details.set_lines([])

    def set_rows(self, rows: tuple[RuleRow, ...], subtitle: str = "") -> None:
        if rows == self._rows and self._note is None:
            return
        self._rows, self._note = rows, None
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle
        self._names.set_lines(
            [
                (
                    (f" {r.state.upper():<{STATE_W - 2}} ", f"rules-panel--{r.state}"),
                    (f" {r.title}", "rules-panel--title"),
                )
                for r in rows
            ]
        )
        self._sparks.set_lines([((_spark(r), "rules-panel--spark"),) for r in rows])
        self._details.set_lines([((r.detail, "rules-panel--detail"),) for r in rows])


def _spark(row: RuleRow) -> str:
    values = row.history[-SPARK_W:]
    present = [v for v in values if v is not None]
    if not present:
        return ""
    lo = min([*present, row.threshold]) if row.threshold is not None else min(present)
    hi = max([*present, row.threshold]) if row.threshold is not None else max(present)
    return " " * (SPARK_W - len(values)) + spark_text(values, lo, hi)
