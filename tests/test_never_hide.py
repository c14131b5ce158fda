"""Never hide an alert: at 80x24, 100x30 and 120x40, with 8 local GPUs and 4 rules in each
state, and with 16 GPUs on 2 nodes seen through Prometheus, every firing and pending row is on
screen with its rule, GPU and node, and everything else is counted. The rules panel takes
focus and scrolls; the selection reads without colour. Snapshots pin each frame."""

from __future__ import annotations

import re

import pytest
from textual.message import Message

from gputop.rules.text import STATE_LABELS
from gputop.ui.screens.detail import DetailScreen
from gputop.ui.screens.overview import OverviewScreen
from gputop.ui.views.rules import panel_order
from gputop.ui.widgets.gpu_panel import GpuPanel
from gputop.ui.widgets.rules_panel import RulesPanel
from tests.support.rulestates import (
    FLEET_HOSTS,
    assert_active_rows_shown,
    build_fleet_app,
    build_states_app,
    fleet_firing,
    panel_text,
)
from tests.support.snapshots import SnapCompare
from tests.support.ui import screen_lines

SIZES = [(80, 24), (100, 30), (120, 40)]
size_ids = [f"{w}x{h}" for w, h in SIZES]


pytestmark = pytest.mark.usefixtures("stable_environment")


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
async def test_eight_local_gpus_every_firing_and_pending_row_on_screen(
    size: tuple[int, int],
) -> None:
    app = build_states_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert_active_rows_shown(app)
        lines = screen_lines(app)
        assert len(lines) == size[1]
        footer = lines[-1]
        assert "? Help" in footer and "q Quit" in footer


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
async def test_sixteen_gpus_on_two_nodes_firing_row_names_gpu_and_node(
    size: tuple[int, int],
) -> None:
    app = build_fleet_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert_active_rows_shown(app)
        host, index = fleet_firing()
        text = "\n".join(screen_lines(app))
        assert re.search(rf"● FIRING +GPUTemperatureHigh · GPU {index} @ {host}", text), text
        # grouped by node: a heading per node, the first one on screen from the start
        assert f"▾ {FLEET_HOSTS[0]} · 8 GPUs" in text
        panels = list(app.screen.query(GpuPanel))
        assert [p.gpu.host for p in panels] == [FLEET_HOSTS[0]] * 8 + [FLEET_HOSTS[1]] * 8


async def test_the_rules_panel_takes_focus_scrolls_and_keeps_its_cursor_on_its_rule() -> None:
    app = build_states_app()
    highlighted = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(RulesPanel)
        original = panel.post_message

        def spy(message: Message) -> bool:
            if isinstance(message, RulesPanel.Highlighted):
                highlighted.append(message.status)
            return original(message)

        panel.post_message = spy  # type: ignore[method-assign]
        order = panel_order(app.monitor.rule_statuses())
        assert panel.selected == order[0]
        await pilot.press("tab")
        await pilot.pause()
        assert panel.has_focus
        assert "▶ ● FIRING  GPUTemperatureHigh · GPU 3 @ demo-node" in "\n".join(panel_text(app))
        await pilot.press("down", "down")
        await pilot.pause()
        assert panel.selected == order[2] and highlighted[-1] == order[2]
        await pilot.press("end")
        await pilot.pause()
        shown = panel_text(app)
        assert panel.selected == order[-1]
        # scrolled to the end, every firing and pending row is still on screen, on top
        assert [line[2:11] for line in shown[:8]] == ["● FIRING "] * 4 + ["◐ PENDING"] * 4
        assert shown[8].startswith("↑ ") and "firing" not in shown[8] and "pending" not in shown[8]
        assert any(line.startswith(f"▶ {STATE_LABELS['ok']}") for line in shown)
        await pilot.press("home")
        await pilot.pause()
        assert panel.selected == order[0] and not panel_text(app)[0].startswith("↑")
        await pilot.press("pagedown")
        assert panel.selected == order[panel.content_size.height - 2]
        # Enter on a rule of a GPU: that GPU's detail
        await pilot.press("home", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        gpu3 = next(g for g in app.monitor.gpus() if g.index == 3)
        assert screen.key == gpu3.key
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen) and panel.has_focus
        await pilot.press("tab")  # back to the GPUs
        assert isinstance(app.screen.focused, GpuPanel)


async def test_the_selection_is_marked_in_cards_and_lines_whatever_the_alert_colour() -> None:
    app = build_states_app()
    async with app.run_test(size=(200, 60)) as pilot:  # cards
        await pilot.pause()
        panels = list(app.screen.query(GpuPanel))
        assert not panels[0].compact
        await pilot.press("right", "right", "right")  # GPU 3: its rule fires, the card is red
        await pilot.pause()
        focused = app.screen.focused
        assert isinstance(focused, GpuPanel) and focused.gpu.index == 3
        assert focused.has_class("-firing")
        text = "\n".join(screen_lines(app))
        assert "▶ ● GPU 3 · A100-SXM4-80GB" in text  # selected, and its rule fires
        assert text.count("▶ ") == 1
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        lines = screen_lines(app)
        marked = [line for line in lines if re.match(r"^▶. *\d+▕", line)]
        assert len(marked) == 1 and marked[0].startswith("▶● 3▕"), "\n".join(lines)


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
def test_overview_with_rules_in_every_state_snapshot(
    snap_compare: SnapCompare, size: tuple[int, int]
) -> None:
    assert snap_compare(build_states_app(), terminal_size=size)


@pytest.mark.parametrize("size", SIZES, ids=size_ids)
def test_overview_of_sixteen_gpus_on_two_nodes_snapshot(
    snap_compare: SnapCompare, size: tuple[int, int]
) -> None:
    assert snap_compare(build_fleet_app(), terminal_size=size)


def test_no_color_snapshot_reads_states_and_selection(
    snap_compare: SnapCompare, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without colour: ● FIRING in reverse video, ◐ PENDING bold, ○ NEAR plain, and the
    cursor (▶, the rule in reverse video) on a NEAR row."""
    monkeypatch.setenv("NO_COLOR", "1")
    keys = ["tab", *["down"] * 9]
    assert snap_compare(build_states_app(), press=keys, terminal_size=(100, 30))
