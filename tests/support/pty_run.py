"""The real program on the slave side of a pseudo-terminal of a given size, its output read
through a terminal emulator (pyte): what a person at that terminal would see."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time

import pyte

from tests.support.cli import ROOT
from tests.support.lanes import require_marker

__all__ = ["PtyRun"]


class PtyRun:
    """`python -m gputop ...` on the slave side of a pty of a given size."""

    def __init__(
        self, args: list[str], cols: int, rows: int, env: dict[str, str] | None = None
    ) -> None:
        require_marker("e2e", "the program in a pseudo-terminal")
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
