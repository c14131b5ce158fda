"""How often the dashboard reads, and how a reading reaches the screen.

The local source is read in a thread worker once per interval, on ticks aligned to it; the
remote ones each in an async worker of its own (Prometheus' panels, its rules, Alertmanager),
so a slow one (thousands of rules, a huge Alertmanager status) holds up neither the others nor
the screen. None overlaps itself: the next read is scheduled when the last one ends (as dolphie
does); remote reads that end together are shown by one refresh of the screen. The header's
clock ticks every second whatever the sources do. Quitting cancels the remote workers and the
actions' requests and waits for them before the clients close.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from textual import work
from textual.css.query import NoMatches

from gputop.monitor import OVERVIEW_MAX
from gputop.sources.base import LocalReading
from gputop.ui.kiosk import stale_banner_lines
from gputop.ui.policy import Policy
from gputop.ui.screens.base import GpuTopScreen
from gputop.ui.views.readings import clock_text, status_parts
from gputop.ui.widgets.stale_banner import StaleBanner
from gputop.ui.widgets.status_bar import StatusBar

__all__ = ["POD_LABELS_EVERY_S", "Polling"]

#: How often a screen reads the GPUs' pod labels again (they change rarely).
POD_LABELS_EVERY_S = 60.0
#: How long quitting waits for a request on its way before closing the clients regardless.
_STOP_WAIT_S = 5.0
#: Remote refreshes that end this close together are shown by one refresh of the screen.
_REFRESH_GATHER_S = 0.2
#: The workers that talk through the monitor's clients: the polling (Prometheus' panels,
#: its rules, Alertmanager, each on its own), silencing, expiring.
_CLIENT_GROUPS = frozenset({"remote", "rules", "alertmanager", "silence", "expire"})


class Polling(Policy):
    """The part of `GpuTopApp` that reads: its loops, and the screen refreshed after each."""

    stopping: threading.Event  # set when the app ends: the loops stop
    refresh_due: bool  # a refresh of the screen is on its way (`refresh_soon`)

    def start_polling(self) -> None:
        """The first reading is on screen: the next is one interval away. Prometheus' rules
        start after the panels' first, biggest fetch: not both at their peak at once."""
        monitor = self.monitor
        if monitor.local is not None or monitor.remote is None:
            self.poll_local()
        if monitor.remote is not None:
            self.run_worker(self.poll_panels(), exclusive=True, group="remote")
        if monitor.alertmanager is not None:
            self.run_worker(self.poll_alertmanager(), exclusive=True, group="alertmanager")

    @work(thread=True, exclusive=True, exit_on_error=False, group="local")
    def poll_local(self) -> None:
        """Read the local source once per interval; the next read starts when the last ends."""
        while not self.stopping.wait(self.delay()):
            result = self.monitor.read_local()
            if self.stopping.is_set():
                return
            self.call_from_thread(self.apply_local, result)

    def delay(self) -> float:
        now = self.monitor.clock.now()
        return self.interval - (now % self.interval)  # ticks aligned to the interval

    def apply_local(self, result: LocalReading) -> None:
        self.monitor.ingest(result)
        self.refresh_screen()

    async def poll_panels(self) -> None:
        """Refresh Prometheus' panels once per interval; the next refresh starts when the last
        ends."""
        fleet_checked = rules_started = False
        while not self.stopping.is_set():
            await self.monitor.refresh_panels()
            if not rules_started:
                rules_started = True
                self.run_worker(self.poll_rules(), exclusive=True, group="rules")
            if not fleet_checked and self.monitor.state("prometheus").ok:
                fleet_checked = True
                self.open_fleet_if_no_local_gpus()
            self.refresh_soon()
            await asyncio.sleep(self.delay())

    async def poll_rules(self) -> None:
        """Read Prometheus' rules when due (the engine paces itself), apart from the panels."""
        while not self.stopping.is_set():
            engine = self.monitor.rules
            due = engine.due if engine is not None else 0.0
            await self.monitor.refresh_rules()
            if engine is not None and engine.due != due:
                self.refresh_soon()  # read (or failed): something new to show
            await asyncio.sleep(self.delay())

    async def poll_alertmanager(self) -> None:
        """Poll Alertmanager when due (it paces itself), apart from Prometheus."""
        while not self.stopping.is_set():
            am = self.monitor.alertmanager
            version = am.version if am is not None else 0
            await self.monitor.refresh_alertmanager()
            if am is not None and (am.version != version or not am.state.ok):
                self.refresh_soon()
            await asyncio.sleep(self.delay())

    def refresh_soon(self) -> None:
        """Show what a remote refresh brought, in a moment: once for all that came meanwhile
        (the panels, the rules and Alertmanager each refresh on their own)."""
        if not self.refresh_due:
            self.refresh_due = True
            self.set_timer(_REFRESH_GATHER_S, self._refresh_gathered)

    def _refresh_gathered(self) -> None:
        self.refresh_due = False
        self.refresh_screen()

    def tick_clock(self) -> None:
        """The header's clock, every second whatever the sources do (a reading may repaint
        it first: then this costs nothing)."""
        if self.stopping.is_set():
            return
        screen = self.shown_screen()
        if screen is not None:
            with contextlib.suppress(NoMatches):
                bar = screen.query_one(StatusBar)
                if bar.clock != clock_text(self.monitor.clock.now()):
                    self.update_status(bar)
        self.set_timer(1.0 - time.time() % 1.0 + 0.001, self.tick_clock)

    def open_fleet_if_no_local_gpus(self) -> None:
        """A fleet larger than the overview shows, and no GPU here: start on the fleet."""
        monitor = self.monitor
        local = monitor.latest is not None and bool(monitor.latest.gpus)
        if not local and len(monitor.gpus()) > OVERVIEW_MAX and len(self.screen_stack) == 1:
            self.action_fleet()

    async def stop_polling(self) -> None:
        """Cancel the remote polling (and any request of an action) and wait until it has
        ended: only then may the monitor close its clients, or a request on its way when the
        cancel came (and won over it) goes on to send the next on a closed client."""
        self.stopping.set()
        running = [w for w in self.workers if w.group in _CLIENT_GROUPS and not w.is_finished]
        for worker in running:
            worker.cancel()
        for worker in running:
            with contextlib.suppress(Exception):  # cancelled, failed or slow: it is over
                await asyncio.wait_for(worker.wait(), _STOP_WAIT_S)

    def refresh_screen(self) -> None:
        failing = self.monitor.sources_failing()
        if failing != self.failing:  # `r` is offered only while something fails
            self.failing = failing
            self.refresh_bindings()
        # the screen shown, or under a dialog (silence, confirm, help) the one it covers:
        # its data stays live behind the dialog
        screen = self.shown_screen()
        if screen is None:
            return
        stack = self.screen_stack
        at = stack.index(screen)
        # a screen just pushed is not composed yet: it fills itself on mount
        with contextlib.suppress(NoMatches):
            screen.refresh_view()
            if self.kiosk:
                screen.query_one(StaleBanner).set_lines(stale_banner_lines(self.monitor))
        for dialog in stack[at + 1 : -1]:  # a dialog under another keeps an old picture of it
            dialog.refresh()

    def shown_screen(self) -> GpuTopScreen | None:
        """The dashboard screen shown, or under a dialog the one it covers."""
        return next((s for s in reversed(self.screen_stack) if isinstance(s, GpuTopScreen)), None)

    def update_status(self, bar: StatusBar) -> None:
        """The header of every screen: the clock, then the sources' states."""
        now = self.monitor.clock.now()
        parts = status_parts(self.monitor, now)
        if self.read_only:
            parts.insert(1, ("READ-ONLY", "status-bar--badge"))
        bar.set_parts(parts, clock_text(now))
