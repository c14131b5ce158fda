"""The Textual application: owns the polling, hands the monitor's views to the screens, and
guards the actions: with `read_only` every action that changes something outside gputop is
gone (see `gputop.ui.actions`); a `kiosk` is read-only and also ignores every key but its exit
chord, shows no toasts or dialogs and no footer, and puts up a STALE banner while a source in
use is failing (see `gputop.ui.kiosk`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, getters, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.driver import Driver
from textual.notifications import SeverityLevel
from textual.screen import Screen

from gputop.core.models import GPU_METRICS, GpuSample
from gputop.core.untrusted import visible
from gputop.monitor import OVERVIEW_MAX, LocalReading, Monitor
from gputop.rules.model import RuleStatus
from gputop.rules.text import series_name
from gputop.ui import rules_view
from gputop.ui.actions import READ_ONLY_MESSAGE, guarded_keys, is_guarded
from gputop.ui.kiosk import ExitChord, kiosk_pages, stale_banner_lines
from gputop.ui.rules_view import RowCache, RuleSparks, ShownRules, rules_panel_view
from gputop.ui.view import DEFAULT_WINDOW_S, NumberLevels, gpu_marks, status_parts
from gputop.ui.widgets.rules_panel import RulesPanel
from gputop.ui.widgets.stale_banner import StaleBanner
from gputop.ui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from gputop.ui.screens.overview import OverviewScreen

__all__ = ["GpuTopApp", "GpuTopScreen", "run_dashboard"]

#: How long quitting waits for a request on its way before closing the clients regardless.
_STOP_WAIT_S = 5.0
#: Remote refreshes that end this close together are shown by one refresh of the screen.
_REFRESH_GATHER_S = 0.2
#: The workers that talk through the monitor's clients: the polling (Prometheus' panels,
#: its rules, Alertmanager, each on its own), silencing, expiring.
_CLIENT_GROUPS = frozenset({"remote", "rules", "alertmanager", "silence", "expire"})


class GpuTopApp(App[int]):
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
        self._kiosk_page_name = "overview"
        self.kiosk = kiosk
        self.read_only = read_only or kiosk
        self._exit_chord = ExitChord()
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
        self._failing = False
        self._warnings = warnings  # also written to stderr, which the dashboard covers
        self._stop = threading.Event()
        self._refresh_due = False  # a refresh of the screen is on its way (_refresh_soon)

    def get_default_screen(self) -> Screen[Any]:
        """The overview: the first screen and the only full paint at start."""
        return _overview_screen()

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
        if self._poll:  # the first reading is on screen: the next is one interval away
            monitor = self.monitor
            if monitor.local is not None or monitor.remote is None:
                self.poll_local()
            # each remote refresh on its own: a slow one (thousands of rules, a huge
            # Alertmanager status) holds up neither the others nor the screen (the rules
            # start after the panels' first, biggest fetch: not both at their peak at once)
            if monitor.remote is not None:
                self.run_worker(self._poll_panels(), exclusive=True, group="remote")
            if monitor.alertmanager is not None:
                self.run_worker(self._poll_alertmanager(), exclusive=True, group="alertmanager")
        self._tick_clock()
        _settle_gc()

    async def on_unmount(self) -> None:
        self._stop.set()
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        await self._stop_polling()
        await self.monitor.aclose()

    async def _stop_polling(self) -> None:
        """Cancel the remote polling (and any request of an action) and wait until it has
        ended: only then may the monitor close its clients, or a request on its way when the
        cancel came (and won over it) goes on to send the next on a closed client."""
        running = [w for w in self.workers if w.group in _CLIENT_GROUPS and not w.is_finished]
        for worker in running:
            worker.cancel()
        for worker in running:
            with contextlib.suppress(Exception):  # cancelled, failed or slow: it is over
                await asyncio.wait_for(worker.wait(), _STOP_WAIT_S)

    # ---- kiosk and read-only -------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        """A kiosk drops every key and mouse event but the exit chord; read-only answers the
        keys of the actions it has removed."""
        if isinstance(event, events.InputEvent) and not event.is_forwarded:
            if self.kiosk:
                if isinstance(event, events.Key) and self._exit_chord.press(event.key):
                    self.exit(0)
                return
            if isinstance(event, events.Key) and self.read_only and self._guarded(event.key):
                self.say_read_only()
                return
        elif self.kiosk and isinstance(event, events.Paste):
            return
        await super().on_event(event)

    def _guarded(self, key: str) -> bool:
        bindings: list[BindingType] = [*type(self).BINDINGS, *type(self.screen).BINDINGS]
        return key in guarded_keys(bindings)

    def say_read_only(self) -> None:
        self.notify(READ_ONLY_MESSAGE, severity="warning", timeout=4)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A toast, except in a kiosk: nothing may cover its rows. Toasts name rules, series
        and processes: their words are shown as text, never as markup (`markup` is ignored)."""
        if not self.kiosk:
            super().notify(
                visible(message),
                title=visible(title),
                severity=severity,
                timeout=timeout,
                markup=False,
            )

    # ---- polling -------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="local")
    def poll_local(self) -> None:
        """Read the local source once per interval; the next read starts when the last ends."""
        while not self._stop.wait(self._delay()):
            result = self.monitor.read_local()
            if self._stop.is_set():
                return
            self.call_from_thread(self.apply_local, result)

    def _delay(self) -> float:
        now = self.monitor.clock.now()
        return self.interval - (now % self.interval)  # ticks aligned to the interval

    def apply_local(self, result: LocalReading) -> None:
        self.monitor.ingest(result)
        self.refresh_screen()

    async def _poll_panels(self) -> None:
        """Refresh Prometheus' panels once per interval; the next refresh starts when the last
        ends."""
        fleet_checked = rules_started = False
        while not self._stop.is_set():
            await self.monitor.refresh_panels()
            if not rules_started:
                rules_started = True
                self.run_worker(self._poll_rules(), exclusive=True, group="rules")
            if not fleet_checked and self.monitor.state("prometheus").ok:
                fleet_checked = True
                self._open_fleet_if_no_local_gpus()
            self._refresh_soon()
            await asyncio.sleep(self._delay())

    async def _poll_rules(self) -> None:
        """Read Prometheus' rules when due (the engine paces itself), apart from the panels."""
        while not self._stop.is_set():
            due = self.monitor.rules.due if self.monitor.rules is not None else 0.0
            await self.monitor.refresh_rules()
            if self.monitor.rules is not None and self.monitor.rules.due != due:
                self._refresh_soon()  # read (or failed): something new to show
            await asyncio.sleep(self._delay())

    async def _poll_alertmanager(self) -> None:
        """Poll Alertmanager when due (it paces itself), apart from Prometheus."""
        while not self._stop.is_set():
            am = self.monitor.alertmanager
            version = am.version if am is not None else 0
            await self.monitor.refresh_alertmanager()
            if am is not None and (am.version != version or not am.state.ok):
                self._refresh_soon()
            await asyncio.sleep(self._delay())

    def _refresh_soon(self) -> None:
        """Show what a remote refresh brought, in a moment: once for all that came meanwhile
        (the panels, the rules and Alertmanager each refresh on their own)."""
        if not self._refresh_due:
            self._refresh_due = True
            self.set_timer(_REFRESH_GATHER_S, self._refresh_gathered)

    def _refresh_gathered(self) -> None:
        self._refresh_due = False
        self.refresh_screen()

    def _tick_clock(self) -> None:
        """The header's clock, every second whatever the sources do (a reading may repaint
        it first: then this costs nothing)."""
        if self._stop.is_set():
            return
        with contextlib.suppress(NoMatches):
            screen = self._shown_screen()
            if screen is not None:
                bar = screen.query_one(StatusBar)
                if bar.clock != self._clock_text(self.monitor.clock.now()):
                    self.update_status(bar)
        now = time.time()
        self.set_timer(1.0 - now % 1.0 + 0.001, self._tick_clock)

    def _open_fleet_if_no_local_gpus(self) -> None:
        """A fleet larger than the overview shows, and no GPU here: start on the fleet."""
        monitor = self.monitor
        local = monitor.latest is not None and bool(monitor.latest.gpus)
        if not local and len(monitor.gpus()) > OVERVIEW_MAX and len(self.screen_stack) == 1:
            self.action_fleet()

    def refresh_screen(self) -> None:
        failing = self.monitor.sources_failing()
        if failing != self._failing:  # `r` is offered only while something fails
            self._failing = failing
            self.refresh_bindings()
        # the screen shown, or under a dialog (silence, confirm, help) the one it covers:
        # its data stays live behind the dialog
        stack = self.screen_stack
        at = next(
            (i for i in range(len(stack) - 1, -1, -1) if isinstance(stack[i], GpuTopScreen)), -1
        )
        if at < 0:
            return
        screen = stack[at]
        assert isinstance(screen, GpuTopScreen)
        # a screen just pushed is not composed yet: it fills itself on mount
        with contextlib.suppress(NoMatches):
            screen.refresh_view()
            if self.kiosk:
                screen.query_one(StaleBanner).set_lines(stale_banner_lines(self.monitor))
        for dialog in stack[at + 1 : -1]:  # a dialog under another keeps an old picture of it
            dialog.refresh()

    # ---- views the screens ask for -----------------------------------------------

    def _shown_screen(self) -> GpuTopScreen | None:
        """The dashboard screen shown, or under a dialog the one it covers."""
        return next((s for s in reversed(self.screen_stack) if isinstance(s, GpuTopScreen)), None)

    @staticmethod
    def _clock_text(now: float) -> str:
        return time.strftime("%H:%M:%S", time.localtime(now))

    def update_status(self, bar: StatusBar) -> None:
        """The header of every screen: the clock, then the sources' states."""
        now = self.monitor.clock.now()
        parts = status_parts(self.monitor, now)
        if self.read_only:
            parts.insert(1, ("READ-ONLY", "status-bar--badge"))
        bar.set_parts(parts, self._clock_text(now))

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
        return rules_view.thresholds(self.monitor.rule_statuses(), gpu, metric_key)

    def off_scale(self, gpu_key: str) -> list[str]:
        """Why some rule thresholds on a GPU's charts are not drawn (off the chart's scale)."""
        gpu = next((g for g in self.monitor.gpus() if g.key == gpu_key), None)
        statuses = self.monitor.rule_statuses()
        return [
            note
            for metric in GPU_METRICS
            for note in rules_view.chart_thresholds(statuses, gpu, metric.key).off_scale
        ]

    # ---- actions -------------------------------------------------------------------

    def open_detail(self, key: str) -> None:
        from gputop.ui.screens.detail import DetailScreen

        self.push_screen(DetailScreen(key))

    def action_processes(self) -> None:
        from gputop.ui.screens.processes import ProcessesScreen

        self.push_screen(ProcessesScreen())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "fleet":  # the listed binding with Prometheus, the unlisted one without
            return bool(parameters) == (self.monitor.remote is None)
        if action == "alerts":
            return bool(parameters) == (self.monitor.alertmanager is None)
        if action == "retry":
            return self._failing
        return not (self.read_only and is_guarded(action))

    def action_retry(self) -> None:
        """Try every failing source now; the next poll (within a second) asks it."""
        self.monitor.retry_now()

    def action_fleet(self, _how: str = "") -> None:
        from gputop.ui.screens.fleet import FleetScreen

        if not isinstance(self.screen, FleetScreen):
            self.push_screen(FleetScreen())

    def action_alerts(self, _how: str = "") -> None:
        from gputop.ui.screens.alerts import AlertsScreen

        if not isinstance(self.screen, AlertsScreen):
            self.push_screen(AlertsScreen())

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
        from gputop.ui.screens.silence import SilenceScreen

        self.push_screen(SilenceScreen(status))

    def kiosk_pages(self) -> list[str]:
        return kiosk_pages(self.monitor)

    def next_kiosk_page(self) -> None:
        """Show the next page of the kiosk cycle: the overview (a part at a time, when its
        GPUs do not all fit), then each page that has something to show (processes, fleet,
        alerts)."""
        screen = self.screen
        if isinstance(screen, GpuTopScreen) and screen.next_kiosk_part():
            return  # the same page, showing what did not fit (the next GPUs)
        pages = self.kiosk_pages()
        shown = self._kiosk_page_name
        at = pages.index(shown) if shown in pages else -1
        page = pages[(at + 1) % len(pages)]
        self._kiosk_page_name = page
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if page == "processes":
            self.action_processes()
        elif page == "fleet":
            self.action_fleet()
        elif page == "alerts":
            self.action_alerts()

    def action_help(self) -> None:
        from gputop.ui.screens.help import HelpScreen

        self.push_screen(HelpScreen())


class GpuTopScreen(Screen[None]):
    """A full screen of the dashboard: `app` is typed, and `refresh_view` is called on every
    new reading while the screen is shown. Its guarded actions are gone when read-only; in
    a kiosk it carries the STALE banner instead of a footer."""

    app = getters.app(GpuTopApp)

    def on_mount(self) -> None:
        app = self.app
        if app.kiosk:
            banner = StaleBanner()
            self.mount(banner)
            banner.set_lines(stale_banner_lines(app.monitor))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (self.app.read_only and is_guarded(action))

    _shown_before = False

    def on_screen_resume(self) -> None:
        # back from another screen: what came in meanwhile shows now, not at the next reading
        if self._shown_before and self.app.screen is self:
            with contextlib.suppress(NoMatches):
                self.refresh_view()
        self._shown_before = True

    def refresh_view(self) -> None:
        """Bring the widgets up to date with the monitor; cheap when nothing changed."""

    def next_kiosk_part(self) -> bool:
        """In a kiosk, where nothing scrolls by key: show the next part of this page that did
        not fit and say True, or go back to its start and say False (the cycle moves on)."""
        return False


def _overview_screen() -> OverviewScreen:
    from gputop.ui.screens.overview import OverviewScreen

    return OverviewScreen()


def _settle_gc() -> None:
    """After the first frame: move start-up objects out of the collector's way, collect again."""
    gc.freeze()
    gc.enable()


def _osc_safe(text: str) -> str:
    return "".join(c for c in text if c.isprintable() and c not in ";\x1b\x07")


def run_dashboard(
    monitor: Monitor,
    *,
    interval: float = 1.0,
    no_color: bool = False,
    notify: bool = False,
    kiosk_page_s: float | None = None,
    read_only: bool = False,
    warnings: tuple[str, ...] = (),
) -> int:
    """Run the dashboard until the user quits (or a signal ends it); returns the exit status.

    With `kiosk_page_s` it is a kiosk: pages cycle, and only the exit chord quits. The first
    reading is taken, and the local rules evaluated on it, before the app starts: its first
    frame is complete, painted once."""
    if no_color:
        os.environ["NO_COLOR"] = "1"
    app = GpuTopApp(
        monitor,
        interval=interval,
        notify_firing=notify,
        kiosk_page_s=kiosk_page_s,
        read_only=read_only,
        kiosk=kiosk_page_s is not None,
        handle_signals=True,
        warnings=warnings,
    )
    monitor.warm_start(app.window_s, interval)
    monitor.poll()  # the first frame shows real numbers and the rules on them, not placeholders
    app.run()
    return app.return_code or 0
