"""The actions that change something outside gputop, and what guards them.

Three actions exist: silence a rule in Alertmanager, expire a silence, signal a GPU process.
Each is a binding whose action name is in `GUARDED_ACTIONS`: with `--read-only` (and in a
kiosk) the screens hide those bindings, their keys answer "read-only", and the app refuses
the action even when called directly. Each asks for confirmation in a dialog first.

Signalling is refused for pid 0 and 1 and for kernel threads, and for any process whose
identity cannot be confirmed just before sending: its start time is read again and must be
the one listed, and the GPUs' processes are read again and must still hold it, so a pid
reused since the last reading is never hit. Every refusal and failure comes back as one line
saying why ("not permitted: ...", "is a kernel thread"), never as an exception through the UI.
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from textual.binding import Binding, BindingType

from gputop.core.models import ProcessSample

if TYPE_CHECKING:
    import psutil

__all__ = [
    "GUARDED_ACTIONS",
    "READ_ONLY_MESSAGE",
    "ActionError",
    "confirm_process",
    "created_by",
    "describe_process",
    "guarded_keys",
    "is_guarded",
    "kernel_thread_stat",
    "signal_process",
]

#: Action names (without namespace or arguments) that change something outside gputop.
GUARDED_ACTIONS = frozenset({"silence", "expire_silence", "signal_process"})
READ_ONLY_MESSAGE = "read-only: silences and process signals are off"
#: A listed process and the live one match when started within this many seconds.
_START_TOLERANCE_S = 1.0


class ActionError(Exception):
    """An action that could not be done; `str()` is one line for the screen."""


def is_guarded(action: str) -> bool:
    return action.split("(")[0].rsplit(".", 1)[-1] in GUARDED_ACTIONS


def guarded_keys(bindings: Iterable[BindingType]) -> set[str]:
    """The keys of the bindings that run a guarded action."""
    return {b.key for b in Binding.make_bindings(bindings) if is_guarded(b.action)}


def created_by() -> str:
    """`user@host`, as a silence's `createdBy`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def describe_process(proc: ProcessSample) -> str:
    """`pid 1234 (alice) python -m serve` for dialogs and messages."""
    user = f" ({proc.user})" if proc.user else ""
    command = f" {proc.command}" if proc.command else ""
    return f"pid {proc.pid}{user}{command}"


#: The kernel's flag for its own threads, in /proc/<pid>/stat.
_PF_KTHREAD = 0x00200000


def kernel_thread_stat(stat: str) -> bool:
    """Whether a /proc/<pid>/stat line is a kernel thread's (its flags, the ninth field,
    counted after the command name, which may hold spaces and parentheses)."""
    fields = stat.rsplit(")", 1)[1].split()
    return bool(int(fields[6]) & _PF_KTHREAD)


def _kernel_thread(live: psutil.Process) -> bool:
    """Whether the process is a kernel thread (kthreadd, pid 2, and its children)."""
    import psutil

    try:
        return kernel_thread_stat(Path(f"/proc/{live.pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        pass
    try:
        return live.pid == 2 or live.ppid() == 2
    except psutil.Error:
        return False


def _same_gpu(a: ProcessSample, b: ProcessSample) -> bool:
    if a.gpu_uuid and b.gpu_uuid:
        return a.gpu_uuid == b.gpu_uuid
    return a.gpu_index == b.gpu_index


def confirm_process(proc: ProcessSample, current: Sequence[ProcessSample] | None) -> psutil.Process:
    """The live process behind a listed one, if it may be signalled: not pid 0 or 1, not a
    kernel thread, started when listed, and (`current`: the GPUs' processes read again just
    now; None when they could not be read) still on its GPU. Raises ActionError saying why."""
    import psutil  # loaded with the first action on a process

    pid = proc.pid
    if pid <= 1:
        what = "the init process" if pid == 1 else "not a process"
        raise ActionError(f"pid {pid} is {what}: gputop never signals it")
    if proc.started is None:
        raise ActionError(
            f"pid {pid}: its start time is unknown, so it cannot be confirmed to be the "
            "process listed; nothing sent"
        )
    try:
        live = psutil.Process(pid)
        started = live.create_time()
    except psutil.NoSuchProcess:
        raise ActionError(f"pid {pid} has exited; nothing sent") from None
    except psutil.Error:
        raise ActionError(f"pid {pid} cannot be inspected to confirm it; nothing sent") from None
    if abs(started - proc.started) > _START_TOLERANCE_S:
        raise ActionError(f"pid {pid} is now another process; nothing sent")
    if _kernel_thread(live):
        raise ActionError(f"pid {pid} is a kernel thread: gputop never signals it")
    if current is None:
        raise ActionError(
            f"the GPUs' processes cannot be read now to confirm pid {pid} is still on GPU "
            f"{proc.gpu_index}; nothing sent"
        )
    if not any(p.pid == pid and _same_gpu(p, proc) for p in current):
        raise ActionError(f"pid {pid} no longer uses GPU {proc.gpu_index}; nothing sent")
    return live


def signal_process(
    proc: ProcessSample, sig: signal.Signals, current: Sequence[ProcessSample] | None
) -> str:
    """Send `sig` to the listed process once confirmed (see `confirm_process`, `current` the
    GPUs' processes read just now); returns what was done, raises ActionError."""
    import psutil

    live = confirm_process(proc, current)
    try:
        live.send_signal(sig)  # psutil refuses, too, a pid reused since it was confirmed
    except psutil.NoSuchProcess:
        raise ActionError(f"pid {proc.pid} has exited; nothing sent") from None
    except psutil.AccessDenied:
        owner = f" (it belongs to {proc.user})" if proc.user else ""
        raise ActionError(f"not permitted to signal pid {proc.pid}{owner}") from None
    except (psutil.Error, OSError) as exc:
        raise ActionError(f"cannot signal pid {proc.pid}: {exc}") from None
    return f"{sig.name} sent to {describe_process(proc)}"
