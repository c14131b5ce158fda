"""The processes on the GPUs: a sortable table, filterable by GPU, kept current in place;
`k` sends SIGTERM to the selected one after a confirmation (`K`: SIGKILL, asked twice). Each
process names its job (pod, Slurm job, container or user), and so does every signal sent.

Opened for one GPU (`p` on a rule row, whose GPU it is), it lists that GPU's processes (a
MIG instance's own) and names who is on it; `f` or a digit goes back to the GPU filters."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from gputop.core.jobs import jobs_text
from gputop.core.models import GpuSample, ProcessSample
from gputop.sources.signals import ActionError, confirm_process, describe_process
from gputop.ui.confirm import ConfirmScreen
from gputop.ui.safetext import plain
from gputop.ui.screens.base import GpuTopScreen
from gputop.ui.views.processes import (
    COLUMNS,
    SORTS,
    gpu_text,
    on_gpu,
    process_cells,
    sort_processes,
)
from gputop.ui.widgets.key_bar import KeyBar
from gputop.ui.widgets.status_bar import StatusBar

__all__ = ["ProcessesScreen"]

_SIGNAL_HELP = "Signal the selected process: k SIGTERM, K SIGKILL (asks twice)"


@dataclass(frozen=True, slots=True)
class _Row:
    key: str
    cells: tuple[str, ...]


class ProcessesScreen(GpuTopScreen):
    CSS_PATH = "processes.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "sort('mem')", "GPU mem", tooltip="Sort by GPU memory (again: reverse)"),
        Binding("c", "sort('cpu')", "CPU", tooltip="Sort by CPU % (again: reverse)"),
        Binding("p", "sort('pid')", "PID", tooltip="Sort by PID (again: reverse)"),
        Binding("g", "sort('gpu')", "GPU", tooltip="Sort by GPU (again: reverse)"),
        Binding("f", "cycle_filter", "Filter GPU", tooltip="Show all GPUs, then GPU 0, GPU 1, ..."),
        *(
            Binding(str(d), f"filter({d})", "Only GPU n (again: all)", show=False)
            for d in range(10)
        ),
        Binding("k", "signal_process('TERM')", "SIGTERM", tooltip=_SIGNAL_HELP),
        Binding("K", "signal_process('KILL')", "SIGKILL", show=False, tooltip=_SIGNAL_HELP),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, gpu: GpuSample | None = None) -> None:
        super().__init__()
        self.sort_key = "gpu"
        self.descending = False
        self.gpu_filter: int | None = None
        self.gpu = gpu  # only this GPU's (or MIG instance's) processes
        self._rows: list[_Row] = []

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        table: DataTable[Text] = DataTable(id="processes", cursor_type="row", zebra_stripes=True)
        for key, heading, right in COLUMNS:
            table.add_column(Text(heading, justify="right" if right else "left"), key=key)
        yield table
        yield KeyBar()

    def on_mount(self) -> None:
        self.refresh_view()
        self.query_one(DataTable).focus()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    # ---- data ----------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Bring the table up to date; rows are changed in place so the cursor stays put."""
        app = self.app
        monitor = app.monitor
        now = monitor.clock.now()
        app.update_status(self.query_one(StatusBar))
        procs = monitor.processes()
        gpu = self.gpu
        if gpu is not None:
            local = gpu.host == monitor.host or gpu.source != "prometheus"
            procs = tuple(p for p in procs if local and on_gpu(p, gpu))
        elif self.gpu_filter is not None:
            procs = tuple(p for p in procs if p.gpu_index == self.gpu_filter)
        rows = [
            _Row(f"{p.gpu_index}:{p.pid}", process_cells(p, now))
            for p in sort_processes(procs, self.sort_key, self.descending)
        ]
        self._apply(rows)
        self._set_title(len(rows), len(monitor.processes()))

    def _apply(self, rows: list[_Row]) -> None:
        table: DataTable[Text] = self.query_one(DataTable)
        if [r.key for r in rows] == [r.key for r in self._rows]:
            for old, new in zip(self._rows, rows, strict=True):
                for (col, _, right), before, after in zip(
                    COLUMNS, old.cells, new.cells, strict=True
                ):
                    if before != after:
                        table.update_cell(new.key, col, _cell(after, right))
            self._rows = rows
            return
        keep = self._cursor_key(table)
        table.clear()
        for row in rows:
            table.add_row(
                *(
                    _cell(text, right)
                    for (_, _, right), text in zip(COLUMNS, row.cells, strict=True)
                ),
                key=row.key,
            )
        self._rows = rows
        keys = [r.key for r in rows]
        if keep in keys:
            table.move_cursor(row=keys.index(keep), animate=False)

    def _cursor_key(self, table: DataTable[Text]) -> str | None:
        if not self._rows or table.row_count == 0:
            return None
        index = min(table.cursor_row, len(self._rows) - 1)
        return self._rows[index].key

    def _set_title(self, shown: int, total: int) -> None:
        heading, _ = SORTS[self.sort_key]
        arrow = "↓" if self.descending else "↑"
        where = "all GPUs" if self.gpu_filter is None else f"GPU {self.gpu_filter}"
        gpu = self.gpu
        if gpu is not None:
            who = jobs_text(gpu.jobs)
            host = f" @ {gpu.host}" if gpu.source == "prometheus" else ""
            where = f"{gpu.label}{host}" + (f" → {who}" if who else "")
        title = f"Processes · {where} · sort {heading} {arrow} · {shown} of {total}"
        if gpu is not None and gpu.source == "prometheus" and gpu.host != self.app.monitor.host:
            title += " · read on its own node only"  # NVML here sees this node's processes
        shown_title = plain(title)  # a job's name, a host: outside text
        self.query_one(DataTable).border_title = shown_title
        self.sub_title = shown_title.plain

    @property
    def row_keys(self) -> list[str]:
        """Keys ("gpu:pid") of the rows shown, top to bottom."""
        return [r.key for r in self._rows]

    # ---- actions -------------------------------------------------------------------

    def action_sort(self, key: str) -> None:
        if key == self.sort_key:
            self.descending = not self.descending
        else:
            self.sort_key, self.descending = key, SORTS[key][1]
        self.refresh_view()

    def _gpu_indices(self) -> list[int]:
        monitor = self.app.monitor
        indices = {g.index for g in monitor.gpus()} | {p.gpu_index for p in monitor.processes()}
        return sorted(indices)

    def action_cycle_filter(self) -> None:
        """all -> GPU 0 -> GPU 1 -> ... -> all."""
        self.gpu = None
        order: list[int | None] = [None, *self._gpu_indices()]
        at = order.index(self.gpu_filter) if self.gpu_filter in order else 0
        self.gpu_filter = order[(at + 1) % len(order)]
        self.refresh_view()

    def action_filter(self, index: int) -> None:
        self.gpu = None
        if index == self.gpu_filter:
            self.gpu_filter = None
        elif index in self._gpu_indices():
            self.gpu_filter = index
        else:
            self.app.bell()
            return
        self.refresh_view()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "signal_process" and self.app.monitor.local_name != "nvml":
            return False  # the demo's processes are simulated: nothing to signal
        return super().check_action(action, parameters)

    @property
    def selected(self) -> ProcessSample | None:
        """The process under the cursor."""
        table: DataTable[Text] = self.query_one(DataTable)
        key = self._cursor_key(table)
        return next(
            (p for p in self.app.monitor.processes() if f"{p.gpu_index}:{p.pid}" == key), None
        )

    def action_signal_process(self, name: str) -> None:
        """SIGTERM after one confirmation; SIGKILL only after a second, explicit one."""
        app = self.app
        if app.read_only:
            app.say_read_only()
            return
        proc = self.selected
        if proc is None:
            app.notify("no process selected", severity="warning")
            return
        sig = signal.Signals[f"SIG{name}"]
        try:  # said now, before any question: pid 1, a kernel thread, a process gone
            confirm_process(proc, app.monitor.processes_now())
        except ActionError as exc:
            app.notify(str(exc), severity="error", timeout=8)
            return
        who = describe_process(proc)

        def send(yes: bool | None) -> None:
            if not yes or app.read_only:
                return
            try:  # confirmed again: the answer may have come minutes later
                app.notify(app.monitor.signal(proc, sig))
            except ActionError as exc:
                app.notify(str(exc), severity="error", timeout=8)

        def first(yes: bool | None) -> None:
            if yes:
                again = "SIGKILL cannot be caught: the process gets no chance to clean up."
                app.push_screen(ConfirmScreen(f"Really SIGKILL {who}?", again, yes="SIGKILL"), send)

        question = f"Send {sig.name} to {who}?"
        gpu = f"on GPU {gpu_text(proc)}"
        if sig is signal.SIGKILL:
            app.push_screen(ConfirmScreen(question, gpu, yes="Go on"), first)
        else:
            app.push_screen(ConfirmScreen(question, gpu, yes="SIGTERM"), send)

    def action_back(self) -> None:
        self.dismiss()


def _cell(text: str, right: bool) -> Text:
    return plain(text, justify="right" if right else "left", no_wrap=True)
