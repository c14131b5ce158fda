"""The rules panel: every alert rule, worst first; near-firing ones highlighted."""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from textual.strip import Strip
from textual.widget import Widget

from gputop.ui.spark import spark_runs

__all__ = ["RuleRow", "RulesPanel"]

STATE_W = 9
SPARK_W = 16


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One line of the panel, already worded: state, rule (and series), detail, history."""

    state: str  # firing | pending | near | ok | unknown
    title: str
    detail: str
    history: tuple[float | None, ...] = ()
    threshold: float | None = None


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
    DEFAULT_CSS = """
    RulesPanel { height: 1fr; min-height: 3; border: round $panel-lighten-2; padding: 0 1; }
    RulesPanel > .rules-panel--firing { background: $error; color: $text; text-style: bold; }
    RulesPanel > .rules-panel--pending { color: $warning; text-style: bold reverse; }
    RulesPanel > .rules-panel--near { color: $warning; text-style: bold; }
    RulesPanel > .rules-panel--ok { color: $success; }
    RulesPanel > .rules-panel--unknown { color: $text-muted; }
    RulesPanel > .rules-panel--title { text-style: bold; }
    RulesPanel > .rules-panel--detail { color: $text-muted; }
    RulesPanel > .rules-panel--spark { color: $secondary; }
    RulesPanel > .rules-panel--note { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Alert rules"
        self._rows: tuple[RuleRow, ...] = ()
        self._note = "no rules loaded"

    def set_note(self, note: str) -> None:
        if note != self._note or self._rows:
            self._note, self._rows = note, ()
            self.refresh()

    def set_rows(self, rows: tuple[RuleRow, ...], subtitle: str = "") -> None:
        if rows != self._rows or self._note:
            self._rows, self._note = rows, ""
            self.border_subtitle = subtitle
            self.refresh()

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        width = self.content_size.width

        def style(name: str):  # type: ignore[no-untyped-def]
            return base + self.get_component_rich_style(name, partial=True)

        if self._note:
            text = self._note if y == 0 else ""
            return Strip([Segment(text.ljust(width)[:width], style("rules-panel--note"))])
        if y >= len(self._rows):
            return Strip.blank(width, base)
        row = self._rows[y]
        badge = f" {row.state.upper():<{STATE_W - 2}} "
        segs = [Segment(badge, style(f"rules-panel--{row.state}")), Segment(" ", base)]
        spark_w = SPARK_W if width >= 70 and row.history else 0
        room = width - STATE_W - 1 - (spark_w + 1 if spark_w else 0)
        title = row.title[: max(0, room)]
        detail = row.detail[: max(0, room - len(title) - 2)]
        segs.append(Segment(title, style("rules-panel--title")))
        segs.append(Segment(f"  {detail}".ljust(room - len(title))[: room - len(title)],
                            style("rules-panel--detail")))
        if spark_w:
            values = row.history[-spark_w:]
            present = [v for v in values if v is not None]
            lo = min([*present, row.threshold or 0.0]) if present else 0.0
            hi = max([*present, row.threshold or 1.0]) if present else 1.0
            segs.append(Segment(" " + " " * (spark_w - len(values)), base))
            for text, _level in spark_runs(values, lo, hi):
                segs.append(Segment(text, style("rules-panel--spark")))
        return Strip(segs).crop(0, width)
