"""Kiosk mode: pages cycle among those with something to show, only the exit chord quits, and a
STALE banner stands while a source is failing — here a real Prometheus, killed and restarted,
watched with a fake clock so every step is one refresh interval."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gputop.cli import main
from gputop.commands.build import attach_prometheus, attach_rules
from gputop.config import load_config
from gputop.core.clock import FakeClock
from gputop.core.models import SourceState, SourceStatus
from gputop.monitor import Monitor
from gputop.ui.app import GpuTopApp
from gputop.ui.kiosk import CHORD_S, ExitChord, kiosk_pages, stale_banner_lines
from gputop.ui.screens.overview import OverviewScreen
from gputop.ui.screens.processes import ProcessesScreen
from gputop.ui.widgets.stale_banner import StaleBanner
from tests.support.guarded import FakeAlertmanager, with_alertmanager
from tests.support.prometheus_server import PromStack
from tests.support.ui import START, build_monitor, screen_lines

RULES = Path(__file__).parent / "data" / "rules-fast.yml"


async def test_kiosk_pages_cycle_by_themselves() -> None:
    app = GpuTopApp(build_monitor(), poll=False, kiosk=True, kiosk_page_s=1.0)
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.kiosk_pages() == ["overview", "processes"]  # no Prometheus: no fleet page
        assert isinstance(app.screen, OverviewScreen)
        seen: list[type] = [OverviewScreen]
        end = time.monotonic() + 10  # two turns, however slow the machine
        while len(seen) < 3 and time.monotonic() < end:
            await pilot.pause(0.05)
            if seen[-1] is not type(app.screen):
                seen.append(type(app.screen))
        assert seen == [OverviewScreen, ProcessesScreen, OverviewScreen]
        assert len(app.screen_stack) == 1  # nothing piles up


def _pages_seen(
    argv: list[str], seconds: float, monkeypatch: pytest.MonkeyPatch, *, until: int | None = None
) -> list[type]:
    """The screens `gputop ARGV` shows, in turn, over `seconds` (or until `until` are seen):
    the app the command line builds, run headless in place of the terminal."""
    seen: list[type] = []

    async def watch(app: GpuTopApp) -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            end = time.monotonic() + seconds
            while time.monotonic() < end and (until is None or len(seen) < until):
                await pilot.pause(0.1)
                if not seen or seen[-1] is not type(app.screen):
                    seen.append(type(app.screen))

    def run_headless(app: GpuTopApp, **_: object) -> int:
        asyncio.run(watch(app))
        return 0

    monkeypatch.setattr(GpuTopApp, "run", run_headless)
    assert main(argv) == 0
    return seen


@pytest.mark.usefixtures("isolated_env")
def test_without_kiosk_the_page_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a page period is configured, but only a kiosk turns its pages: none in 2.5 periods
    config = tmp_path / "config.toml"
    config.write_text("[ui]\nkiosk_page_seconds = 1\n")
    pages = _pages_seen(["--demo", "--config", str(config)], 2.5, monkeypatch)
    assert pages == [OverviewScreen]
    # the kiosk the same command line builds, watched the same way, turns its page
    kiosk = _pages_seen(["--demo", "--kiosk", "--config", str(config)], 10, monkeypatch, until=2)
    assert kiosk == [OverviewScreen, ProcessesScreen]


async def test_only_pages_with_something_to_show_are_in_the_cycle() -> None:
    monitor = build_monitor()
    assert kiosk_pages(monitor) == ["overview", "processes"]
    assert monitor.latest is not None
    monitor.latest = dataclasses.replace(monitor.latest, processes=())
    assert kiosk_pages(monitor) == ["overview"]  # no "Processes 0 of 0" page
    with_alertmanager(monitor, FakeAlertmanager())
    assert kiosk_pages(monitor) == ["overview"]  # not read yet: nothing to show
    await monitor.refresh_alertmanager()
    assert kiosk_pages(monitor) == ["overview", "alerts"]  # an alert and a silence


def test_the_exit_chord_is_ctrl_x_then_ctrl_c_in_time() -> None:
    now = [0.0]
    chord = ExitChord(clock=lambda: now[0])
    assert not chord.press("ctrl+c")
    assert not chord.press("ctrl+x")
    assert chord.press("ctrl+c")
    assert not chord.press("ctrl+c")  # used up
    assert not chord.press("ctrl+x")
    assert not chord.press("q")  # anything between breaks it
    assert not chord.press("ctrl+c")
    assert not chord.press("ctrl+x")
    now[0] += CHORD_S + 0.1
    assert not chord.press("ctrl+c")  # too late


async def test_in_a_kiosk_no_key_quits_and_nothing_covers_the_screen() -> None:
    app = GpuTopApp(build_monitor(), poll=False, kiosk=True, read_only=True)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause()
        for key in ("q", "ctrl+q", "ctrl+c", "question_mark", "p", "escape", "ctrl+x", "q"):
            await pilot.press(key)
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, OverviewScreen)
        app.notify("a toast")  # a firing rule's notification, say
        await pilot.pause()
        lines = screen_lines(app)
        assert "a toast" not in "\n".join(lines)
        assert "Quit" not in lines[-1] and "Help" not in lines[-1]  # no footer
        await pilot.press("ctrl+x", "ctrl+c")
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0


async def test_a_kiosk_shows_no_selection_and_offers_no_scrolling() -> None:
    """Keys never reach a kiosk: no "▶" on a GPU or rule, no "Tab to scroll" under the rules."""
    app = GpuTopApp(build_monitor(), poll=False, kiosk=True, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = "\n".join(screen_lines(app))
        assert "more:" in text, text  # the demo's rules do not all fit at 80x24
        assert "▶" not in text and "Tab to scroll" not in text, text
        assert app.screen.focused is None
    app = GpuTopApp(build_monitor(), poll=False)  # the same screen, interactive
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = "\n".join(screen_lines(app))
        assert "▶" in text and "Tab to scroll" in text, text


async def test_the_stale_banner_never_pushes_a_pending_rule_off_a_small_kiosk() -> None:
    monitor = with_alertmanager(build_monitor(), FakeAlertmanager(down=True))
    app = GpuTopApp(monitor, poll=False, kiosk=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await monitor.refresh_alertmanager()
        app.refresh_screen()
        await pilot.pause()
        app.refresh_screen()  # the layout follows the banner within a refresh
        await pilot.pause()
        lines = screen_lines(app)
        assert "STALE" in "\n".join(lines[-4:]), lines
        pending = [st for st in app.shown_statuses() if st.state == "pending"]
        assert len(pending) == 5
        assert sum("PENDING" in line for line in lines) == len(pending), "\n".join(lines)


async def test_a_kiosk_pages_through_gpus_that_do_not_fit_before_moving_on() -> None:
    monitor = with_alertmanager(build_monitor(), FakeAlertmanager(down=True))
    app = GpuTopApp(monitor, poll=False, kiosk=True, kiosk_page_s=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await monitor.refresh_alertmanager()
        app.refresh_screen()
        await pilot.pause()

        def indexes() -> set[str]:
            return set(re.findall(r"^ [ ●◐○] (\d)▕", "\n".join(screen_lines(app)), re.M))

        first = indexes()
        assert "0" in first and "7" not in first, first  # the banner leaves room for 6
        app.next_kiosk_page()
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)  # the same page, its next GPUs
        assert "7" in indexes(), screen_lines(app)
        assert sum("PENDING" in line for line in screen_lines(app)) == 5  # rules stay
        app.next_kiosk_page()
        await pilot.pause()
        assert isinstance(app.screen, ProcessesScreen)
        app.next_kiosk_page()
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)
        assert indexes() == first  # from the top again


def test_the_banner_names_each_failing_source_in_use_with_a_fixed_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monitor = build_monitor()
    assert stale_banner_lines(monitor) == []
    monitor._set("demo", SourceState(SourceStatus.ERROR, "device vanished", START - 58))
    assert stale_banner_lines(monitor) == ["STALE", "demo (data from 11:59:02): device vanished"]
    monitor._set("demo", SourceState(SourceStatus.ERROR, "device vanished", START - 2 * 86400))
    assert stale_banner_lines(monitor)[1] == "demo (data from 12-30 12:00:00): device vanished"
    monitor._set("prometheus", SourceState(SourceStatus.ERROR, "unreachable"))
    assert stale_banner_lines(monitor)[2] == "prometheus (no data yet): unreachable"


async def _kiosk_on(url: str, clock: FakeClock) -> Monitor:
    config = load_config(env={}, overrides={"prometheus.url": url})
    monitor = Monitor(clock=clock, local=None, host="wall")
    attach_rules(monitor, config)
    attach_prometheus(monitor, config)
    return monitor


@pytest.mark.prometheus
async def test_stale_banner_within_two_intervals_and_gone_after_recovery(
    prometheus_factory: Callable[..., PromStack],
) -> None:
    # with alert rules, as gputop is used: their 1 s evaluation paces the rules requests
    stack = prometheus_factory(nodes=1, gpus=4, history_s=60, rule_files=[RULES])
    clock = FakeClock(time.time())
    monitor = await _kiosk_on(stack.url, clock)
    app = GpuTopApp(monitor, poll=False, kiosk=True)

    async def step() -> StaleBanner:
        """One refresh interval of the dashboard."""
        clock.set(max(clock.now() + 1.0, time.time()))
        await monitor.refresh_remote()
        app.refresh_screen()
        await pilot.pause()
        return app.screen.query_one(StaleBanner)

    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(2):
            banner = await step()
        assert monitor.state("prometheus").ok
        assert not banner.display and "STALE" not in "\n".join(screen_lines(app))

        stack.engine.kill()
        steps = 0
        while not banner.display:
            steps += 1
            assert steps <= 2, "no STALE banner within two intervals"
            banner = await step()
        text = "\n".join(screen_lines(app))
        assert "STALE" in text and "prometheus (data from " in text and "): unreachable" in text
        shown = banner.lines
        for _ in range(3):  # no age that ticks: the banner's words hold still
            assert (await step()).lines == shown

        stack.engine.start()  # the same port
        deadline = time.monotonic() + 60
        while banner.display:
            assert time.monotonic() < deadline, banner.lines
            await asyncio.sleep(0.2)
            banner = await step()
        assert "STALE" not in "\n".join(screen_lines(app))
    await monitor.aclose()
