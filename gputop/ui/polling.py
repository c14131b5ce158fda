"""How often the dashboard reads, and how a reading reaches the screen.

The local source is read in a thread worker once per interval, on ticks aligned to it; the
remote ones (Prometheus, Alertmanager) in an async worker. Neither overlaps itself: the next
read is scheduled when the last one ends (as dolphie does). Quitting cancels the remote worker
and the actions' requests and waits for them before the clients close.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from textual import work
from textual.css.query import NoMatches

from gputop.monitor import OVERVIEW_MAX
from gputop.sources.base import LocalReading
from gputop.ui.kiosk import stale_banner_lines
from gputop.ui.policy import Policy
from gputop.ui.screens.base import GpuTopScreen
from gputop.ui.widgets.stale_banner import StaleBanner

__all__ = ["POD_LABELS_EVERY_S", "Polling"]

#: How often a screen reads the GPUs' pod labels again (they change rarely).
POD_LABELS_EVERY_S = 60.0
#: How long quitting waits for a request on its way before closing the clients regardless.
_STOP_WAIT_S = 5.0
#: The workers that talk through the monitor's clients: the polling, silencing, expiring.
_CLIENT_GROUPS = frozenset({"remote", "silence", "expire"})


class Polling(Policy):
    """The part of `GpuTopApp` that reads: its loops, and the screen refreshed after each."""

    stopping: threading.Event  # set when the app ends: the loops stop

    def start_polling(self) -> None:
        """The first reading is on screen: the next is one interval away."""
        monitor = self.monitor
        if monitor.local is not None or monitor.remote is None:
            self.poll_local()
        if monitor.remote is not None or monitor.alertmanager is not None:
            self.run_worker(self.poll_remote(), exclusive=True, group="remote")

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

    async def poll_remote(self) -> None:
        """Refresh Prometheus (and Alertmanager) once per interval; the next refresh starts
        when the last ends."""
        fleet_checked = False
        while not self.stopping.is_set():
            await self.monitor.refresh_remote()
            if not fleet_checked and self.monitor.state("prometheus").ok:
                fleet_checked = True
                self.open_fleet_if_no_local_gpus()
            self.refresh_screen()
            await asyncio.sleep(self.delay())

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
