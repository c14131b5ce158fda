"""The overview's layout applied to its widgets: cards or compact lines, the grid's columns,
the latency and serving panels beside or under the rules (`gputop.ui.views.overview` decides
which; this sets it), and scrolling the GPU list to a panel.
"""

from __future__ import annotations

from textual.widget import Widget

from gputop.ui.views.overview import OverviewLayout, serving_height
from gputop.ui.widgets.cells import NodeHeading
from gputop.ui.widgets.gpu_panel import COMPACT_COLUMNS, GpuPanel
from gputop.ui.widgets.latency_panel import LatencyPanel
from gputop.ui.widgets.serving_panel import ServingPanel

__all__ = ["lay_out", "show_panel"]


def lay_out(
    layout: OverviewLayout,
    columns: Widget,
    grid: Widget,
    lower: Widget,
    latency: LatencyPanel,
    serving: ServingPanel,
    panels: list[GpuPanel],
) -> None:
    """Set the layout's classes and styles (on widgets mounted or about to be)."""
    grid.set_class(layout.compact, "-compact")
    grid.styles.max_height = layout.gpu_h
    columns.set_class(layout.compact, "-compact")
    columns.styles.grid_columns = COMPACT_COLUMNS
    grid.styles.grid_size_columns = layout.cols
    latency.display = layout.latency
    serving.display = layout.serving > 0
    serving.styles.height = max(1, serving_height(layout.serving))
    lower.set_class(layout.beside, "-beside")
    for panel in panels:
        panel.compact = layout.compact


def show_panel(panel: GpuPanel) -> None:
    """Scroll the GPU list to a panel, with its node's heading when it is the first."""
    siblings = list(panel.parent.children) if panel.parent is not None else []
    at = siblings.index(panel) if panel in siblings else -1
    if at > 0 and isinstance(siblings[at - 1], NodeHeading):
        siblings[at - 1].scroll_visible(animate=False)
    panel.scroll_visible(animate=False)
