"""The real program in a real pseudo-terminal, its output read through a terminal emulator:
the demo node, and a real VictoriaMetrics with its 30 s latency offset."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.prometheus_server import PromStack
from tests.support.pty_run import PtyRun

pytestmark = pytest.mark.e2e


@pytest.fixture
def gputop() -> Iterator[type[PtyRun]]:
    runs: list[PtyRun] = []

    class Tracked(PtyRun):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            runs.append(self)

    yield Tracked
    for run in runs:
        run.close()


def _quit(run: PtyRun) -> None:
    run.send(b"q")
    assert run.wait(15) == 0, run.output[-2000:].decode("utf-8", "replace")
    assert b"Traceback" not in run.output


def test_demo_runs_at_120x40(gputop: type[PtyRun]) -> None:
    run = gputop(["--demo"], cols=120, rows=40)
    run.pump(20.0)
    assert run.proc.poll() is None, run.output[-2000:].decode("utf-8", "replace")
    text = "\n".join(run.lines())
    for i in range(8):
        assert f"GPU {i}" in text, text
    assert re.search(r"\d\d:\d\d:\d\d", run.lines()[0])  # the header clock
    assert "P95 latency" in text
    assert b"Traceback" not in run.output
    _quit(run)


def test_demo_at_80x24_is_one_line_per_gpu(gputop: type[PtyRun]) -> None:
    run = gputop(["--demo"], cols=80, rows=24)
    run.pump(8.0)
    lines = run.lines()
    rows = [m for m in (re.match(r"^([ ▶])[ ●◐○] *(\d+)▕", line) for line in lines) if m]
    assert [int(m[2]) for m in rows] == list(range(8)), "\n".join(lines)
    assert [m[1] for m in rows] == ["▶"] + [" "] * 7  # the selection, marked without colour
    for m in rows:  # all four numbers on every line: MEM %, TEMP °C, UTIL %, PWR W
        assert re.search(r"\d+%.*?\d+°C.*?\d+%.*?\d+W", m.string), m.string
    assert b"Traceback" not in run.output
    _quit(run)


@pytest.mark.prometheus
def test_a_minute_against_victoriametrics_moves_with_its_lag_shown(
    gputop: type[PtyRun],
    prometheus_factory: Callable[..., PromStack],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """VictoriaMetrics with its defaults shows data 30 s late: the dashboard lags, says so,
    and keeps moving (it froze after its first fetch, once)."""
    stack = prometheus_factory(engine="victoriametrics", nodes=1, gpus=8, history_s=600)
    for name in [n for n in os.environ if n.startswith("GPUTOP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    run = gputop(["--prometheus", stack.url], cols=120, rows=40)
    run.pump(10.0)
    screens = []
    for _ in range(10):  # 60 s in all
        run.pump(5.0)
        assert run.proc.poll() is None, run.output[-2000:].decode("utf-8", "replace")
        screens.append(run.lines())
    for lines in screens:
        assert re.search(r"● prometheus (25|30|35)s behind", lines[0]), lines[0]
        assert "STALE" not in "\n".join(lines)
    readings = [tuple(ln for ln in lines if re.search(r"MEM +\d+% TEMP", ln)) for lines in screens]
    assert all(len(r) == 4 for r in readings), readings[-1]  # 8 GPUs, two cards a row
    assert len(set(readings)) >= 5, readings  # new readings every few seconds
    sparks = [tuple(ln for ln in lines if re.search(r"PWR +[▁-█]", ln)) for lines in screens]
    assert sparks[0] and sparks[-1] != sparks[0]  # the sparklines shift as buckets close
    assert b"Traceback" not in run.output
    _quit(run)
