"""Helpers for the real servers the tests start: free loopback ports, starting with a log and
waiting for `/-/ready`, stopping by pid, and the rule that a missing server binary skips a
test locally but fails it under CI."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.lanes import require_marker

__all__ = ["free_port", "log_tail", "require_binaries", "spawn", "stop_process", "wait_ready"]


def require_binaries(paths: Sequence[str], package: str) -> None:
    """Skip the test when a binary is missing; under CI (`CI` set) that is a failure."""
    missing = [p for p in paths if not os.access(p, os.X_OK)]
    if not missing:
        return
    message = f"{' and '.join(missing)} not found: install the Debian package '{package}'"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any] | None, grace: float = 10.0) -> None:
    """Terminate, wait, then kill: by this process's own pid only."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace)


def spawn(cmd: Sequence[str], *, cwd: Path, log: Path, marker: str) -> subprocess.Popen[bytes]:
    """Start a server with its output appended to `log`, from a test marked `marker`."""
    require_marker(marker, Path(cmd[0]).name)
    with log.open("ab") as out:
        return subprocess.Popen(list(cmd), cwd=cwd, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(url: str, proc: subprocess.Popen[Any], timeout: float, log: Path) -> bool:
    """Wait until `url/-/ready` answers 200: True; False when the process exits first (its
    port was taken meanwhile, say: start it again on another); raises after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                return True
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready in {timeout:.0f} s: {log_tail(log)}")


def log_tail(log: Path, chars: int = 800) -> str:
    """The end of a server's log, for an error message."""
    try:
        return log.read_text(errors="replace").strip()[-chars:]
    except OSError:
        return "(no log)"
