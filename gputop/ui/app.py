"""The Textual application: one class made of its parts, each in a module of its own —
`polling` (the reading loops and screen refresh), `policy` (read-only and kiosk), `actions`
(what the keys do, pages by name) — plus the views the screens ask for (below). Screens
derive from `gputop.ui.screens.base` and never import this module at run time."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textual.binding import Binding
from textual.driver import Driver
from textual.screen import Screen

from gputop.core.models import GPU_METRICS, GpuSample
from gputop.monitor import Monitor
from gputop.rules.model import RuleStatus
from gputop.rules.text import series_name
from gputop.ui.actions import page_class
from gputop.ui.kiosk import ExitChord
from gputop.ui.polling import Polling
from gputop.ui.views.readings import DEFAULT_WINDOW_S, NumberLevels, gpu_marks
from gputop.ui.views.rules import RowCache, RuleSparks, ShownRules, rules_panel_view
from gputop.ui.views.thresholds import chart_thresholds
from gputop.ui.views.thresholds import thresholds as chart_lines
from gputop.ui.widgets.rules_panel import RulesPanel

__all__ = ["GpuTopApp"]


class GpuTopApp(Polling):
    TITLE = "gputop"
    # absolute: tests subclass the app. The overview's stylesheet is the app's: parsed once with
    # it (a screen's own stylesheet, loaded when the screen is, has every rule parsed again)
    CSS_PATH = [
        Path(__file__).with_name("app.tcss"),
        Path(__file__).parent / "screens" / "overview.tcss",
    ]
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("p", "processes", "Processes"),
        Binding("a", "alerts", "Alerts"),
        Binding("f", "fleet", "Fleet"),
        # offered while a source fails: try it now instead of waiting for the backoff
        Binding("r", "retry", "Retry now"),
        # without Prometheus `f` still opens the fleet, which says what it needs, unlisted;
        # the same for `a` without Alertmanager
        Binding("f", "fleet('unlisted')", "Fleet", show=False),
        Binding("a", "alerts('unlisted')", "Alerts", show=False),
    ]

    def __init__(
        self,
        monitor: Monitor,
        *,
        interval: float = 1.0,
        window_s: float = DEFAULT_WINDOW_S,
        poll: bool = True,
        notify_firing: bool = False,
        kiosk_page_s: float | None = None,
        read_only: bool = False,
        kiosk: bool = False,
        handle_signals: bool = False,
        warnings: tuple[str, ...] = (),
    ) -> None:
        theme = os.environ.get("GPUTOP_THEME", "ansi-dark")
        # decided before the theme is set: NO_COLOR must keep the terminal's own colours
        super().__init__(ansi_color=True if theme.startswith("ansi") else None)
        self.theme = theme
        self.monitor = monitor
        self.interval = interval
        monitor.interval = interval
        self.window_s = window_s
        self._poll = poll
        self._notify_firing = notify_firing
        self._kiosk_page_s = kiosk_page_s  # pages cycle by themselves
        self.kiosk_page_name = "overview"
        self.kiosk = kiosk
        self.read_only = read_only or kiosk
        self.exit_chord = ExitChord()
        self._handle_signals = handle_signals
        self._firing: set[tuple[str, tuple[tuple[str, str], ...]]] | None = None
        self._shown = ShownRules()
        self._rule_sparks = RuleSparks()
        self._rule_rows = RowCache()
        self._levels: tuple[list[RuleStatus] | None, NumberLevels] = (None, NumberLevels())
        self._marks: tuple[list[RuleStatus] | None, tuple[str, ...], dict[str, str]] = (
            None,
            (),
            {},
        )
        self.failing = False
        self._warnings = warnings  # also written to stderr, which the dashboard covers
        self.stopping = threading.Event()
        self.refresh_due = False  # a refresh of the screen is on its way (`refresh_soon`)

    def get_default_screen(self) -> Screen[Any]:
        """The overview: the first screen and the only full paint at start."""
        return page_class("overview")()

    def get_driver_class(self) -> type[Driver]:
        """Textual's own driver, but on Linux one that sends only the cells that changed."""
        driver = super().get_driver_class()
        from textual.drivers.linux_driver import LinuxDriver

        if driver is LinuxDriver:
            from gputop.ui.term.driver import ShadowDriver, shadow_enabled

            if shadow_enabled():
                return ShadowDriver
        return driver

    def on_mount(self) -> None:
        self.call_after_refresh(self._after_first_frame)
        self.set_class(self.kiosk, "-kiosk")
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.add_signal_handler(sig, self.exit, 0)
        if self._kiosk_page_s:
            self.set_interval(self._kiosk_page_s, self.next_kiosk_page)

    def _after_first_frame(self) -> None:
        """What the first frame does without (the polling), then the collector."""
        for warning in self._warnings:
            self.notify(warning, severity="warning", timeout=15)
        if self._poll:
            self.start_polling()
        self.tick_clock()
        _settle_gc()

    async def on_unmount(self) -> None:
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        await self.stop_polling()
        await self.monitor.aclose()

    # ---- views the screens ask for -----------------------------------------------

    def shown_statuses(self) -> list[RuleStatus]:
        """The rule statuses on screen (see `ShownRules`)."""
        return self._shown.update(self.monitor.rule_statuses(), self.monitor.clock.now())

    def number_levels(self) -> NumberLevels:
        """How alarming each number is, from the rules on screen (worked out when they change)."""
        statuses = self.shown_statuses()
        if self._levels[0] is not statuses:
            self._levels = (statuses, NumberLevels(statuses))
        return self._levels[1]

    def gpu_marks(self, gpus: Sequence[GpuSample]) -> dict[str, str]:
        """GPU key -> the worst rule state on screen touching it (worked out when the rules
        on screen or the GPUs change: thousands of rule series are many to go through)."""
        statuses = self.shown_statuses()
        keys = tuple(g.key for g in gpus)
        if self._marks[0] is not statuses or self._marks[1] != keys:
            self._marks = (statuses, keys, gpu_marks(statuses, gpus))
        return dict(self._marks[2])

    def refresh_rules(self, panel: RulesPanel) -> None:
        """Fill the rules panel and ring the bell for rules that start firing."""
        monitor = self.monitor
        self._notify_new_firing(monitor.rule_statuses())
        statuses = self.shown_statuses()
        now = monitor.clock.now()
        sparks = self._rule_sparks.get(statuses, now)
        panel.set_view(
            rules_panel_view(
                monitor.rules,
                statuses,
                sparks,
                remote=monitor.remote is not None,
                now=now,
                cache=self._rule_rows,
            )
        )

    def _notify_new_firing(self, statuses: list[RuleStatus]) -> None:
        firing = {st.key for st in statuses if st.state == "firing"}
        new = firing - self._firing if self._firing is not None else set()
        self._firing = firing
        if not new or not self._notify_firing:
            return
        self.bell()
        for name, labels in sorted(new):
            body = f"{name} firing: {series_name(dict(labels))}"
            self.notify(body, severity="error", timeout=10)
            driver = self._driver
            if driver is not None:  # OSC 777: a desktop notification that passes through SSH
                driver.write(f"\x1b]777;notify;gputop;{_osc_safe(body)}\x07")

    def thresholds(self, gpu_key: str, metric_key: str) -> list[tuple[str, float]]:
        """(rule, threshold) lines to draw on a GPU's metric chart."""
        gpu = next((g for g in self.monitor.gpus() if g.key == gpu_key), None)
        return chart_lines(self.monitor.rule_statuses(), gpu, metric_key)

    def off_scale(self, gpu_key: str) -> list[str]:
        """Why some rule thresholds on a GPU's charts are not drawn (off the chart's scale)."""
        gpu = next((g for g in self.monitor.gpus() if g.key == gpu_key), None)
        statuses = self.monitor.rule_statuses()
        return [
            note
            for metric in GPU_METRICS
            for note in chart_thresholds(statuses, gpu, metric.key).off_scale
        ]


def _settle_gc() -> None:
    """After the first frame: move start-up objects out of the collector's way, collect again."""
    gc.freeze()
    gc.enable()


def _osc_safe(text: str) -> str:
    return "".join(c for c in text if c.isprintable() and c not in ";\x1b\x07")
