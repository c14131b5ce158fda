"""The real program run once from the command line, away from the user's own config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["ROOT", "isolated", "run_gputop"]

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
