"""Every key of every screen, read from the screens' own BINDINGS so it cannot drift.

Only what works here is listed: the fleet's keys with Prometheus, the alerts screen's with
Alertmanager, and no action that is off (read-only, nothing to silence in, simulated
processes)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from gputop.ui.actions import GUARDED_ACTIONS

__all__ = ["HelpScreen", "binding_rows", "help_sections"]


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


def help_sections(app: App[Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The help text: one section per screen, and the keys that work everywhere."""
    from gputop.ui.app import GpuTopApp
    from gputop.ui.screens.alerts import AlertsScreen
    from gputop.ui.screens.detail import DetailScreen
    from gputop.ui.screens.fleet import FleetScreen
    from gputop.ui.screens.overview import OverviewScreen
    from gputop.ui.screens.processes import ProcessesScreen

    monitor = app.monitor if isinstance(app, GpuTopApp) else None
    read_only = isinstance(app, GpuTopApp) and app.read_only
    gone: set[str] = set(GUARDED_ACTIONS) if read_only else set()
    if monitor is None or monitor.alertmanager is None:
        gone |= {"silence", "expire_silence"}
    if monitor is None or monitor.local_name != "nvml":
        gone.add("signal_process")  # the demo's processes are simulated
    screens: list[tuple[str, list[BindingType]]] = [
        ("Everywhere", type(app).BINDINGS),
        ("Overview", OverviewScreen.BINDINGS),
        ("GPU detail", DetailScreen.BINDINGS),
        ("Processes", ProcessesScreen.BINDINGS),
    ]
    if monitor is not None and monitor.remote is not None:
        screens.append(("Fleet", FleetScreen.BINDINGS))
    if monitor is not None and monitor.alertmanager is not None:
        screens.append(("Alerts", AlertsScreen.BINDINGS))
    screens.append(("This help", HelpScreen.BINDINGS))
    sections = [(title, binding_rows(app, b, gone=gone)) for title, b in screens]
    if read_only:
        sections.insert(0, ("Read-only: silences and process signals are off", []))
    return sections


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
