"""What the keys of the app do: open a page, retry, silence. Pages are named (`PAGES`) and
their modules imported when first opened, so a screen opens another without importing it, and
start-up loads only the overview. The actions themselves go through the monitor
(`Monitor.silence`, `.expire`, `.signal`); what guards them is `gputop.ui.policy`.
"""

from __future__ import annotations

import getpass
import importlib
import os
import socket
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.screen import Screen

from gputop.core.models import GpuSample
from gputop.monitor import Monitor
from gputop.rules.model import RuleStatus

__all__ = ["PAGES", "READ_ONLY_MESSAGE", "Actions", "created_by", "page_class"]

READ_ONLY_MESSAGE = "read-only: silences and process signals are off"

#: The pages of the dashboard by name: module and class, imported on first use.
PAGES = {
    "overview": ("gputop.ui.screens.overview", "OverviewScreen"),
    "detail": ("gputop.ui.screens.detail", "DetailScreen"),
    "processes": ("gputop.ui.screens.processes", "ProcessesScreen"),
    "fleet": ("gputop.ui.screens.fleet", "FleetScreen"),
    "alerts": ("gputop.ui.screens.alerts", "AlertsScreen"),
    "silence": ("gputop.ui.screens.silence", "SilenceScreen"),
    "help": ("gputop.ui.screens.help", "HelpScreen"),
    "backtest": ("gputop.ui.screens.backtest", "BacktestScreen"),
}


def page_class(name: str) -> type[Screen[Any]]:
    """The screen class of a page named in `PAGES`."""
    module, cls = PAGES[name]
    found: type[Screen[Any]] = getattr(importlib.import_module(module), cls)
    return found


def created_by() -> str:
    """`user@host`, as a silence's `createdBy`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


class Actions(App[int]):
    """The first part of `GpuTopApp`: the state its parts share, and what the keys do."""

    monitor: Monitor
    interval: float
    window_s: float
    read_only: bool  # no action that changes something outside gputop
    kiosk: bool  # a wall screen: read-only, no keys but the exit chord, pages cycle
    failing: bool  # a source fails: `r` (retry) is offered

    def say_read_only(self) -> None:
        self.notify(READ_ONLY_MESSAGE, severity="warning", timeout=4)

    def open_page(self, name: str, *args: object, again: bool = False) -> None:
        """Show a page (made with `args`), unless it is shown already and not `again`."""
        cls = page_class(name)
        if again or not isinstance(self.screen, cls):
            make: Callable[..., Screen[Any]] = cls  # each page takes its own arguments
            self.push_screen(make(*args))

    def open_detail(self, key: str) -> None:
        self.open_page("detail", key, again=True)

    def action_processes(self) -> None:
        from gputop.ui.screens.base import GpuTopScreen

        screen = self.screen
        self.open_processes(screen.processes_gpu() if isinstance(screen, GpuTopScreen) else None)

    def open_processes(self, gpu: GpuSample | None = None) -> None:
        """The processes table: of every GPU, or of one GPU (or MIG instance)."""
        self.open_page("processes", gpu, again=True)

    def open_backtest(self, names: list[str], range_s: float, about: str) -> None:
        """Replay these rules over the last `range_s` in a screen of its own (a worker)."""
        if not names:
            self.notify("no rule to backtest here", severity="warning")
            return
        cls: Callable[..., Screen[Any]] = page_class("backtest")
        self.push_screen(cls(names=names, range_s=range_s, about=about))

    def action_retry(self) -> None:
        """Try every failing source now; the next poll (within a second) asks it."""
        self.monitor.retry_now()

    def action_fleet(self, _how: str = "") -> None:
        self.open_page("fleet")

    def action_alerts(self, _how: str = "") -> None:
        self.open_page("alerts")

    def silence_rule(self, status: RuleStatus | None) -> None:
        """Open the silence dialog for a firing, pending or near rule row (not when read-only)."""
        if self.read_only:
            self.say_read_only()
            return
        if self.monitor.alertmanager is None:
            self.notify("no Alertmanager: start with --alertmanager URL", severity="warning")
            return
        if status is None or status.state not in ("firing", "pending", "near"):
            self.notify("select a firing, pending or near rule to silence", severity="warning")
            return
        self.open_page("silence", status, again=True)

    def action_help(self) -> None:
        self.open_page("help", again=True)
