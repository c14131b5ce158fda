"""Every key of every screen, read from the screens' own BINDINGS so it cannot drift, and what
the marks on screen mean.

Only what works here is listed: the fleet's keys with Prometheus, the alerts screen's with
Alertmanager, and no action that is off (read-only, nothing to silence in, simulated
processes). On a wide terminal the sections stand in two columns; when the box is still
taller than the terminal (80x24), its border says so and where the rest is ("↓ more below ·
↑↓ PgDn scroll").
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from gputop.rules.text import STATE_LABELS
from gputop.ui.actions import page_class
from gputop.ui.policy import GUARDED_ACTIONS

if TYPE_CHECKING:
    from textual import getters

    from gputop.ui.app import GpuTopApp

__all__ = ["LEGEND", "HelpScreen", "binding_rows", "help_sections"]

#: What the marks on screen mean; the same without colour.
LEGEND: list[tuple[str, str]] = [
    (STATE_LABELS["firing"], "a rule fires (reverse video)"),
    (STATE_LABELS["pending"], "its condition holds; it fires after `for` (bold)"),
    (STATE_LABELS["near"], "within the margin of its threshold, or trending to it"),
    (STATE_LABELS["unknown"], "cannot be evaluated (the reason follows)"),
    ("▶", "the selection: the GPU, rule or fleet line the keys act on"),
    ("LOST", "a GPU off the bus, since when; its rules read unknown"),
    ("STALE", "a failing source: its last known data, and how old"),
    ("3✖", "a GPU line whose source is failing: its last known numbers"),
    ("▂", "on a detail chart: when a rule would have fired"),
]
#: Columns of sections from this terminal width on.
TWO_COLUMNS_W = 100


def binding_rows(
    app: App[Any], bindings: Iterable[BindingType], *, gone: Collection[str] = ()
) -> list[tuple[str, str]]:
    """(keys, what they do) per distinct description, in declaration order, leaving out the
    actions named in `gone`."""
    rows: dict[str, list[str]] = {}
    for binding in Binding.make_bindings(bindings):
        if binding.action.split("(")[0] in gone:
            continue
        desc = binding.tooltip or binding.description
        if not any(ch.isalpha() for ch in desc):
            # a bare symbol ("←") says where, the action says what
            desc = f"{binding.action.split('(')[0].replace('_', ' ')} {desc}".strip()
        key = app.get_key_display(binding)
        keys = rows.setdefault(desc, [])
        if key not in keys:
            keys.append(key)
    return [(" ".join(keys), desc) for desc, keys in rows.items()]


def help_sections(app: GpuTopApp) -> list[tuple[str, list[tuple[str, str]]]]:
    """The help text: one section per screen, the keys that work everywhere, and the marks."""
    from gputop.ui.views.fleet import FLEET_LEGEND
    from gputop.ui.widgets.rules_panel import RulesPanel

    monitor = app.monitor
    read_only = app.read_only
    gone: set[str] = set(GUARDED_ACTIONS) if read_only else set()
    if monitor.alertmanager is None:
        gone |= {"silence", "expire_silence"}
    if monitor.local_name != "nvml":
        gone.add("signal_process")  # the demo's processes are simulated
    screens: list[tuple[str, list[BindingType]]] = [
        ("Everywhere", type(app).BINDINGS),
        ("Overview", page_class("overview").BINDINGS),
        ("Rules panel (Tab)", RulesPanel.BINDINGS),
        ("GPU detail", page_class("detail").BINDINGS),
        ("Processes", page_class("processes").BINDINGS),
    ]
    if monitor.remote is not None:
        screens.append(("Fleet", page_class("fleet").BINDINGS))
    if monitor.alertmanager is not None:
        screens.append(("Alerts", page_class("alerts").BINDINGS))
    screens.append(("This help", HelpScreen.BINDINGS))
    sections = [(title, binding_rows(app, b, gone=gone)) for title, b in screens]
    if read_only:
        sections.insert(0, ("Read-only: silences and process signals are off", []))
    if monitor.remote is not None:
        sections.append(("Fleet marks", list(FLEET_LEGEND)))
    sections.append(("States and marks", list(LEGEND)))
    return sections


def _section(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True, min_width=10)
    table.add_column()
    table.add_row(Text(title, style="bold underline"), "")
    for keys, desc in rows:
        table.add_row(keys, desc)
    return table


def _columns(sections: list[tuple[str, list[tuple[str, str]]]], count: int) -> list[list[int]]:
    """Section indexes per column, in order, the columns about as tall as each other."""
    if count <= 1:
        return [list(range(len(sections)))]
    heights = [len(rows) + 2 for _, rows in sections]
    half = sum(heights) / 2
    split, total = len(sections), 0
    for i, height in enumerate(heights):
        if total + height / 2 > half:
            split = i
            break
        total += height
    return [list(range(split)), list(range(split, len(sections)))]


class HelpBox(VerticalScroll):
    """The scrolling box of the help; its border says when part of it is out of view."""

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.update_hint()

    def update_hint(self) -> None:
        if self.max_scroll_y <= 0:
            hint = ""
        elif self.scroll_y >= self.max_scroll_y:
            hint = "↑ more above · ↑↓ PgUp scroll"
        else:
            hint = "↓ more below · ↑↓ PgDn scroll"
        if hint != (self.border_subtitle or ""):
            self.border_subtitle = hint


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", key_display="?"),
        Binding("q", "close", "Close"),
    ]

    if TYPE_CHECKING:
        app = getters.app(GpuTopApp)

    def compose(self) -> ComposeResult:
        box = HelpBox(id="help")
        box.border_title = "Keys"
        with box:
            yield Static(self._content(), id="keys")

    def _content(self) -> Table | Group:
        sections = help_sections(self.app)
        count = 2 if self.app.size.width >= TWO_COLUMNS_W else 1
        columns = _columns(sections, count)
        parts = [
            Group(*(item for i in col for item in (_section(*sections[i]), Text(""))))
            for col in columns
        ]
        if len(parts) == 1:
            return parts[0]
        outer = Table.grid(padding=(0, 3))
        outer.add_row(*parts)
        return outer

    def on_mount(self) -> None:
        box = self.query_one(HelpBox)
        box.set_class(self.app.size.width >= TWO_COLUMNS_W, "-wide")
        box.focus()
        self.call_after_refresh(box.update_hint)

    def on_resize(self) -> None:
        self.call_after_refresh(self.query_one(HelpBox).update_hint)

    def action_close(self) -> None:
        self.dismiss()
