"""The fleet: every GPU Prometheus sees, grouped by node, one line each, sortable.

Nodes are ordered by their worst value of the sort metric and GPUs within a node likewise
(`n`: by name and index), so the first GPU line is the fleet's worst. A cursor picks a GPU,
Enter opens its detail; the glyph before a GPU is the worst rule touching it (● firing,
◐ pending, ○ near), explained in the help. The JOB column names who is on each GPU (its pod
or Slurm job, from dcgm-exporter's labels); a MIG instance is a line of its own under its
GPU. The sort keys are offered only when there is something to sort. The table draws only
the lines in view; after each refresh it compares every visible line with what it drew and
repaints only the lines that changed, cut just after their last changed cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from gputop.core.jobs import jobs_text
from gputop.core.models import GpuSample
from gputop.core.untrusted import visible
from gputop.sources.base import RemoteSource
from gputop.ui.polling import POD_LABELS_EVERY_S
from gputop.ui.screens.base import GpuTopScreen
from gputop.ui.views.fleet import (
    NO_PROMETHEUS,
    SORTS,
    FleetLayout,
    FleetRow,
    FleetSparks,
    GpuRow,
    NodeRow,
    fleet_line,
    fleet_rows,
    heading_line,
    pod_text,
)
from gputop.ui.widgets.fleet_table import Field, FleetLines, FleetTable, Line
from gputop.ui.widgets.key_bar import KeyBar
from gputop.ui.widgets.status_bar import StatusBar

__all__ = ["FleetScreen"]


class FleetScreen(GpuTopScreen):
    CSS_PATH = "fleet.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "sort('t')", "Temp", tooltip="Sort by worst temperature"),
        Binding("m", "sort('m')", "Memory", tooltip="Sort by memory used"),
        Binding("u", "sort('u')", "Util", tooltip="Sort by utilization"),
        Binding("n", "sort('n')", "Node", tooltip="Sort by node, then GPU index"),
        Binding("enter", "open", "Detail", tooltip="Open the detail of the GPU under the cursor"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, *, sort: str = "n") -> None:
        super().__init__()
        self.sort_key = sort
        self._pods: dict[str, str] = {}
        self._pods_at = -math.inf
        self._rows: list[FleetRow] = []
        self._given: tuple[object, ...] = ()
        self._has_gpus = False

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield FleetLines(id="fleet-title")
        yield FleetTable(id="fleet")
        yield KeyBar()

    def on_mount(self) -> None:
        self.refresh_view()
        self.query_one(FleetTable).focus()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    def on_resize(self) -> None:
        self.call_after_refresh(self.refresh_view)

    @property
    def rows(self) -> list[FleetRow]:
        """What the table holds, top to bottom."""
        return list(self._rows)

    @property
    def gpu_keys(self) -> list[str]:
        """Keys of the GPU lines, top to bottom."""
        return [r.gpu.key for r in self._rows if isinstance(r, GpuRow)]

    def refresh_view(self) -> None:
        """Bring the lines in view up to date; cheap when nothing in view changed."""
        app = self.app
        monitor = app.monitor
        now = monitor.clock.now()
        app.update_status(self.query_one(StatusBar))
        title = self.query_one(FleetLines)
        table = self.query_one(FleetTable)
        remote = monitor.remote
        if remote is None:
            title.set_lines([((NO_PROMETHEUS, "note"),)])
            return
        gpus = tuple(remote.gpus())
        if bool(gpus) != self._has_gpus:  # the sort keys are offered once there are GPUs
            self._has_gpus = bool(gpus)
            self.refresh_bindings()
        pods_changed = self._refresh_pods(remote, gpus, now)
        marks = app.gpu_marks(gpus)
        levels = app.number_levels()
        sort = SORTS[self.sort_key]
        given = (gpus, marks, self.sort_key)
        if pods_changed or given != self._given:  # the same readings keep the same rows
            self._given = given
            self._rows = fleet_rows(gpus, self.sort_key, pods=self._pods, marks=marks)
        longest = max((len(r.host) for r in self._rows if isinstance(r, NodeRow)), default=0)
        layout = FleetLayout.fit(table.scrollable_content_region.width, longest)
        table.show(
            self._rows,
            look=(layout, self.sort_key, levels),
            spark_columns=layout.spark_w,
            feed=FleetSparks(monitor.store, sort.metric, app.window_s, now),
            word=lambda row, spark: fleet_line(row, layout, spark, sort, levels),
        )
        title.set_lines([self._title_line(remote, gpus), heading_line(layout, sort, app.window_s)])

    def _title_line(self, remote: RemoteSource, gpus: Sequence[GpuSample]) -> Line:
        sort = SORTS[self.sort_key]
        nodes = len({g.host for g in gpus})
        if not gpus:
            state = remote.state
            why = state.reason if not state.ok and state.reason else "no DCGM metrics seen yet"
            return ((visible(f"Fleet · waiting for Prometheus: {why}"), "note"),)
        lost = sum(1 for g in gpus if g.state == "lost")
        instances = sum(1 for g in gpus if g.mig is not None)  # rows, but not GPUs
        mig = f" ({instances} MIG instance{'s' if instances != 1 else ''})" if instances else ""
        whole = len(gpus) - instances
        fields: list[Field] = [
            ("Fleet", "title"),
            (f" · {whole} GPUs{mig} on {nodes} node{'s' if nodes != 1 else ''}", "muted"),
            (f" · sort {sort.label}", "title"),
        ]
        if lost:
            fields.append((f" · {lost} lost", "lost"))
        return tuple(fields)

    def _refresh_pods(self, remote: RemoteSource, gpus: Sequence[GpuSample], now: float) -> bool:
        """Pod names change rarely: read them for new GPUs, and all of them once a minute."""
        stale = now - self._pods_at >= POD_LABELS_EVERY_S
        if stale:
            self._pods_at = now
        changed = False
        for gpu in gpus:
            if stale or gpu.key not in self._pods:
                pod = jobs_text(gpu.jobs) or pod_text(remote.labels(gpu.key))
                changed = changed or pod != self._pods.get(gpu.key)
                self._pods[gpu.key] = pod
        return changed

    # ---- actions -------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("sort", "open"):
            return self._has_gpus  # nothing to sort or open: not in the footer
        return True

    def action_open(self) -> None:
        key = self.query_one(FleetTable).cursor_key
        if key is not None and key in self.gpu_keys:
            self.app.open_detail(key)

    def action_sort(self, key: str) -> None:
        if key != self.sort_key:
            self.sort_key = key
            self.refresh_view()
            self.query_one(FleetTable).action_scroll_home()  # the worst first, under the cursor

    def action_back(self) -> None:
        self.dismiss()
