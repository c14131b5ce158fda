"""Helpers for the real servers the tests start: free loopback ports, stopping by pid, and
the rule that a missing server binary skips a test locally but fails it under CI."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Sequence
from typing import Any

import pytest

__all__ = ["free_port", "require_binaries", "stop_process"]


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
