"""Kiosk mode: the pages cycle by themselves and come back to the overview."""

from __future__ import annotations

from gputop.ui.app import GpuTopApp
from gputop.ui.screens.overview import OverviewScreen
from gputop.ui.screens.processes import ProcessesScreen
from tests.support.ui import build_monitor


async def test_kiosk_pages_cycle_by_themselves() -> None:
    app = GpuTopApp(build_monitor(), poll=False, kiosk_page_s=0.4)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.kiosk_pages() == ["overview", "processes"]  # no Prometheus: no fleet page
        assert isinstance(app.screen, OverviewScreen)
        seen = []
        for _ in range(30):
            await pilot.pause(0.1)
            kind = type(app.screen)
            if not seen or seen[-1] is not kind:
                seen.append(kind)
            if len(seen) >= 3:
                break
        assert seen == [OverviewScreen, ProcessesScreen, OverviewScreen]
        assert len(app.screen_stack) == 1  # nothing piles up


async def test_without_kiosk_the_page_stays() -> None:
    app = GpuTopApp(build_monitor(), poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(1.0)
        assert isinstance(app.screen, OverviewScreen)
