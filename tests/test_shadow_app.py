"""The dashboard through the shadow screen: what reaches the terminal shows what Textual meant.

The app runs under Pilot with a `TeeDriver`: Textual's output goes to one emulated terminal as
it is and to another through the shadow screen. After every step (new readings, resizes,
screen switches, a modal, a toast) the two must show the same cells, and at the end both must
equal a full repaint of the same state on a fresh terminal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.drivers.linux_driver import LinuxDriver
from textual.pilot import Pilot

from gputop.ui.app import GpuTopApp
from gputop.ui.term.driver import ShadowDriver
from tests.support.terminal import TeeDriver, full_repaint, full_repaint_text, tee_driver
from tests.support.ui import advance, build_app

Step = Callable[[GpuTopApp, Pilot[int]], Awaitable[None]]


async def _tick(app: GpuTopApp, pilot: Pilot[int], seconds: int = 3) -> None:
    for _ in range(seconds):
        advance(app)
        await pilot.pause()


def _keys(*keys: str) -> Step:
    async def press(app: GpuTopApp, pilot: Pilot[int]) -> None:
        await pilot.press(*keys)
        await pilot.pause()
        await _tick(app, pilot, 2)

    return press


def _resize(cols: int, rows: int) -> Step:
    async def resize(app: GpuTopApp, pilot: Pilot[int]) -> None:
        await pilot.resize_terminal(cols, rows)
        await pilot.pause()
        await _tick(app, pilot, 2)

    return resize


async def _toast(app: GpuTopApp, pilot: Pilot[int]) -> None:
    app.notify("GPUBusy firing: GPU 3", severity="error", timeout=30)
    await pilot.pause()
    await _tick(app, pilot, 2)


STEPS: list[tuple[str, Step]] = [
    ("readings move", _tick),
    ("focus moves", _keys("right", "down")),
    ("80x24: one line per GPU", _resize(80, 24)),
    ("100x30", _resize(100, 30)),
    ("200x60", _resize(200, 60)),
    ("back to 120x40", _resize(120, 40)),
    ("a toast", _toast),
    ("help, a modal", _keys("question_mark")),
    ("help closed", _keys("escape")),
    ("processes", _keys("p")),
    ("processes sorted", _keys("c")),
    ("overview again", _keys("escape")),
    ("detail", _keys("enter")),
    ("detail, last hour", _keys("2")),
    ("resized under the detail", _resize(90, 28)),
    ("overview again", _keys("escape")),
    ("fleet without Prometheus", _keys("f")),
    ("overview at last", _keys("escape")),
]


def _check(driver: TeeDriver, step: str) -> None:
    raw, shadowed = driver.raw.cells(), driver.shadowed.cells()
    if raw != shadowed:
        where = [
            (y, x)
            for y, row in enumerate(raw)
            for x, cell in enumerate(row)
            if shadowed[y][x] != cell
        ]
        pytest.fail(
            f"after {step!r}: {len(where)} cells differ, first at {where[:5]}\n"
            f"raw:\n{driver.raw.text()}\nshadowed:\n{driver.shadowed.text()}"
        )


@pytest.mark.slow
@pytest.mark.parametrize("sync", [False, True], ids=["plain", "synchronised"])
async def test_shadowed_terminal_shows_what_textual_meant(sync: bool) -> None:
    app = build_app()
    app.driver_class = tee_driver(sync=sync)
    async with app.run_test(headless=False, size=(120, 40)) as pilot:
        await pilot.pause()
        driver = app._driver
        assert isinstance(driver, TeeDriver)
        _check(driver, "start")
        for name, step in STEPS:
            await step(app, pilot)
            _check(driver, name)
        full = full_repaint(app)
        assert driver.shadowed.cells() == full.cells()
        assert driver.raw.cells() == full.cells()
        # the shadow knows the screen exactly: a full repaint of the same state sends nothing
        before = driver.shadowed.bytes
        driver.write(full_repaint_text(app))
        driver.flush()
        assert driver.shadowed.bytes == before


async def test_steady_readings_cost_a_fraction_of_textuals_bytes() -> None:
    app = build_app()
    app.driver_class = tee_driver()
    async with app.run_test(headless=False, size=(120, 40)) as pilot:
        await _tick(app, pilot, 3)
        driver = app._driver
        assert isinstance(driver, TeeDriver)
        raw, shadowed = driver.raw.bytes, driver.shadowed.bytes
        await _tick(app, pilot, 20)
        raw, shadowed = driver.raw.bytes - raw, driver.shadowed.bytes - shadowed
        _check(driver, "20 s of readings")
        assert 0 < shadowed < raw / 2, (raw, shadowed)


def test_the_app_writes_through_the_shadow_unless_told_not_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TEXTUAL_DRIVER", raising=False)
    monkeypatch.delenv("GPUTOP_SHADOW", raising=False)
    app = build_app()
    assert app.get_driver_class() is ShadowDriver
    monkeypatch.setenv("GPUTOP_SHADOW", "off")
    assert app.get_driver_class() is LinuxDriver
