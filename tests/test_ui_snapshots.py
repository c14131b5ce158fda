"""What a person sees, pinned as SVG snapshots (update with `pytest --snapshot-update`).

Every frame comes from the demo node with a fixed seed at a fixed time, in UTC, so the
snapshots are the same on every machine and every run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from tests.support.snapshots import SnapCompare
from tests.support.ui import build_app

pytestmark = pytest.mark.usefixtures("stable_environment")


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_overview(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    assert snap_compare(build_app(), terminal_size=size)


def test_overview_with_a_lost_gpu(snap_compare: SnapCompare) -> None:
    assert snap_compare(build_app(lost=[2]), terminal_size=(120, 40))


def test_overview_no_color(snap_compare: SnapCompare, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(build_app(), terminal_size=(120, 40))


def _pressed(*keys: str) -> Callable[[Pilot[int]], Awaitable[None]]:
    """Press the keys, then let the workers they started (past firing windows) finish."""

    async def run(pilot: Pilot[int]) -> None:
        await pilot.press(*keys)
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run


def test_detail(snap_compare: SnapCompare) -> None:
    # GPU 3 runs hot in the demo's first episode: the second card of the second row
    run = _pressed("down", "right", "enter")
    assert snap_compare(build_app(), run_before=run, terminal_size=(120, 40))


def test_detail_with_past_firing_windows(snap_compare: SnapCompare) -> None:
    # GPU 3 ran over 85 °C for a minute four times in the last hour: red bars on its time axis
    run = _pressed("down", "right", "enter", "4")
    assert snap_compare(build_app(), run_before=run, terminal_size=(120, 40))


def test_detail_last_hour_80x24(snap_compare: SnapCompare) -> None:
    assert snap_compare(build_app(), run_before=_pressed("enter", "4"), terminal_size=(80, 24))


def test_processes(snap_compare: SnapCompare) -> None:
    assert snap_compare(build_app(), press=["p", "m"], terminal_size=(120, 40))


def test_help(snap_compare: SnapCompare) -> None:
    assert snap_compare(build_app(), press=["question_mark"], terminal_size=(120, 40))
