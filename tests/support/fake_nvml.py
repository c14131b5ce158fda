"""The stand-in libnvidia-ml.so.1 (fake_nvml.c): build it, and run programs against it.

pynvml loads the library once per process, so code meant to see the stand-in runs in a
subprocess with `LD_LIBRARY_PATH` pointing at the built library. `build_fake_nvml` is plain
Python so a benchmark script can use it outside pytest.

Fixtures: `fake_nvml` (session: a `FakeNvml` over the built library) and `no_nvml` (a
`FakeNvml` over an empty folder, skipped when the system has a real libnvidia-ml).
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["LIBRARY_NAME", "SOURCE", "FakeNvml", "build_fake_nvml", "fake_nvml", "no_nvml"]

SOURCE = Path(__file__).with_name("fake_nvml.c")
LIBRARY_NAME = "libnvidia-ml.so.1"
ROOT = Path(__file__).resolve().parents[2]


def build_fake_nvml(dest_dir: str | os.PathLike[str]) -> Path:
    """Compile fake_nvml.c into dest_dir/libnvidia-ml.so.1 (unless it is up to date).

    Returns the folder holding the library. Raises RuntimeError with one line when gcc is
    missing or the build fails.
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / LIBRARY_NAME
    if target.exists() and target.stat().st_mtime >= SOURCE.stat().st_mtime:
        return dest
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise RuntimeError("cannot build the NVML stand-in: no C compiler (gcc) on PATH")
    # Build beside the target and rename, so a concurrent reader never sees half a file.
    fd, partial = tempfile.mkstemp(prefix=".libnvidia-ml.", suffix=".so", dir=dest)
    os.close(fd)
    cmd = [cc, "-shared", "-fPIC", "-O2", "-Wall", "-o", partial, str(SOURCE), "-lm", "-lpthread"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        os.unlink(partial)
        first = (result.stderr.strip().splitlines() or ["no output"])[0]
        raise RuntimeError(f"cannot build the NVML stand-in: {first}")
    os.chmod(partial, 0o755)
    os.replace(partial, target)
    return dest


def system_has_nvml() -> bool:
    """Whether the dynamic loader would find a real libnvidia-ml without LD_LIBRARY_PATH."""
    return ctypes.util.find_library("nvidia-ml") is not None


@dataclass(frozen=True)
class FakeNvml:
    """Runs programs with `library_dir` first on LD_LIBRARY_PATH.

    Settings are the stand-in's environment variables without the prefix, e.g.
    `gpus=4, not_supported="power,fan", lost_gpu=2, lost_after=0.5, no_driver=True`.
    """

    library_dir: Path

    def env(self, **settings: Any) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_NVML_")}
        previous = env.get("LD_LIBRARY_PATH")
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(self.library_dir), previous) if p)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        for key, value in settings.items():
            if value is None or value is False:
                continue
            env[f"FAKE_NVML_{key.upper()}"] = "1" if value is True else str(value)
        return env

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 60.0,
        extra_env: Mapping[str, str] | None = None,
        **settings: Any,
    ) -> subprocess.CompletedProcess[str]:
        """Run a program against the stand-in (with `extra_env` set too); output is captured
        as text."""
        return subprocess.run(
            list(argv),
            env={**self.env(**settings), **(extra_env or {})},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def python(
        self, code: str, *, timeout: float = 60.0, **settings: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run `python -c code` (this interpreter) against the stand-in."""
        return self.run([sys.executable, "-c", code], timeout=timeout, **settings)


@pytest.fixture(scope="session")
def fake_nvml(tmp_path_factory: pytest.TempPathFactory) -> FakeNvml:
    try:
        library_dir = build_fake_nvml(tmp_path_factory.mktemp("fake-nvml"))
    except RuntimeError as exc:
        pytest.skip(str(exc))
    return FakeNvml(library_dir)


@pytest.fixture(scope="session")
def no_nvml(tmp_path_factory: pytest.TempPathFactory) -> FakeNvml:
    """No NVML at all: LD_LIBRARY_PATH is an empty folder."""
    if system_has_nvml():
        pytest.skip("this machine has a real libnvidia-ml; cannot hide it")
    return FakeNvml(tmp_path_factory.mktemp("no-nvml"))
