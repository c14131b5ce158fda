"""The real program in a pseudo-terminal, as a wall screen and as an on-call engineer uses it:
a kiosk riding through a Prometheus outage and leaving only by its chord or a signal, and a
SIGTERM sent from the processes table to a process the stand-in NVML lists on a GPU, naming the
Slurm job the process's cgroup (in a fake proc root) puts it in."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.fake_nvml import FakeNvml
from tests.support.prometheus_server import PromStack
from tests.support.pty_run import PtyRun

pytestmark = pytest.mark.e2e

RULES = Path(__file__).parent / "data" / "rules-fast.yml"


@pytest.fixture
def runs() -> Iterator[list[PtyRun]]:
    started: list[PtyRun] = []
    yield started
    for run in started:
        run.close()


def wait_screen(run: PtyRun, check: Callable[[str], bool], what: str, timeout: float) -> str:
    """Pump the program's output until the screen passes `check`; fail saying what is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.pump(0.5)
        text = "\n".join(run.lines())
        if check(text):
            return text
        assert run.proc.poll() is None, run.output[-2000:].decode("utf-8", "replace")
    raise AssertionError(f"{what} not on screen within {timeout:.0f} s:\n" + "\n".join(run.lines()))


@pytest.mark.prometheus
def test_kiosk_stale_banner_through_an_outage_and_only_the_chord_quits(
    prometheus_factory: Callable[..., PromStack], isolated_env: dict[str, str], runs: list[PtyRun]
) -> None:
    stack = prometheus_factory(nodes=1, gpus=4, history_s=60, rule_files=[RULES])
    config = Path(isolated_env["XDG_CONFIG_HOME"]) / "gputop" / "config.toml"
    config.parent.mkdir(parents=True)
    # a wall screen starts with just `gputop --kiosk`: the rest is in the config file
    config.write_text(f'[prometheus]\nurl = "{stack.url}"\n[ui]\nkiosk_page_seconds = 600\n')
    run = PtyRun(["--kiosk"], cols=120, rows=40, env=isolated_env)
    runs.append(run)
    wait_screen(run, lambda t: "GPU 3" in t and "● prometheus" in t, "the GPUs", 30)
    assert "STALE" not in "\n".join(run.lines())

    stack.engine.kill()
    text = wait_screen(run, lambda t: "STALE" in t, "the STALE banner", 20)
    assert "prometheus (data from " in text and "): unreachable" in text
    assert "GPU 3" in text  # the last known readings stay

    stack.engine.start()  # the same port
    wait_screen(run, lambda t: "STALE" not in t, "recovery", 90)

    for keys in (b"q", b"\x11", b"\x03", b"?", b"p", b"\x1b"):  # q, ctrl+q, ctrl+c, ?, p, esc
        run.send(keys)
    run.pump(2.0)
    assert run.proc.poll() is None, "a key other than the chord ended the kiosk"
    text = "\n".join(run.lines())
    assert "Keys" not in text and "Quit" not in text  # no help box, no footer
    run.send(b"\x18")  # ctrl+x
    run.send(b"\x03")  # ctrl+c
    assert run.wait(15) == 0, run.output[-2000:].decode("utf-8", "replace")
    assert b"Traceback" not in run.output


@pytest.mark.prometheus
def test_a_kiosk_starts_with_every_source_down_and_keeps_trying(
    prometheus_factory: Callable[..., PromStack],
    no_nvml: FakeNvml,
    isolated_env: dict[str, str],
    runs: list[PtyRun],
) -> None:
    stack = prometheus_factory(nodes=1, gpus=2, history_s=60, rule_files=[RULES])
    stack.engine.kill()  # down before the wall screen boots
    env = {**isolated_env, **no_nvml.env()}
    run = PtyRun(["--kiosk", "--prometheus", stack.url], cols=100, rows=30, env=env)
    runs.append(run)
    text = wait_screen(run, lambda t: "STALE" in t, "the STALE banner", 30)
    assert "prometheus (no data yet): unreachable" in text
    run.pump(3.0)
    assert run.proc.poll() is None  # nothing to show is no reason to leave
    stack.engine.start()  # the same port
    wait_screen(run, lambda t: "GPU 1" in t and "STALE" not in t, "the GPUs, fresh", 90)
    run.proc.send_signal(signal.SIGTERM)
    assert run.wait(15) == 0
    assert b"Traceback" not in run.output


def test_a_kiosk_without_any_gpu_yet_waits_for_one(
    no_nvml: FakeNvml, isolated_env: dict[str, str], runs: list[PtyRun]
) -> None:
    run = PtyRun(["--kiosk"], cols=100, rows=30, env={**isolated_env, **no_nvml.env()})
    runs.append(run)
    text = wait_screen(run, lambda t: "STALE" in t, "the STALE banner", 30)
    assert "nvml (no data yet): NVML not found" in text  # not "exit 2": it keeps trying
    run.proc.send_signal(signal.SIGTERM)
    assert run.wait(15) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_kiosk_ends_cleanly_on_a_signal_from_outside(
    sig: signal.Signals, isolated_env: dict[str, str], runs: list[PtyRun]
) -> None:
    run = PtyRun(["--demo", "--kiosk"], cols=80, rows=24, env=isolated_env)
    runs.append(run)
    wait_screen(run, lambda t: "GPU" in t or "▕" in t, "the demo", 30)
    run.proc.send_signal(sig)
    assert run.wait(15) == 0, run.output[-2000:].decode("utf-8", "replace")
    assert b"Traceback" not in run.output
    assert run.output.rstrip().endswith(b"\x1b[?1049l") or b"\x1b[?1049l" in run.output[-200:]


def test_sigterm_from_the_processes_table_reaches_the_listed_process(
    fake_nvml: FakeNvml, isolated_env: dict[str, str], runs: list[PtyRun]
) -> None:
    marker = Path(isolated_env["XDG_CONFIG_HOME"]).parent / "got-sigterm"
    code = (
        "import pathlib, signal, sys, time\n"
        "def bye(*_):\n"
        f"    pathlib.Path({str(marker)!r}).write_text('SIGTERM')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('ready', flush=True)\n"
        "time.sleep(300)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        # the process runs in a Slurm job: its cgroup says so (a fake proc root, never ours)
        proc_root = Path(isolated_env["XDG_CONFIG_HOME"]).parent / "proc"
        (proc_root / str(child.pid)).mkdir(parents=True)
        (proc_root / str(child.pid) / "cgroup").write_text("0::/slurm/uid_0/job_4242/step_0\n")
        env = {**isolated_env, **fake_nvml.env(gpus=2, pid=child.pid)}
        env["GPUTOP_PROC_ROOT"] = str(proc_root)
        run = PtyRun([], cols=120, rows=40, env=env)
        runs.append(run)
        wait_screen(run, lambda t: "GPU 1" in t, "the stand-in GPUs", 30)
        run.send(b"p")
        wait_screen(run, lambda t: str(child.pid) in t, "the listed process", 15)
        assert "job 4242" in wait_screen(run, lambda t: "JOB" in t, "the job column", 5)
        run.send(b"k")
        question = f"Send SIGTERM to pid {child.pid}"
        text = wait_screen(run, lambda t: question in t, "the question", 10)
        assert "in Slurm job 4242" in text  # the job it belongs to, before it is hit
        assert child.poll() is None  # asking sends nothing
        run.send(b"y")
        assert child.wait(15) == 0
        assert marker.read_text() == "SIGTERM"
        outcome = f"SIGTERM sent to pid {child.pid}"
        text = wait_screen(run, lambda t: outcome in t, "the outcome", 10)
        assert "in Slurm job 4242" in text
        run.send(b"q")
        assert run.wait(15) == 0
        assert b"Traceback" not in run.output
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)
