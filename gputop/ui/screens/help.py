"""Every key of every screen, read from the screens' own BINDINGS so it cannot drift."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HelpScreen", "binding_rows", "help_sections"]


def binding_rows(app: App[Any], bindings: Iterable[BindingType]) -> list[tuple[str, str]]:
    """(keys, what they do) per distinct description, in declaration order."""
    rows: dict[str, list[str]] = {}
    for binding in Binding.make_bindings(bindings):
        desc = binding.tooltip or binding.description
        if not any(ch.isalpha() for ch in desc):
            # a bare symbol ("←") says where, the action says what
            desc = f"{binding.action.split('(')[0].replace('_', ' ')} {desc}".strip()
        key = app.get_key_display(binding)
        keys = rows.setdefault(desc, [])
        if key not in keys:
            keys.append(key)
    return [(" ".join(keys), desc) for desc, keys in rows.items()]


def help_sections(app: App[Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The help text: one section per screen, and the keys that work everywhere."""
    from gputop.ui.screens.detail import DetailScreen
    from gputop.ui.screens.fleet import FleetScreen
    from gputop.ui.screens.overview import OverviewScreen
    from gputop.ui.screens.processes import ProcessesScreen

    screens: list[tuple[str, list[BindingType]]] = [
        ("Everywhere", type(app).BINDINGS),
        ("Overview", OverviewScreen.BINDINGS),
        ("GPU detail", DetailScreen.BINDINGS),
        ("Processes", ProcessesScreen.BINDINGS),
        ("Fleet (with Prometheus)", FleetScreen.BINDINGS),
        ("This help", HelpScreen.BINDINGS),
    ]
    return [(title, binding_rows(app, bindings)) for title, bindings in screens]


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "help.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", key_display="?"),
        Binding("q", "close", "Close"),
    ]

    def compose(self) -> ComposeResult:
        scroll = VerticalScroll(id="help")
        scroll.border_title = "Keys"
        with scroll:
            yield Static(self._table(), id="keys")

    def _table(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True, min_width=10)
        table.add_column()
        for i, (title, rows) in enumerate(help_sections(self.app)):
            if i:
                table.add_row("", "")
            table.add_row(Text(title, style="bold underline"), "")
            for keys, desc in rows:
                table.add_row(keys, desc)
        return table

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss()
