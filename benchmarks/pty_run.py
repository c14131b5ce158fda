"""Run a terminal program in a pseudo-terminal and measure what it costs.

Measures, per run: CPU seconds of the process (whole run and steady state after a warm-up),
bytes it writes to the terminal (whole run and steady state), the time to its first byte, to a
first frame and to a complete screen on the emulated screen, peak resident memory, and when
it exited by itself. An `on_screen` callback sees the screen after every write (and about
every 50 ms without one) and may type keys: a benchmark's probe of input latency or the clock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pyte

from benchmarks.regions import RowBytes

__all__ = ["OnScreen", "RunResult", "run_in_pty"]

_TICKS = os.sysconf("SC_CLK_TCK")
#: (seconds since start, the screen's lines or None) -> bytes to type into the program.
OnScreen = Callable[[float, "list[str] | None"], bytes]


@dataclass(frozen=True)
class RunResult:
    name: str
    seconds: float
    warmup: float
    cpu_total_s: float
    cpu_steady_s: float
    bytes_total: int
    bytes_steady: int
    first_frame_s: float | None
    peak_rss_mb: float
    final_screen: str
    row_bytes_steady: tuple[int, ...] = ()  # steady-state bytes charged to each screen row
    unplaced_bytes_steady: int = 0  # steady-state bytes written with the cursor's row unknown
    first_byte_s: float | None = None  # the first byte the program wrote to the terminal
    complete_s: float | None = None  # the first screen `screen_complete` accepts
    exited_s: float | None = None  # when the program ended by itself (before `seconds`)

    @property
    def cpu_pct_total(self) -> float:
        return 100.0 * self.cpu_total_s / self.seconds

    @property
    def cpu_pct_steady(self) -> float:
        return 100.0 * self.cpu_steady_s / (self.seconds - self.warmup)

    @property
    def bytes_per_s_steady(self) -> float:
        return self.bytes_steady / (self.seconds - self.warmup)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def run_in_pty(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cols: int = 120,
    rows: int = 40,
    seconds: float = 30.0,
    warmup: float = 5.0,
    frame_complete: Callable[[str], bool],
    screen_complete: Callable[[str], bool] | None = None,
    quit_keys: bytes = b"q",
    keys: Sequence[tuple[float, bytes]] = (),
    on_screen: OnScreen | None = None,
    cwd: str | None = None,
) -> RunResult:
    """Run `argv` for `seconds`; `keys` are (seconds after start, bytes) typed into it.

    `frame_complete` says when the first frame is on screen, `screen_complete` (default: the
    same) when the screen is complete; `on_screen(t, lines)` is called with the seconds since
    start and the screen's lines after each write, and with None for the lines when nothing
    came for a while; what it returns is typed into the program."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    screen = pyte.Screen(cols, rows)
    stream = pyte.ByteStream(screen)
    rows_bytes = RowBytes(rows)
    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=dict(env),
        start_new_session=True,
        close_fds=True,
        cwd=cwd,
    )
    os.close(slave)
    total = steady = 0
    pending = sorted(keys)
    first_frame: float | None = None
    first_byte: float | None = None
    complete: float | None = None
    exited: float | None = None
    complete_check = screen_complete or frame_complete
    cpu_at_warmup: float | None = None
    cpu_total = peak = 0.0
    try:
        while True:
            now = time.monotonic() - started
            if now >= seconds:
                break
            while pending and now >= pending[0][0]:
                os.write(master, pending.pop(0)[1])
            if cpu_at_warmup is None and now >= warmup:
                cpu_at_warmup = _cpu_seconds(proc.pid)
                steady = 0
                rows_bytes.reset()
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                if proc.poll() is not None:
                    exited = time.monotonic() - started
                    break
                # kept as it goes: once it has exited (a zombie) there is no memory to read
                cpu_total = max(cpu_total, _cpu_seconds(proc.pid))
                peak = max(peak, _peak_rss_mb(proc.pid))
                if on_screen is not None:
                    _type(master, on_screen(time.monotonic() - started, None))
                continue
            try:
                data = os.read(master, 65536)
            except OSError:
                exited = time.monotonic() - started
                break
            at = time.monotonic() - started
            if first_byte is None:
                first_byte = at
            total += len(data)
            steady += len(data)
            stream.feed(data)
            rows_bytes.feed(data)
            if first_frame is None or complete is None or on_screen is not None:
                lines = list(screen.display)
                text = "\n".join(lines)
                if first_frame is None and frame_complete(text):
                    first_frame = at
                if complete is None and complete_check(text):
                    complete = at
                if on_screen is not None:
                    _type(master, on_screen(at, lines))
        if exited is None:
            cpu_total = max(cpu_total, _cpu_seconds(proc.pid))
            peak = max(peak, _peak_rss_mb(proc.pid))
    finally:
        _stop(proc, master, quit_keys)
    elapsed = min(seconds, time.monotonic() - started)
    return RunResult(
        name=name,
        seconds=elapsed,
        warmup=warmup,
        cpu_total_s=cpu_total,
        cpu_steady_s=cpu_total - (cpu_at_warmup or 0.0),
        bytes_total=total,
        bytes_steady=steady if cpu_at_warmup is not None else 0,
        first_frame_s=first_frame,
        peak_rss_mb=peak,
        final_screen="\n".join(screen.display),
        row_bytes_steady=tuple(rows_bytes.counts) if cpu_at_warmup is not None else (),
        unplaced_bytes_steady=rows_bytes.other if cpu_at_warmup is not None else 0,
        first_byte_s=first_byte,
        complete_s=complete,
        exited_s=exited,
    )


def _type(master: int, keys: bytes) -> None:
    if keys:
        with contextlib.suppress(OSError):
            os.write(master, keys)


def _stop(proc: subprocess.Popen[bytes], master: int, quit_keys: bytes) -> None:
    try:
        os.write(master, quit_keys)
        proc.wait(timeout=3)
    except (OSError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=3)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    finally:
        try:
            while select.select([master], [], [], 0)[0] and os.read(master, 65536):
                pass
        except OSError:
            pass
        os.close(master)
