"""A backtest from the dashboard: rules replayed over the range on screen, in a worker.

Opened with `b`: on the overview for the rule under the rules panel's cursor, over the
panels' range; on a GPU's detail for that GPU's rules, over the chart's range. The same
replay as `gputop rules backtest` (against Prometheus when configured, else this node's own
history), shown as its text report. A progress line counts the queries and rules while it
runs; `c` cancels it, Esc cancels and goes back; the dashboard goes on meanwhile: queries
are async and the replay runs on a thread.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static
from textual.worker import Worker

from gputop.core.units import format_duration
from gputop.rules.backtest.output import counted, text_report
from gputop.rules.backtest.replay import Cancelled
from gputop.rules.backtest.run import Options, backtest
from gputop.sources.base import SourceError
from gputop.ui.safetext import plain, plain_lines
from gputop.ui.screens.base import GpuTopScreen
from gputop.ui.views.backtest import progress_text
from gputop.ui.widgets.key_bar import KeyBar
from gputop.ui.widgets.status_bar import StatusBar

__all__ = ["BacktestScreen"]


class BacktestScreen(GpuTopScreen):
    CSS_PATH = "backtest.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel", "Cancel", tooltip="Stop the backtest"),
        Binding("escape,backspace", "back", "Back"),
    ]

    def __init__(self, *, names: Sequence[str], range_s: float, about: str) -> None:
        super().__init__()
        self.names = tuple(names)
        self.range_s = range_s
        self.about = about
        self.running = False
        self.report_text = ""
        self._cancel = threading.Event()
        self._worker: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Static("", id="progress", markup=False)
        with VerticalScroll(id="body"):
            yield Static("", id="report", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        body = self.query_one("#body")
        # the rule's name, or the GPU's host, is outside text
        body.border_title = plain(f"Backtest · {self.about} · last {format_duration(self.range_s)}")
        self.refresh_view()
        self.running = True
        self.refresh_bindings()
        self._say("starting…")
        self._worker = self.run_worker(
            self._run(), exclusive=True, group="backtest", exit_on_error=False
        )

    def refresh_view(self) -> None:
        self.app.update_status(self.query_one(StatusBar))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.running
        return super().check_action(action, parameters)

    async def _run(self) -> None:
        monitor = self.app.monitor
        end = monitor.clock.now()
        start = end - self.range_s
        setup = monitor.backtest_setup(start, end)
        rules = [r for r in setup.rules if r.name in self.names]
        try:
            if not rules:
                self._finish("no such rule is loaded any more")
                return
            report = await backtest(
                setup.engine,
                rules,
                Options(start, end, offsets=setup.offsets, local=setup.local),
                label=setup.label,
                progress=self._progress,
                cancel=self._cancel,
            )
        except Cancelled:
            self._finish("cancelled")
            return
        except SourceError as exc:
            self._finish(f"the backtest failed: {exc.reason}")
            return
        self.report_text = text_report(report)
        self.query_one("#report", Static).update(plain_lines(self.report_text.splitlines()))
        done = counted(len(report.rules), "rule")
        self._finish(f"done: {done} over {format_duration(self.range_s)}")

    def _progress(self, done: int, planned: int, rules_done: int, rules: int) -> None:
        self._say(progress_text(done, planned, rules_done, rules) + " · c: cancel")

    def _say(self, text: str) -> None:
        self.query_one("#progress", Static).update(plain(text))  # a reason may be a server's

    def _finish(self, text: str) -> None:
        self.running = False
        self.refresh_bindings()
        self._say(text)

    def action_cancel(self) -> None:
        if not self.running:
            return
        self._cancel.set()
        if self._worker is not None:
            self._worker.cancel()
        self._finish("cancelled")

    def action_back(self) -> None:
        self.action_cancel()
        self.dismiss()
