"""The real program in a real pseudo-terminal, its output read through a terminal emulator:
the demo node, and a real VictoriaMetrics with its 30 s latency offset."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyte
import pytest

from tests.support.prometheus_server import PromStack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent


class PtyRun:
    """`python -m gputop ...` on the slave side of a pty of a given size."""

    def __init__(
        self, args: list[str], cols: int, rows: int, env: dict[str, str] | None = None
    ) -> None:
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.output = bytearray()
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        base = os.environ if env is None else env
        env = {k: v for k, v in base.items() if k not in ("NO_COLOR", "GPUTOP_THEME")}
        env.update(TERM="xterm-256color", COLORTERM="truecolor", LINES=str(rows), COLUMNS=str(cols))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gputop", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=ROOT,
            env=env,
            start_new_session=True,  # its own process group: the test's signals do not reach it
            close_fds=True,
        )
        os.close(slave)
        self.master = master

    def pump(self, seconds: float) -> None:
        """Read what the program writes for `seconds` (or until it exits)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the slave side closed: the program has exited
                return
            if not data:
                return
            self.output += data
            self.stream.feed(data)

    def lines(self) -> list[str]:
        return list(self.screen.display)

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait(self, timeout: float) -> int | None:
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            self.pump(0.2)
        return self.proc.poll()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        os.close(self.master)


@pytest.fixture
def gputop() -> Iterator[type[PtyRun]]:
    runs: list[PtyRun] = []

    class Tracked(PtyRun):
        def __init__(self, *args, **kwargs) -> None:
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
