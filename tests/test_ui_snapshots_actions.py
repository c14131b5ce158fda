"""What a person sees of Alertmanager, the actions and the kiosk, pinned as SVG snapshots
(update with `pytest --snapshot-update`): the demo node at a fixed time, in UTC, with an
Alertmanager that answers the same every time."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from gputop.ui.app import GpuTopApp
from tests.support.guarded import FakeAlertmanager, with_alertmanager
from tests.support.snapshots import SnapCompare
from tests.support.ui import build_monitor

pytestmark = pytest.mark.usefixtures("stable_environment")


def app_with_alertmanager(*, down: bool = False, **options: Any) -> GpuTopApp:
    monitor = with_alertmanager(build_monitor(), FakeAlertmanager(down=down))
    return GpuTopApp(monitor, poll=False, **options)


async def _read_alertmanager(pilot: Pilot[int]) -> None:
    app = pilot.app
    assert isinstance(app, GpuTopApp)
    await app.monitor.refresh_alertmanager()
    app.refresh_screen()
    await pilot.pause()


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_kiosk(snap_compare: SnapCompare, size: tuple[int, int]) -> None:
    # at 80x24 Alertmanager is down: the STALE banner says so
    app = app_with_alertmanager(down=size == (80, 24), kiosk=True)
    assert snap_compare(app, terminal_size=size, run_before=_read_alertmanager)


def test_read_only_badge(snap_compare: SnapCompare) -> None:
    app = GpuTopApp(build_monitor(), poll=False, read_only=True)
    assert snap_compare(app, terminal_size=(120, 40))


def test_alerts_screen(snap_compare: SnapCompare) -> None:
    app = app_with_alertmanager()
    assert snap_compare(app, press=["a"], terminal_size=(120, 40), run_before=_read_alertmanager)


def test_silence_dialog(snap_compare: SnapCompare, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gputop.ui.screens.silence.created_by", lambda: "alice@ops")

    async def open_dialog(pilot: Pilot[int]) -> None:
        await _read_alertmanager(pilot)
        await pilot.press("s")  # the first firing, pending or near row
        await pilot.pause()

    app = app_with_alertmanager()
    assert snap_compare(app, terminal_size=(120, 40), run_before=open_dialog)
