"""Never hide an alert, with the real parts: a real Prometheus evaluating tests/data/
rules-fleet.yml against `gputop sim-exporter --nodes 2 --gpus 8` (16 GPUs on 2 nodes, one rule
firing on GPU 6 of sim-node-01), the real program in a pseudo-terminal, the demo node with
tests/data/rules-states.yml (4 rule series in each state), and the stand-in NVML library
losing a GPU mid-run.

At 80x24, 100x30 and 120x40 the FIRING row, its rule, GPU and node are on screen. Prometheus
killed and restarted: the last states stay, marked stale, and the dashboard is current again
within 15 s of Prometheus answering. A lost GPU: its card, its rule rows, the header, and
`--once --check` exit 2.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from textual.pilot import Pilot

from gputop.ui.app import GpuTopApp
from tests.support.cli import cli_monitor
from tests.support.fake_nvml import FakeNvml
from tests.support.prometheus_server import PromStack
from tests.support.pty_run import PtyRun
from tests.support.rulestates import assert_active_rows_shown
from tests.support.ui import screen_lines

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]
SIZES = [(80, 24), (100, 30), (120, 40)]
size_ids = [f"{w}x{h}" for w, h in SIZES]
FIRING = re.compile(r"● FIRING +FleetGpuTooWarm · GPU 6 @ sim-node-01")
PENDING = re.compile(r"◐ PENDING +FleetAlwaysPending")


@pytest.fixture(scope="module")
def fleet(module_prometheus_factory: Callable[..., PromStack]) -> PromStack:
    """Prometheus over 16 simulated GPUs on 2 nodes, with FleetGpuTooWarm firing."""
    stack = module_prometheus_factory(nodes=2, gpus=8, rule_files=[DATA / "rules-fleet.yml"])
    deadline = time.monotonic() + 30
    while "firing" not in _alert_states(stack.url):
        assert time.monotonic() < deadline, "FleetGpuTooWarm did not fire"
        time.sleep(0.3)
    return stack


@pytest.fixture
def pty_runs() -> Iterator[list[PtyRun]]:
    runs: list[PtyRun] = []
    yield runs
    for run in runs:
        run.close()


def _alert_states(url: str) -> set[str]:
    data = httpx.get(f"{url}/api/v1/rules", params={"type": "alert"}, timeout=5.0).json()["data"]
    return {
        alert["state"]
        for group in data["groups"]
        for rule in group["rules"]
        if rule["name"] == "FleetGpuTooWarm"
        for alert in rule.get("alerts") or ()
    }


async def _until(
    pilot: Pilot[int], app: GpuTopApp, check: Callable[[str], bool], seconds: float
) -> str:
    """Let the dashboard poll until `check(screen text)` holds; the text."""
    deadline = time.monotonic() + seconds
    while True:
        await pilot.pause(0.2)
        text = "\n".join(screen_lines(app))
        if check(text):
            return text
        assert time.monotonic() < deadline, text


def _rows_accounted(app: GpuTopApp) -> bool:
    try:
        assert_active_rows_shown(app)
    except AssertionError:
        return False
    return True


def _pty_until(run: PtyRun, check: Callable[[str], bool], seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while True:
        run.pump(0.5)
        text = "\n".join(run.lines())
        if check(text):
            return text
        assert run.proc.poll() is None, run.output[-2000:].decode("utf-8", "replace")
        assert time.monotonic() < deadline, text


def _quit(run: PtyRun) -> None:
    run.send(b"q")
    assert run.wait(15) == 0, run.output[-2000:].decode("utf-8", "replace")
    assert b"Traceback" not in run.output


# ---- 16 GPUs on 2 nodes, a real Prometheus --------------------------------------------------


@pytest.mark.prometheus
@pytest.mark.parametrize("size", SIZES, ids=size_ids)
async def test_firing_row_with_gpu_and_node_at_every_size(
    fleet: PromStack, isolated_env: dict[str, str], size: tuple[int, int]
) -> None:
    with cli_monitor(fleet.url) as monitor:
        app = GpuTopApp(monitor, interval=1.0)
        async with app.run_test(size=size) as pilot:
            # the overview groups the GPUs by node, once Prometheus has shown them
            text = await _until(
                pilot, app, lambda t: bool(FIRING.search(t)) and "▾ sim-node-00 · 8" in t, 30
            )
            assert PENDING.search(text), text
            # every firing and pending row shown, the 16 near ones shown or counted
            await _until(pilot, app, lambda _: _rows_accounted(app), 10)
            assert_active_rows_shown(app)


@pytest.mark.prometheus
@pytest.mark.e2e
@pytest.mark.parametrize("size", SIZES, ids=size_ids)
def test_firing_row_in_a_pseudo_terminal_at_every_size(
    fleet: PromStack, isolated_env: dict[str, str], pty_runs: list[PtyRun], size: tuple[int, int]
) -> None:
    cols, rows = size
    run = PtyRun(["--prometheus", fleet.url], cols=cols, rows=rows)
    pty_runs.append(run)
    # the rows and the panel's border are painted in frames of their own: wait for both
    summary = "1 firing 1 pending · Prometheus"
    text = _pty_until(run, lambda t: bool(FIRING.search(t) and PENDING.search(t)), 40)
    text = _pty_until(run, lambda t: summary in t and bool(FIRING.search(t)), 10)
    assert "Traceback" not in text
    _quit(run)


@pytest.mark.e2e
@pytest.mark.parametrize("size", SIZES, ids=size_ids)
def test_demo_with_four_rules_in_each_state_in_a_pseudo_terminal(
    isolated_env: dict[str, str], pty_runs: list[PtyRun], size: tuple[int, int]
) -> None:
    cols, rows = size
    run = PtyRun(["--demo", "--rules", str(DATA / "rules-states.yml")], cols=cols, rows=rows)
    pty_runs.append(run)
    want = [rf"● FIRING +StatesFiring · GPU {i} @ demo-node" for i in range(4)]
    want += [rf"◐ PENDING +StatesPending · GPU {i} @ demo-node" for i in range(4, 8)]
    text = _pty_until(run, lambda t: all(re.search(w, t) for w in want), 30)
    more = re.search(r"\+(\d+) more: (.*?) · Tab to scroll", text)
    if more:  # what does not fit is counted, by state
        assert more[2].split(", ")[-1].endswith(" ok") or "unknown" in more[2], more[0]
    else:
        assert "? UNKNOWN StatesUnknownD" in text and "StatesOk" in text
    _quit(run)


# ---- Prometheus killed and restarted ---------------------------------------------------------


@pytest.mark.prometheus
async def test_prometheus_killed_keeps_the_last_states_and_returns_within_15s(
    fleet: PromStack, isolated_env: dict[str, str]
) -> None:
    with cli_monitor(fleet.url) as monitor:
        app = GpuTopApp(monitor, interval=1.0)
        async with app.run_test(size=(100, 30)) as pilot:
            await _until(pilot, app, lambda t: bool(FIRING.search(t)), 30)
            fleet.engine.kill()
            down = re.compile(r"✖ prometheus: unreachable.*retry in \d+s")
            text = await _until(
                pilot, app, lambda t: "STALE since" in t and bool(down.search(t)), 20
            )
            assert FIRING.search(text) and PENDING.search(text), text  # the last known truth
            assert "r Retry now" in screen_lines(app)[-1]
            await asyncio.sleep(12)  # down long enough for the backoff to reach its cap
            await pilot.pause()
            await asyncio.to_thread(fleet.engine.start)  # same port, same data
            answering = time.monotonic()
            engine = monitor.rules
            assert engine is not None

            def current(t: str) -> bool:
                # sources are polled on worker threads: the state may turn fresh between the
                # screen being read and this check, so the screen itself must say it too
                fresh = engine.error is None and monitor.state("prometheus").ok
                shown = "✖ prometheus" not in t and "stale" not in t.lower()
                return fresh and shown and bool(FIRING.search(t))

            text = await _until(pilot, app, current, 30)
            assert time.monotonic() - answering < 15, "took too long to see Prometheus again"
            assert "unreachable" not in text, text


# ---- a GPU lost mid-run, through the stand-in NVML --------------------------------------------


@pytest.mark.e2e
def test_a_lost_gpu_end_to_end(
    fake_nvml: FakeNvml,
    isolated_env: dict[str, str],
    pty_runs: list[PtyRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in fake_nvml.env(gpus=8, lost_gpu=2, lost_after=4).items():
        monkeypatch.setenv(key, value)
    run = PtyRun([], cols=120, rows=60)  # every rule row in view
    pty_runs.append(run)
    host = os.uname().nodename
    lost_rows = re.compile(rf"\? UNKNOWN (\w+) · GPU 2 @ {re.escape(host)} — GPU lost")

    def shown(text: str) -> bool:
        return "1 GPU lost" in text and len(lost_rows.findall(text)) >= 3

    text = _pty_until(run, shown, 40)
    card = r"GPU 2 · A100-SXM4-80GB ─+╮ [^\n]*\n│ LOST since \d\d:\d\d:\d\d \(\d+s\) — GPU is lost"
    assert re.search(card, text), text
    assert set(lost_rows.findall(text)) == {"GPUBusy", "GPUHighMemoryUsage", "GPUTemperatureHigh"}
    assert "✖ 1 GPU lost" in run.lines()[0]
    _quit(run)

    done = subprocess.run(
        [sys.executable, "-m", "gputop", "--once", "--check"],
        env=fake_nvml.env(gpus=8, lost_gpu=2),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)  # a GPU off the bus is critical
    line = next(x for x in done.stdout.splitlines() if x.startswith("[2]"))
    assert re.search(r"LOST since \d\d:\d\d:\d\d \(\w+\): GPU is lost  UUID ", line), line
    assert "1 GPU LOST" in done.stdout.splitlines()[0]
