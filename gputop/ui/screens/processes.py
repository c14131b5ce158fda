"""The processes on the GPUs: a sortable table, filterable by GPU, kept current in place."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable

from gputop.core.models import ProcessSample
from gputop.core.units import format_duration, format_mib, format_value
from gputop.ui.widgets.footer import KeysFooter
from gputop.ui.widgets.status_bar import StatusBar

__all__ = ["COLUMNS", "SORTS", "ProcessesScreen", "process_cells", "sort_processes"]

#: (column key, heading, right-aligned)
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("gpu", "GPU", True),
    ("pid", "PID", True),
    ("user", "USER", False),
    ("mem", "GPU MEM", True),
    ("cpu", "CPU %", True),
    ("elapsed", "ELAPSED", True),
    ("command", "COMMAND", False),
)
#: sort key -> (heading, descending first): big numbers first for memory and CPU.
SORTS: dict[str, tuple[str, bool]] = {
    "mem": ("GPU MEM", True),
    "cpu": ("CPU %", True),
    "pid": ("PID", False),
    "gpu": ("GPU", False),
}


def process_cells(proc: ProcessSample, now: float) -> tuple[str, ...]:
    """The table cells of one process, in COLUMNS order; missing values read n/a."""
    elapsed = "n/a" if proc.started is None else format_duration(max(0.0, now - proc.started))
    return (
        str(proc.gpu_index),
        str(proc.pid),
        proc.user or "n/a",
        format_mib(proc.gpu_memory_mib),
        format_value(proc.cpu_pct, "", 1),
        elapsed,
        proc.command or "n/a",
    )


def _sort_value(proc: ProcessSample, key: str) -> float | None:
    return {
        "mem": proc.gpu_memory_mib,
        "cpu": proc.cpu_pct,
        "pid": float(proc.pid),
        "gpu": float(proc.gpu_index),
    }[key]


def sort_processes(
    procs: Iterable[ProcessSample], key: str, descending: bool
) -> list[ProcessSample]:
    """Sorted by `key`; processes whose value is missing always come last."""
    # a stable base order first, so equal values keep GPU then PID order
    base = sorted(procs, key=lambda p: (p.gpu_index, p.pid))
    present = [p for p in base if _sort_value(p, key) is not None]
    missing = [p for p in base if _sort_value(p, key) is None]
    present.sort(key=lambda p: _sort_value(p, key), reverse=descending)  # type: ignore[arg-type,return-value]
    return present + missing


@dataclass(frozen=True, slots=True)
class _Row:
    key: str
    cells: tuple[str, ...]


class ProcessesScreen(Screen[None]):
    DEFAULT_CSS = """
    ProcessesScreen { layout: vertical; }
    ProcessesScreen > DataTable {
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-color: $text;
    }
    ProcessesScreen > DataTable:focus { border: round $accent; }
    """
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
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort_key = "gpu"
        self.descending = False
        self.gpu_filter: int | None = None
        self._rows: list[_Row] = []

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        table: DataTable[Text] = DataTable(id="processes", cursor_type="row", zebra_stripes=True)
        for key, heading, right in COLUMNS:
            table.add_column(Text(heading, justify="right" if right else "left"), key=key)
        yield table
        yield KeysFooter()

    def on_mount(self) -> None:
        self.refresh_view()
        self.query_one(DataTable).focus()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    # ---- data ----------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Bring the table up to date; rows are changed in place so the cursor stays put."""
        app = self.app
        monitor = app.monitor  # type: ignore[attr-defined]
        now = monitor.clock.now()
        app.update_status(self.query_one(StatusBar))  # type: ignore[attr-defined]
        procs = monitor.processes()
        if self.gpu_filter is not None:
            procs = [p for p in procs if p.gpu_index == self.gpu_filter]
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
        title = f"Processes · {where} · sort {heading} {arrow} · {shown} of {total}"
        self.query_one(DataTable).border_title = title
        self.sub_title = title

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
        monitor = self.app.monitor  # type: ignore[attr-defined]
        indices = {g.index for g in monitor.gpus()} | {p.gpu_index for p in monitor.processes()}
        return sorted(indices)

    def action_cycle_filter(self) -> None:
        """all -> GPU 0 -> GPU 1 -> ... -> all."""
        order: list[int | None] = [None, *self._gpu_indices()]
        at = order.index(self.gpu_filter) if self.gpu_filter in order else 0
        self.gpu_filter = order[(at + 1) % len(order)]
        self.refresh_view()

    def action_filter(self, index: int) -> None:
        if index == self.gpu_filter:
            self.gpu_filter = None
        elif index in self._gpu_indices():
            self.gpu_filter = index
        else:
            self.app.bell()
            return
        self.refresh_view()

    def action_back(self) -> None:
        self.dismiss()


def _cell(text: str, right: bool) -> Text:
    return Text(text, justify="right" if right else "left", no_wrap=True)
