"""The real program in a real pseudo-terminal, among hostile neighbours: a process on the GPU
whose name (`exec -a`) sets the clipboard (OSC 52) and the window title (OSC 0), listed by the
NVML stand-in, and a Prometheus and Alertmanager whose every string does the same. The bytes
that reach the terminal carry none of it, the words show as text, and the program keeps
running: the dashboard (processes, fleet, alerts, a firing toast and --notify) and the kiosk
cycling its pages, at 80x24 and 120x40."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import isolated
from tests.support.fake_nvml import FakeNvml
from tests.support.hostile_server import HOSTILE, HostileServer
from tests.support.pty_run import PtyRun

pytestmark = pytest.mark.e2e

#: Escape sequences and characters no data may send: OSC 52 and OSC 0, C1 controls (as UTF-8),
#: bidi overrides and isolates.
FORBIDDEN = re.compile(
    rb"\x1b\]52|\x1b\]0;|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]"
)


@pytest.fixture
def neighbour() -> Iterator[int]:
    """A process of this machine named like an attack, as `exec -a` names one."""
    proc = subprocess.Popen(["bash", "-c", 'exec -a "$0" sleep 600', f"evil{HOSTILE}"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer(gpus=2) as srv:
        yield srv


@pytest.fixture
def runs() -> Iterator[list[PtyRun]]:
    started: list[PtyRun] = []
    yield started
    for run in started:
        run.close()


def _watch(run: PtyRun, seconds: float, screens: list[str]) -> None:
    """Read the program for `seconds`, keeping each screen; it must keep running."""
    for _ in range(max(1, round(seconds))):
        run.pump(1.0)
        assert run.proc.poll() is None, run.output[-2000:].decode("utf-8", "replace")
        screens.append("\n".join(run.lines()))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("mode", ["dashboard", "kiosk"])
def test_hostile_neighbours_never_reach_the_terminal(
    fake_nvml: FakeNvml,
    neighbour: int,
    server: HostileServer,
    runs: list[PtyRun],
    tmp_path: Path,
    size: tuple[int, int],
    mode: str,
) -> None:
    env = {**isolated(tmp_path), **fake_nvml.env(gpus=2, pid=neighbour)}
    config = tmp_path / "config.toml"
    config.write_text("[ui]\nkiosk_page_seconds = 2\n")
    args = ["--config", str(config), "--prometheus", server.url, "--alertmanager", server.url]
    args += ["--kiosk"] if mode == "kiosk" else ["--notify"]
    run = PtyRun(args, *size, env=env)
    runs.append(run)
    screens: list[str] = []
    _watch(run, 5, screens)
    if mode == "dashboard":  # the processes until the firing toasts (10 s) are gone
        keys = ((b"p", 10), (b"\x1b", 1), (b"f", 2), (b"\x1b", 1), (b"a", 2), (b"\x1b", 1))
        for key, seconds in keys:  # a pause after escape: "escape q" would read as alt+q
            run.send(key)
            _watch(run, seconds, screens)
    else:
        _watch(run, 12, screens)  # pages cycle every 2 s: overview, processes, fleet, alerts
    seen = "\n".join(screens)
    assert "evil␛]52;c;" in seen, screens[-1]  # the process name, shown as text
    assert "␛]0;pwned␇" in seen
    if mode == "dashboard":
        run.send(b"q")
    else:
        run.send(b"\x18")  # the exit chord: ctrl+x, then ctrl+c
        run.send(b"\x03")
    assert run.wait(15) == 0, run.output[-2000:].decode("utf-8", "replace")
    found = FORBIDDEN.search(bytes(run.output))
    assert found is None, bytes(run.output)[max(0, found.start() - 80) : found.end() + 80]
    assert b"Traceback" not in run.output
