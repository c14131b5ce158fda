"""Every screen and dialog with hostile text in every field: it shows as text.

The dashboard reads a hostile Prometheus and Alertmanager (`tests/support/hostile_server`: the
jobs on its GPUs, a MIG profile and an inference server's model are hostile too) and a local
source whose GPU names, MIG profiles, jobs (pod, Slurm job, container, owner), process users
and command lines are hostile too. After each
step (a screen, a dialog, a toast, a resize, the kiosk cycling) the test asserts what the
terminal received: no OSC 52 (clipboard), no OSC 0 (title), no C1 byte, no bidi override, no
raw control character in any cell, markup shown literally (`[bold red]FAKE[/]`), no link or
click action from data, and the app still running.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from textual._compositor import LayoutUpdate
from textual.app import App
from textual.pilot import Pilot

from gputop.core.clock import FakeClock
from gputop.core.models import Job, MigInfo, NodeSnapshot, ProcessSample
from gputop.core.untrusted import UNSAFE
from gputop.monitor import Monitor
from gputop.rules.engine import RulesEngine
from gputop.rules.files import load_rule_set
from gputop.rules.model import RuleStatus, State
from gputop.sources.alertmanager import AlertmanagerClient, AlertmanagerSource
from gputop.sources.demosource import DemoSource
from gputop.sources.prometheus import PrometheusClient
from gputop.sources.prometheus.feed import PrometheusSource
from gputop.ui.app import GpuTopApp
from gputop.ui.confirm import ConfirmScreen
from gputop.ui.screens.backtest import BacktestScreen
from gputop.ui.screens.detail import DetailScreen
from gputop.ui.screens.silence import SilenceScreen
from tests.support.hostile_server import (
    CLICK,
    MARKUP,
    VICTIM,
    Answer,
    HostileServer,
    hostile,
)
from tests.support.rulestates import FixedRules
from tests.support.terminal import TeeDriver
from tests.support.ui import START, build_monitor, screen_lines

#: The jobs a local GPU and its processes name, every word hostile.
JOBS = (
    Job("pod", name=hostile("localpod"), namespace=hostile("localns"), uid="1f2e3d4c"),
    Job("slurm", name=hostile("localjob")),
    Job("container", name=hostile("localcontainer")),
    Job("user", name=hostile("owner")),
)


class HostileLocal:
    """The demo node, with hostile GPU names, jobs and processes (one of them this test
    process, so a signal dialog can open for it); its last GPU is split into a MIG instance with
    a hostile profile."""

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
        gpus = [dataclasses.replace(g, name=hostile("gpu"), jobs=JOBS) for g in snap.gpus]
        gpus[1] = dataclasses.replace(gpus[1], name="A100")  # room for its jobs in its title
        last = gpus[-1]
        mig = MigInfo(7, 0, hostile("profile"), last.uuid)
        gpus.append(dataclasses.replace(last, uuid=f"MIG-{last.uuid}", mig=mig))
        pid, started = self._me
        procs = [
            ProcessSample(
                g.index, g.uuid, pid, 1024.0, hostile("user"), hostile("cmd"), 1.0, started,
                jobs=JOBS,
            )
            for g in gpus[:2]
        ]  # fmt: skip
        return dataclasses.replace(snap, gpus=tuple(gpus), processes=tuple(procs))


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
    # three GPUs and a MIG instance: cards, whose titles name the GPU, its model and its jobs
    source = HostileLocal(DemoSource(clock, seed=7, gpus=3, warmup_s=600)) if local else None
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


async def _backtest(pilot: Pilot[int], app: GpuTopApp) -> None:
    """`b`, and the backtest's worker done."""
    await pilot.press("b")
    await pilot.pause()
    assert isinstance(app.screen, BacktestScreen)
    await app.workers.wait_for_complete()
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
        await _backtest(pilot, app)
        shown.append(_check(app, "backtest of the rule under the cursor"))
        await pilot.press("escape")
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
        await app.workers.wait_for_complete()  # its past firing windows
        shown.append(_check(app, "detail of a fleet GPU"))
        await _backtest(pilot, app)
        report = _check(app, "backtest of a fleet GPU's rules")
        assert "Backtest · GPU 0 @ node0␛]52;c;" in report  # its host, in the title
        assert "GPUHot␛]52;c;" in report and "firing" in report  # names, labels, windows
        shown.append(report)
        refused = {"status": "error", "errorType": "bad_data", "error": hostile("refused")}
        for answer, says in (
            (Answer(400, json.dumps(refused).encode()), "cannot be replayed"),
            (Answer(502, hostile("gateway").encode(), "text/plain"), "the backtest failed"),
        ):
            server.answer("/api/v1/query_range", answer)
            await pilot.press("escape")
            await _backtest(pilot, app)
            text = _check(app, f"backtest: {says}")
            assert says in text, text
            shown.append(text)
        server.answer("/api/v1/query_range", None)
        await pilot.press("escape")  # back to the fleet GPU's detail
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
    # the jobs (pod, Slurm job), a MIG profile and a served model were on screen, inert
    for field in ("pod localns", "pod ns", "job slurmjob", "GI 3 profile", "llm"):
        assert f"{field}␛]5" in text, field  # the fleet's MODEL column cuts a profile there
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


#: A rule file whose group, rule name and file name are hostile: OSC 52 and OSC 0, markup that
#: would raise (`[/]`) or quit on a click, a C1 CSI byte and a bidi override.
HOSTILE_RULE_FILE = r"""groups:
  - name: "g\e]0;title\a"
    rules:
      - alert: "Hot\e]52;c;ZWNobyBwd25lZA==\e\\[/][@click=app.quit]q[/]\x9b31m\u202eLIVE"
        expr: DCGM_FI_DEV_GPU_TEMP > 30
        for: 1m
"""
#: The rule's name as the screen shows it.
HOT_SHOWN = "Hot␛]52;c;ZWNobyBwd25lZA==␛\\[/][@click=app.quit]q[/]\\x9b31m\\u202eLIVE"


async def test_a_rule_files_hostile_rule_name_in_its_backtest_shows_as_text(
    tmp_path: Path,
) -> None:
    """Without Prometheus: the rules evaluated here come from a rule file; `b` replays them
    over this node's history. The name shows as text in the rules panel, the backtest's title
    and report, from the overview and from a GPU's detail; a click on it does nothing."""
    path = tmp_path / "rules\x1b]0;t\x07.yml"
    path.write_text(HOSTILE_RULE_FILE)
    (rule,) = load_rule_set([path]).alerts
    assert rule.name.startswith("Hot\x1b]52;c;") and "\x9b" in rule.name
    clock = FakeClock(START)
    monitor = Monitor(clock=clock, local=HostileLocal(DemoSource(clock, seed=7, warmup_s=600)))
    monitor.rules = RulesEngine([rule], clock=clock, origin=path.name)
    monitor.open()
    monitor.warm_start(600, 1.0)
    monitor.poll()
    monitor.evaluate_rules()
    app = GpuTopApp(monitor, poll=False)
    app.driver_class = Recorder
    async with app.run_test(headless=False, size=(120, 40), tooltips=True) as pilot:
        await _settle(app, pilot)
        text = _check(app, "overview with a rule file's rule")
        assert f"PENDING {HOT_SHOWN} · GPU 0 @ demo-node" in text, text
        assert "rules␛]0;t␇.yml" in text, text  # the rules panel names the file
        await pilot.press("tab")
        await _backtest(pilot, app)
        text = _check(app, "backtest of the rule file's rule")
        assert f"Backtest · {HOT_SHOWN} · last " in text, text  # the title
        assert "done: 1 rule over" in text, text
        report = app.screen
        assert isinstance(report, BacktestScreen)
        assert f"{HOT_SHOWN} (group g␛]0;title␇, " in report.report_text
        assert "firing " in report.report_text  # the demo GPUs run over 30 °C
        await _click_every(pilot, app, "[@click=")  # no action: the app goes on
        await pilot.press("escape", "tab", "enter")
        await _settle(app, pilot)
        await app.workers.wait_for_complete()  # the GPU's past firing windows
        assert isinstance(app.screen, DetailScreen)
        _check(app, "detail with the rule's past firing windows")
        await _backtest(pilot, app)
        text = _check(app, "backtest of a GPU's rules from a rule file")
        assert HOT_SHOWN in text and "done: 1 rule over" in text, text
        await _click_every(pilot, app, "[@click=")
        assert app.is_running


#: The states a rule row with a job is shown in.
SHOWN_STATES: tuple[State, ...] = ("firing", "pending", "near")


async def test_a_rule_row_names_a_hostile_job_as_text() -> None:
    """A short rule name on a short node leaves room for the job its series' labels name (a
    pod, a Slurm job), at every size: shown, inert."""
    monitor = build_monitor(rules=False)
    clock = monitor.clock
    assert isinstance(clock, FakeClock)
    # short: their controls are in view
    pod, slurm = "w\x1b]0;t\x07\x9b31m\u202e", "42\x1b]52;c;eA==\x07"
    jobs = ({"pod": pod, "namespace": "ns"}, {"hpc_job": slurm}, {"pod": pod})
    statuses = [
        RuleStatus(
            "GPUHot", state, value=91.0, op=">", threshold=85.0, active_at=clock.now() - 30,
            for_s=60.0, labels={"gpu": str(i), "Hostname": "n1", **job},
        )
        for i, (state, job) in enumerate(zip(SHOWN_STATES, jobs, strict=True))
    ]  # fmt: skip
    monitor.rules = FixedRules(statuses, clock, "rules.yml")
    app = GpuTopApp(monitor, poll=False)
    app.driver_class = Recorder
    async with app.run_test(headless=False, size=(120, 40)) as pilot:
        for size in ((120, 40), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            text = _check(app, f"rules naming hostile jobs at {size}")
            # cut where narrow, controls shown either side of the cut
            assert "@ n1 → w␛]0;t" in text and "@ n1 → job 42" in text, text
