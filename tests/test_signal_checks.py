"""Which processes may be signalled: never pid 0 or 1, never a kernel thread, never one whose
identity cannot be confirmed just before sending (its start time read again, the GPUs'
processes read again); each refusal says why, and nothing is sent."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil
import pytest

from gputop.core.models import ProcessSample
from gputop.ui.actions import ActionError, confirm_process, kernel_thread_stat, signal_process
from gputop.ui.app import GpuTopApp
from gputop.ui.screens.confirm import ConfirmScreen
from gputop.ui.screens.processes import ProcessesScreen
from tests.support.guarded import FakeAlertmanager, ListedProcess, guarded_monitor
from tests.support.ui import screen_lines

#: /proc/2/stat of a Linux 6.x kthreadd: flags 2129984 hold PF_KTHREAD (0x00200000).
KTHREADD = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 6 0 0"
#: A user process whose name holds ") " (the name is not split on).
USER = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 120 0 0 0 1 0 0 0 20 0 1 0 90 0 0"


def _listed(pid: int, started: float | None, gpu: int = 0) -> ProcessSample:
    return ProcessSample(gpu, f"GPU-{gpu}", pid, 512.0, user="alice", started=started)


def _kernel_thread_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if kernel_thread_stat((entry / "stat").read_text()):
                    return int(entry.name)
            except (OSError, ValueError, IndexError):
                continue
    return None


@pytest.mark.parametrize(("pid", "says"), [(1, "is the init process"), (0, "is not a process")])
def test_pid_0_and_1_are_never_signalled(kills: list[tuple[int, int]], pid: int, says: str) -> None:
    listed = _listed(pid, 0.0)
    with pytest.raises(ActionError, match=f"pid {pid} {says}: gputop never signals it"):
        signal_process(listed, signal.SIGKILL, [listed])
    assert kills == []


def test_a_kernel_thread_is_never_signalled(kills: list[tuple[int, int]]) -> None:
    assert kernel_thread_stat(KTHREADD) and not kernel_thread_stat(USER)
    pid = _kernel_thread_pid()
    if pid is None:  # a container that shows no kernel thread: the stat lines above stand
        return
    listed = _listed(pid, psutil.Process(pid).create_time())
    with pytest.raises(ActionError, match=f"pid {pid} is a kernel thread"):
        signal_process(listed, signal.SIGTERM, [listed])
    assert kills == []


def test_a_process_without_a_start_time_cannot_be_confirmed(
    child: ListedProcess, kills: list[tuple[int, int]]
) -> None:
    listed = _listed(child.pid, None)
    with pytest.raises(ActionError, match=r"start time is unknown.*nothing sent"):
        signal_process(listed, signal.SIGTERM, [listed])
    assert kills == [] and child.alive()


def test_a_process_no_longer_on_its_gpu_is_not_signalled(
    child: ListedProcess, kills: list[tuple[int, int]]
) -> None:
    listed = _listed(child.pid, psutil.Process(child.pid).create_time())
    with pytest.raises(ActionError, match=f"pid {child.pid} no longer uses GPU 0"):
        signal_process(listed, signal.SIGTERM, [])
    with pytest.raises(ActionError, match="no longer uses GPU 0"):
        signal_process(listed, signal.SIGTERM, [_listed(child.pid, listed.started, gpu=1)])
    with pytest.raises(ActionError, match="cannot be read now"):
        signal_process(listed, signal.SIGTERM, None)
    assert kills == [] and child.alive()
    assert confirm_process(listed, [listed]).pid == child.pid
    assert signal_process(listed, signal.SIGTERM, [listed]).startswith("SIGTERM sent")
    assert kills == [(child.pid, signal.SIGTERM)]


async def test_the_gpu_is_read_again_between_the_question_and_the_signal(
    child: ListedProcess, kills: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = GpuTopApp(guarded_monitor(child.pid, FakeAlertmanager()), poll=False)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        app.push_screen(ProcessesScreen())
        await pilot.pause()
        await pilot.press("k")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        monkeypatch.setattr(app.monitor, "processes_now", lambda: ())  # it left the GPU
        await pilot.press("y")
        await pilot.pause()
        assert f"pid {child.pid} no longer uses GPU" in "\n".join(screen_lines(app))
        assert app.is_running
    assert kills == [] and child.alive()
