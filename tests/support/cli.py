"""The real program run once from the command line, away from the user's own config.

`isolated_env` (a fixture) does the same for the test's own process, where monitors are built
in-process, and gives the environment for a `gputop` subprocess; `cli_monitor` is the monitor
`gputop --prometheus URL` builds, in-process."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gputop.cli import build_parser
from gputop.commands import build_monitor, settings_from_args
from gputop.monitor import Monitor

__all__ = ["ROOT", "cli_monitor", "isolated", "isolated_env", "run_gputop"]

ROOT = Path(__file__).resolve().parents[2]


def isolated(tmp_path: Path) -> dict[str, str]:
    """This environment without GPUTOP_* settings and with no config file to find."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUTOP_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "no-config")
    return env


def run_gputop(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m gputop ARGS` in an isolated environment; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "gputop", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=isolated(tmp_path),
    )


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No config file or GPUTOP_* variable of the machine running the tests reaches gputop;
    the environment for a `gputop` subprocess."""
    for name in list(os.environ):
        if name.startswith("GPUTOP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return dict(os.environ)


@contextlib.contextmanager
def cli_monitor(url: str) -> Iterator[Monitor]:
    """The monitor `gputop --prometheus URL` builds (no demo node; NVML only if present)."""
    args = build_parser().parse_args(["--prometheus", url])
    monitor = build_monitor(settings_from_args(args))
    try:
        yield monitor
    finally:
        monitor.close()
