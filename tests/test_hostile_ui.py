"""Every screen and dialog with hostile text in every field: it shows as text.

The dashboard reads a hostile Prometheus and Alertmanager (`tests/support/hostile_server`) and
a local source whose GPU names, process users and command lines are hostile too. After each
step (a screen, a dialog, a toast, a resize, the kiosk cycling) the test asserts what the
terminal received: no OSC 52 (clipboard), no OSC 0 (title), no C1 byte, no bidi override, no
raw control character in any cell, markup shown literally (`[bold red]FAKE[/]`), no link or
click action from data, and the app still running.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator

import psutil
import pytest
from textual._compositor import LayoutUpdate
from textual.app import App
from textual.pilot import Pilot

from gputop.core.clock import FakeClock
from gputop.core.models import NodeSnapshot, ProcessSample
from gputop.core.untrusted import UNSAFE
from gputop.monitor import Monitor
from gputop.rules.engine import RulesEngine
from gputop.sources.alertmanager import AlertmanagerClient, AlertmanagerSource
from gputop.sources.demo import DemoSource
from gputop.sources.prometheus import PrometheusClient
from gputop.sources.promfeed import PrometheusSource
from gputop.ui.app import GpuTopApp
from gputop.ui.screens.confirm import ConfirmScreen
from gputop.ui.screens.silence import SilenceScreen
from tests.support.hostile_server import (
    CLICK,
    MARKUP,
    VICTIM,
    Answer,
    HostileServer,
    hostile,
)
from tests.support.terminal import TeeDriver
from tests.support.ui import START, screen_lines


class HostileLocal:
    """The demo node, with hostile GPU names and processes (one of them this test process,
    so a signal dialog can open for it)."""

    name = "nvml"

    def __init__(self, inner: DemoSource) -> None:
        self.inner = inner
        self.host = inner.node.host
        me = psutil.Process()
        self._me = (os.getpid(), me.create_time())

    def open(self) -> None:
        self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def sample(self) -> NodeSnapshot:
        return self._hostile(self.inner.sample())

    def history(self, seconds: float, interval: float) -> list[NodeSnapshot]:
        return [self._hostile(s) for s in self.inner.history(seconds, interval)]

    def _hostile(self, snap: NodeSnapshot) -> NodeSnapshot:
        gpus = tuple(dataclasses.replace(g, name=hostile("gpu")) for g in snap.gpus)
        pid, started = self._me
        procs = [
            ProcessSample(
                g.index, g.uuid, pid, 1024.0, hostile("user"), hostile("cmd"), 1.0, started
            )
            for g in gpus[:2]
        ]
        return dataclasses.replace(snap, gpus=gpus, processes=tuple(procs))


class Recorder(TeeDriver):
    """Keeps every string Textual writes, as it is."""

    def __init__(self, app: App[object], **kwargs: object) -> None:
        super().__init__(app, **kwargs)
        self.record: list[str] = []

    def write(self, data: str) -> None:
        self.record.append(data)
        super().write(data)


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer(clock=FakeClock(START).now) as srv:
        yield srv


def _monitor(server: HostileServer, *, local: bool = True) -> Monitor:
    clock = FakeClock(START)
    server.clock = clock.now
    source = HostileLocal(DemoSource(clock, seed=7, warmup_s=600)) if local else None
    monitor = Monitor(clock=clock, local=source, host="node")
    client = PrometheusClient(server.url, timeout=5)
    monitor.client = client
    monitor.remote = PrometheusSource(
        client, monitor.store, clock, range_s=900, columns=180, local_keys=monitor.local_keys
    )
    monitor.rules = RulesEngine([], clock=clock, origin="Prometheus")
    monitor.alertmanager = AlertmanagerSource(AlertmanagerClient(server.url), clock)
    monitor.open()
    monitor.warm_start(600, 1.0)
    monitor.poll()
    return monitor


def _check(app: GpuTopApp, step: str) -> str:
    """What reached the terminal up to now, and what the screen shows, are both inert."""
    assert app.is_running, f"{step}: the app stopped"
    driver = app._driver
    assert isinstance(driver, Recorder)
    written = "".join(driver.record)
    assert "\x1b]52" not in written, f"{step}: OSC 52 reached the terminal"
    assert "\x1b]0;" not in written, f"{step}: OSC 0 reached the terminal"
    assert "\x1b]8;" not in written, f"{step}: a link reached the terminal"
    assert not re.search("[\x80-\x9f\u202a-\u202e\u2066-\u2069]", written), step
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    assert isinstance(update, LayoutUpdate)
    segments = [seg for line in update.strips for strip in line for seg in strip]
    for segment in segments:
        if segment.control:
            continue
        assert not UNSAFE.search(segment.text), f"{step}: {segment.text!r}"
        style = segment.style
        if style is not None:
            assert not style.link, f"{step}: a link {style.link!r}"
            assert "screenshot" not in str(style.meta.get("@click", "")), step
    return "\n".join(screen_lines(app))


async def _click_every(pilot: Pilot[int], app: GpuTopApp, text: str) -> None:
    """Click each place on screen where `text` is shown."""
    for y, line in enumerate(screen_lines(app)):
        x = line.find(text)
        while x >= 0:
            await pilot.click(offset=(x + 1, y))
            await pilot.pause()
            x = line.find(text, x + 1)


async def _settle(app: GpuTopApp, pilot: Pilot[int], seconds: int = 1) -> None:
    for _ in range(seconds):
        clock = app.monitor.clock
        assert isinstance(clock, FakeClock)
        clock.advance(1.0)
        app.monitor.poll()
        await app.monitor.refresh_remote()
        app.refresh_screen()
        await pilot.pause()


@pytest.mark.slow
async def test_every_screen_and_dialog_shows_hostile_text_as_text(
    server: HostileServer,
) -> None:
    if os.path.exists(VICTIM):
        os.remove(VICTIM)
    app = GpuTopApp(_monitor(server), poll=False, notify_firing=True)
    app.driver_class = Recorder
    shown: list[str] = []
    async with app.run_test(
        headless=False, size=(120, 40), notifications=True, tooltips=True
    ) as pilot:
        await pilot.pause()
        _check(app, "start")
        await _settle(app, pilot, 2)  # rules fire: a toast names them
        shown.append(_check(app, "overview with rules and a toast"))
        await pilot.press("tab")
        await pilot.pause()
        shown.append(_check(app, "rules panel focused"))
        await pilot.press("tab", "enter")
        await _settle(app, pilot)
        shown.append(_check(app, "detail of a local GPU"))
        await _click_every(pilot, app, "[@click=")  # no link: nothing is written
        assert not os.path.exists(VICTIM)
        await pilot.press("escape", "p")
        await _settle(app, pilot)
        shown.append(_check(app, "processes"))
        await pilot.press("k")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        shown.append(_check(app, "signal confirmation"))
        await pilot.press("n", "escape", "f")
        await _settle(app, pilot)
        shown.append(_check(app, "fleet"))
        await pilot.press("enter")
        await _settle(app, pilot)
        shown.append(_check(app, "detail of a fleet GPU"))
        await pilot.press("escape", "escape", "a")
        await _settle(app, pilot)
        shown.append(_check(app, "alerts"))
        await pilot.press("tab", "x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        shown.append(_check(app, "expire confirmation"))
        server.answer(
            "/api/v2/silence/", Answer(500, hostile("expire error").encode(), "text/plain")
        )
        await pilot.press("y")
        await _settle(app, pilot)
        shown.append(_check(app, "expire refused: a toast"))
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        shown.append(_check(app, "help"))
        await pilot.press("escape", "s")
        await pilot.pause()
        assert isinstance(app.screen, SilenceScreen)
        shown.append(_check(app, "silence dialog"))
        await pilot.press(*"checking")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        shown.append(_check(app, "silence confirmation"))
        await pilot.press("n", "escape")
        await pilot.resize_terminal(80, 24)
        await _settle(app, pilot)
        shown.append(_check(app, "overview at 80x24"))
    text = "\n".join(shown)
    assert MARKUP in text  # shown as it is, not as red bold "FAKE"
    assert CLICK in text
    assert "␛]52;c;" in text  # the escape is shown, not dropped


async def test_hostile_error_texts_in_header_cards_and_kiosk_banner(
    server: HostileServer,
) -> None:
    body = f"upstream error [/api/v1/query_range] {hostile('error')}".encode()
    for kiosk in (False, True):
        for path in ("/api/v1/", "/api/v2/"):
            server.answer(path, None)
        monitor = _monitor(server, local=False)
        await monitor.refresh_remote()  # known GPUs and rules, then every answer an error
        for path in ("/api/v1/", "/api/v2/"):
            server.answer(path, Answer(500, body, "text/plain"))
        app = GpuTopApp(monitor, poll=False, kiosk=kiosk, kiosk_page_s=3600 if kiosk else None)
        app.driver_class = Recorder
        async with app.run_test(
            headless=False, size=(120, 40), notifications=True, tooltips=True
        ) as pilot:
            await pilot.pause()
            for size in ((120, 40), (80, 24)):
                await pilot.resize_terminal(*size)
                await _settle(app, pilot, 10)
                text = _check(app, f"errors at {size}, kiosk={kiosk}")
                assert "upstream error [/" in text, text
                for page in range(4):
                    if kiosk:
                        app.next_kiosk_page()
                    await _settle(app, pilot)
                    _check(app, f"page {page} at {size}, kiosk={kiosk}")
