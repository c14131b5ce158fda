"""What guards the actions: confirmations, `--read-only` and `--kiosk`, key by key.

Every binding of every screen is pressed in a kiosk and read-only, with something real to act
on: a live child process listed on the GPUs and an Alertmanager holding a firing alert and a
silence. Nothing may be signalled (os.kill is watched, and the child must live), Alertmanager
may receive no POST or DELETE, and the program keeps running; interactive mode, with the same
keys, does open the dialogs and does signal, so the guards are what stops them.
"""

from __future__ import annotations

import os
import signal

import psutil
import pytest
from textual.binding import Binding
from textual.screen import ModalScreen

from gputop.core.models import ProcessSample
from gputop.sources.signals import ActionError, signal_process
from gputop.ui.app import GpuTopApp
from gputop.ui.confirm import ConfirmScreen
from gputop.ui.policy import READ_ONLY_MESSAGE
from gputop.ui.screens.alerts import AlertsScreen
from gputop.ui.screens.detail import DetailScreen
from gputop.ui.screens.fleet import FleetScreen
from gputop.ui.screens.help import HelpScreen, help_sections
from gputop.ui.screens.overview import OverviewScreen
from gputop.ui.screens.processes import ProcessesScreen
from gputop.ui.screens.silence import SilenceScreen
from tests.support.guarded import FakeAlertmanager, ListedProcess, guarded_monitor
from tests.support.ui import screen_lines

SCREENS = (OverviewScreen, DetailScreen, ProcessesScreen, FleetScreen, AlertsScreen)
#: Keys Textual binds itself, and keys a passer-by is likely to press.
EXTRA_KEYS = (
    "ctrl+c", "ctrl+q", "ctrl+z", "ctrl+x", "ctrl+p", "tab", "shift+tab", "enter", "escape", "y",
)  # fmt: skip


def every_key() -> list[str]:
    """Every key bound on any screen, dialog or the app, once each."""
    classes = (GpuTopApp, *SCREENS, HelpScreen, ConfirmScreen, SilenceScreen)
    keys: dict[str, None] = {}
    for cls in classes:
        for binding in Binding.make_bindings(cls.BINDINGS):
            keys[binding.key] = None
    keys.update(dict.fromkeys(EXTRA_KEYS))
    return list(keys)


def _open(app: GpuTopApp, screen: type) -> None:
    while len(app.screen_stack) > 1:
        app.pop_screen()
    if screen is DetailScreen:
        app.push_screen(DetailScreen(app.monitor.gpus()[0].key))
    elif screen is not OverviewScreen:
        app.push_screen(screen())


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["kiosk", "read-only"])
async def test_every_key_of_every_screen_changes_nothing(
    mode: str, child: ListedProcess, kills: list[tuple[int, int]]
) -> None:
    am = FakeAlertmanager()
    kiosk = mode == "kiosk"
    app = GpuTopApp(guarded_monitor(child.pid, am), poll=False, kiosk=kiosk, read_only=True)
    # read-only must still quit on q: pressed last, below
    keys = [k for k in every_key() if kiosk or k not in ("q", "ctrl+q")]
    async with app.run_test(size=(120, 40)) as pilot:
        await app.monitor.refresh_alertmanager()
        for screen in SCREENS:
            _open(app, screen)
            await pilot.pause()
            for key in keys:
                shown = app.screen
                await pilot.press(key)
                assert app.is_running, (screen.__name__, key)
                assert not isinstance(app.screen, ConfirmScreen | SilenceScreen), key
                if kiosk:
                    assert app.screen is shown, (screen.__name__, key)  # no key moves a kiosk
                    assert not isinstance(app.screen, ModalScreen), key
                elif isinstance(app.screen, ModalScreen):  # the help: informational only
                    await pilot.press("escape")
                    await pilot.pause()
                if not kiosk and key in ("escape", "enter", "p", "a", "f"):
                    _open(app, screen)  # navigation is allowed read-only: come back
                    await pilot.pause()
        assert child.alive(), "the listed process got a signal"
        assert kills == []
        assert am.writes() == []
        assert ("GET", "/api/v2/alerts") in am.requests  # it was read, so there was a target
        if kiosk:
            assert app.is_running
            await pilot.press("ctrl+x", "ctrl+c")  # the exit chord
            await pilot.pause()
            assert not app.is_running
        else:
            await pilot.press("q")
            await pilot.pause()
            assert not app.is_running
    assert app.return_code == 0


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["kiosk", "read-only"])
async def test_no_click_anywhere_on_any_screen_changes_anything(
    mode: str,
    child: ListedProcess,
    kills: list[tuple[int, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The mouse is no way around the guards: cells all over every screen clicked (every key
    of the key bar, table rows, cards), with no palette to open either."""
    am = FakeAlertmanager()
    kiosk = mode == "kiosk"
    app = GpuTopApp(guarded_monitor(child.pid, am), poll=False, kiosk=kiosk, read_only=True)
    assert not app.ENABLE_COMMAND_PALETTE
    exits: list[object] = []  # read-only may quit by its key bar's "q"; a kiosk may not
    monkeypatch.setattr(app, "exit", lambda *args, **kwargs: exits.append(args))
    async with app.run_test(size=(80, 24)) as pilot:
        await app.monitor.refresh_alertmanager()
        for screen in SCREENS:
            _open(app, screen)
            await pilot.pause()
            # a coarse grid, and every key of the key bar (the last line)
            spots = [(x, y) for y in range(1, 23, 6) for x in range(2, 80, 16)]
            for x, y in [*spots, *((x, 23) for x in range(1, 80, 4))]:
                shown = app.screen
                await pilot.click(offset=(x, y))
                assert app.is_running, (screen.__name__, x, y)
                assert not isinstance(app.screen, ConfirmScreen | SilenceScreen), (x, y)
                if kiosk:
                    assert app.screen is shown, (screen.__name__, x, y)
                if isinstance(app.screen, ModalScreen):  # the help, from the key bar
                    app.pop_screen()
                    await pilot.pause()
    assert child.alive() and kills == [] and am.writes() == []
    if kiosk:
        assert exits == []


async def test_read_only_keys_say_so_and_actions_are_gone_from_footer_and_help(
    child: ListedProcess,
) -> None:
    am = FakeAlertmanager()
    app = GpuTopApp(guarded_monitor(child.pid, am), poll=False, read_only=True)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await app.monitor.refresh_alertmanager()
        await pilot.pause()
        assert "READ-ONLY" in screen_lines(app)[0]  # the badge in the header
        for screen, key, action in (
            (OverviewScreen, "s", "Silence"),
            (ProcessesScreen, "k", "SIGTERM"),
            (AlertsScreen, "x", "Expire silence"),
        ):
            _open(app, screen)
            await pilot.pause()
            footer = screen_lines(app)[-1]
            assert f"{key} {action}" not in footer
            await pilot.press(key)
            await pilot.pause()
            assert READ_ONLY_MESSAGE[:40] in "\n".join(screen_lines(app)), key
            app.clear_notifications()
        sections = dict(help_sections(app))
        listed = {desc for rows in sections.values() for _, desc in rows}
        assert not any("Silence" in d or "Signal" in d or "Expire" in d for d in listed)
        assert any(title.startswith("Read-only") for title in sections)
    assert child.alive() and am.writes() == []


async def test_interactive_mode_asks_then_signals_and_opens_the_silence_dialog(
    child: ListedProcess, kills: list[tuple[int, int]]
) -> None:
    am = FakeAlertmanager()
    app = GpuTopApp(guarded_monitor(child.pid, am), poll=False)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await app.monitor.refresh_alertmanager()
        await pilot.pause()
        footer = screen_lines(app)[-1]
        assert "s Silence" in footer and "a Alerts" in footer
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SilenceScreen)
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("p")
        await pilot.pause()
        assert "k SIGTERM" in screen_lines(app)[-1]
        await pilot.press("k")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert f"Send SIGTERM to pid {child.pid}" in "\n".join(screen_lines(app))
        await pilot.press("n")  # declined: nothing sent
        await pilot.pause()
        assert kills == [] and child.alive()
        await pilot.press("K", "y")  # SIGKILL asks twice: one yes is not enough
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and kills == []
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("k", "y")
        await pilot.pause()
        assert kills == [(child.pid, signal.SIGTERM)]
        assert child.proc.wait(10) == -signal.SIGTERM
        assert f"SIGTERM sent to pid {child.pid}" in "\n".join(screen_lines(app))

        app.clear_notifications()
        await pilot.press("k", "y")  # it has exited: said, not raised
        await pilot.pause()
        assert f"pid {child.pid} has exited; nothing sent" in "\n".join(screen_lines(app))
        assert app.is_running
    assert am.writes() == []


def test_a_pid_that_now_names_another_process_is_not_signalled(
    child: ListedProcess, kills: list[tuple[int, int]]
) -> None:
    started = psutil.Process(child.pid).create_time()
    listed = ProcessSample(0, "GPU-0", child.pid, 512.0, user="alice", started=started - 60)
    with pytest.raises(ActionError, match=f"pid {child.pid} is now another process"):
        signal_process(listed, signal.SIGTERM, [listed])
    assert kills == [] and child.alive()


def test_not_permitted_is_said_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(pid: int, sig: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "kill", refuse)  # as for another user's process, without root
    me = psutil.Process()
    listed = ProcessSample(0, "GPU-0", me.pid, 512.0, user="root", started=me.create_time())
    with pytest.raises(ActionError) as caught:
        signal_process(listed, signal.SIGTERM, [listed])
    assert str(caught.value) == f"not permitted to signal pid {me.pid} (it belongs to root)"
