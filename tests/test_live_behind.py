"""Live data stays live behind a dialog and after another screen: the clock and the values of
the screen underneath move on with every reading (it froze, claiming `● nvml now`, once)."""

from __future__ import annotations

import re

from textual.pilot import Pilot

from gputop.ui.app import GpuTopApp
from gputop.ui.confirm import ConfirmScreen
from gputop.ui.screens.help import HelpScreen
from gputop.ui.screens.silence import SilenceScreen
from tests.support.guarded import FakeAlertmanager, with_alertmanager
from tests.support.ui import advance, build_monitor, fixed_utc, screen_lines

CLOCK = re.compile(r"\d\d:\d\d:\d\d")


def readings(app: GpuTopApp) -> list[str]:
    """The GPU rows' numbers as the screen shows them (cards or compact lines)."""
    return [ln for ln in screen_lines(app) if re.search(r"\d+%.*\d+°C", ln)]


async def _moves_on(app: GpuTopApp, pilot: Pilot[int], seconds: int = 6) -> None:
    """Readings come in: the clock under whatever is open says their time, values change."""
    before = (CLOCK.search(screen_lines(app)[0]), readings(app))
    for _ in range(seconds):
        advance(app, 1.0)
        await pilot.pause()
    clock = CLOCK.search(screen_lines(app)[0])
    assert before[0] is not None and clock is not None
    assert clock[0] == f"12:00:{int(before[0][0][-2:]) + seconds:02d}", screen_lines(app)[0]
    assert readings(app) != before[1], "the values stood still"


async def test_the_overview_stays_live_behind_the_silence_dialog_and_a_confirmation() -> None:
    with fixed_utc():
        app = GpuTopApp(with_alertmanager(build_monitor(), FakeAlertmanager()), poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await app.monitor.refresh_alertmanager()
            await pilot.press("s")
            await pilot.pause()
            assert isinstance(app.screen, SilenceScreen)
            await _moves_on(app, pilot)
            app.push_screen(ConfirmScreen("Really?"))
            await pilot.pause()
            await _moves_on(app, pilot)


async def test_the_overview_is_live_again_after_the_fleet_and_detail_screens() -> None:
    with fixed_utc():
        app = GpuTopApp(build_monitor(), poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            for key in ("f", "enter", "p"):
                await pilot.press(key)
                await pilot.pause()
                advance(app, 1.0)
                await pilot.pause()
                await pilot.press("escape")
                await pilot.pause()
                await _moves_on(app, pilot, 3)


async def test_the_header_under_the_help_moves_on() -> None:
    with fixed_utc():
        app = GpuTopApp(build_monitor(), poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            advance(app, 4.0)
            await pilot.pause()
            assert "12:00:04" in screen_lines(app)[0], screen_lines(app)[0]
