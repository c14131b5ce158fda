"""The Textual application: owns the polling, hands the monitor's views to the screens."""

from __future__ import annotations

import os
import threading

from textual import work
from textual.app import App
from textual.binding import Binding

from gputop.core.units import format_age
from gputop.monitor import Monitor
from gputop.ui.screens.overview import OverviewScreen
from gputop.ui.view import DEFAULT_WINDOW_S
from gputop.ui.widgets.rules_panel import RulesPanel

__all__ = ["GpuTopApp", "run_dashboard"]


class GpuTopApp(App[int]):
    TITLE = "gputop"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("p", "processes", "Processes"),
    ]

    def __init__(
        self,
        monitor: Monitor,
        *,
        interval: float = 1.0,
        window_s: float = DEFAULT_WINDOW_S,
        poll: bool = True,
    ) -> None:
        super().__init__()
        self.theme = os.environ.get("GPUTOP_THEME", "ansi-dark")
        self.monitor = monitor
        self.interval = interval
        self.window_s = window_s
        self._poll = poll
        self._stop = threading.Event()

    def get_default_screen(self) -> OverviewScreen:
        return OverviewScreen()  # the overview is the first and only full paint at start

    def on_mount(self) -> None:
        if self._poll:
            self.poll_local()

    def on_unmount(self) -> None:
        self._stop.set()

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

    def apply_local(self, result: object) -> None:
        self.monitor.ingest(result)  # type: ignore[arg-type]
        self.refresh_screen()

    def refresh_screen(self) -> None:
        refresh = getattr(self.screen, "refresh_view", None)
        if refresh is not None:
            refresh()

    # ---- views the screens ask for -----------------------------------------------

    def status_parts(self) -> list[tuple[str, str]]:
        monitor = self.monitor
        snap = monitor.latest
        parts: list[tuple[str, str]] = [("gputop", "status-bar--title")]
        host = snap.host if snap else monitor.host
        versions = []
        if snap and snap.driver_version:
            versions.append(f"driver {snap.driver_version}")
        if snap and snap.cuda_version:
            versions.append(f"CUDA {snap.cuda_version}")
        parts.append((" ".join([host, *versions]), "status-bar--off"))
        now = monitor.clock.now()
        for name, state in monitor.states().items():
            if state.status.value == "off":
                continue
            age = None if state.last_ok is None else now - state.last_ok
            if state.ok:
                parts.append((f"● {name} {format_age(age)}", "status-bar--ok"))
            else:
                stale = f", stale {format_age(age)}" if state.last_ok is not None else ""
                parts.append((f"✖ {name}: {state.reason}{stale}", "status-bar--bad"))
        return parts

    def refresh_rules(self, panel: RulesPanel) -> None:
        if self.monitor.remote is None:
            panel.set_note("no Prometheus configured (--prometheus URL): rules are evaluated locally")

    # ---- actions -------------------------------------------------------------------

    def open_detail(self, key: str) -> None:
        from gputop.ui.screens.detail import DetailScreen

        self.push_screen(DetailScreen(key))

    def action_processes(self) -> None:
        from gputop.ui.screens.processes import ProcessesScreen

        self.push_screen(ProcessesScreen())

    def action_help(self) -> None:
        from gputop.ui.screens.help import HelpScreen

        self.push_screen(HelpScreen())


def run_dashboard(monitor: Monitor, *, interval: float = 1.0, no_color: bool = False) -> int:
    """Run the dashboard until the user quits; returns the exit status."""
    if no_color:
        os.environ["NO_COLOR"] = "1"
    app = GpuTopApp(monitor, interval=interval)
    monitor.warm_start(app.window_s, interval)
    monitor.poll()  # the first frame shows real numbers, not placeholders
    app.run()
    return app.return_code or 0
