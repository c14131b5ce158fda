"""The real program in a pseudo-terminal that changes size: the shadow screen follows.

The terminal is resized as a window manager does it (the pty's size, then SIGWINCH), with no
LINES/COLUMNS in the environment, so the size is read from the terminal itself. After each
resize the emulated screen must hold the new layout and nothing of the old one.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pyte
import pytest

from tests.support.lanes import require_marker

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent


class Resizable:
    """`python -m gputop --demo` in a pty whose size the test changes."""

    def __init__(self, cols: int, rows: int) -> None:
        require_marker("e2e", "the program in a pseudo-terminal")
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.output = bytearray()
        self.master, slave = os.openpty()
        self._size(slave, cols, rows)
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("NO_COLOR", "GPUTOP_THEME", "GPUTOP_SHADOW", "LINES", "COLUMNS")
        }
        env.update(TERM="xterm-256color", COLORTERM="truecolor")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gputop", "--demo"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=ROOT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
        os.close(slave)

    @staticmethod
    def _size(fd: int, cols: int, rows: int) -> None:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def resize(self, cols: int, rows: int) -> None:
        self.screen.resize(rows, cols)
        self._size(self.master, cols, rows)
        os.killpg(self.proc.pid, signal.SIGWINCH)

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if not select.select([self.master], [], [], min(left, 0.2))[0]:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            self.output += data
            self.stream.feed(data)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.write(self.master, b"q")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        os.close(self.master)


@pytest.fixture
def run() -> Iterator[Resizable]:
    program = Resizable(120, 40)
    yield program
    program.close()


def _cards(text: str) -> list[str]:
    return re.findall(r"╭─ (?:▶ )?(?:[●◐○] )?GPU (\d)", text)


def _lines(text: str) -> list[str]:
    """GPU indexes of compact lines: "▶● 3▕" (selection, worst rule, index, bar or ✖)."""
    return re.findall(r"^[ ▶][ ●◐○] ?(\d)[▕✖]", text, flags=re.M)


_READINGS = r"(?:MEM +)?\d+% +(?:TEMP +)?\d+°C +(?:UTIL +)?\d+% +(?:PWR +)?\d+W"


def _whole_overview(text: str) -> None:
    """Every part of the overview is on screen once: the header, the eight GPUs with their
    readings (as cards or as lines, whichever the rules panel leaves room for), the panels
    and the keys."""
    rows = text.splitlines()
    assert "gputop" in rows[0] and sum("gputop" in row for row in rows) == 1, text
    assert (_cards(text) or _lines(text)) == [str(i) for i in range(8)], text
    assert len(re.findall(_READINGS, text)) == 8, text
    assert text.count("P95 latency") == 1 and text.count("Alert rules") == 1, text
    assert "Quit" in rows[-1], text


def test_the_screen_follows_the_terminal_through_resizes(run: Resizable) -> None:
    run.pump(8.0)
    _whole_overview(run.text())
    run.resize(80, 24)  # compact: one line per GPU
    run.pump(4.0)
    text = run.text()
    assert _lines(text) == [str(i) for i in range(8)], text
    assert "╭─ GPU" not in text and "Quit" in text.splitlines()[-1], text
    run.resize(120, 40)  # the larger layout again, where the smaller screen cropped everything
    run.pump(4.0)
    _whole_overview(run.text())
    assert b"Traceback" not in run.output
