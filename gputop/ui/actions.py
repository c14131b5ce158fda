"""The actions that change something outside gputop, and what guards them.

Three actions exist: silence a rule in Alertmanager, expire a silence, signal a GPU process.
Each is a binding whose action name is in `GUARDED_ACTIONS`: with `--read-only` (and in a
kiosk) the screens hide those bindings, their keys answer "read-only", and the app refuses
the action even when called directly. Each asks for confirmation in a dialog first.

Signalling checks the pid still names the process that was listed (same start time) before
sending anything, so a pid reused since the last reading is never hit; failures come back as
one line ("not permitted: ..."), never as an exception through the UI.
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
from collections.abc import Iterable

import psutil
from textual.binding import Binding, BindingType

from gputop.core.jobs import job_words
from gputop.core.models import ProcessSample

__all__ = [
    "GUARDED_ACTIONS",
    "READ_ONLY_MESSAGE",
    "ActionError",
    "created_by",
    "describe_process",
    "guarded_keys",
    "is_guarded",
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
    """`pid 1234 (alice) in pod inference/t2v-worker-1: python -m serve` for dialogs and
    messages: the process and the job it belongs to (before its command, which can be long)."""
    user = f" ({proc.user})" if proc.user else ""
    jobs = [j for j in proc.jobs if j.kind != "user"]  # its user is named already
    job = f" in {job_words(jobs[0])}" if jobs else ""
    command = f"{':' if job else ''} {proc.command}" if proc.command else ""
    return f"pid {proc.pid}{user}{job}{command}"


def signal_process(proc: ProcessSample, sig: signal.Signals) -> str:
    """Send `sig` to the listed process; returns what was done, raises ActionError."""
    try:
        live = psutil.Process(proc.pid)
        started = live.create_time()
    except psutil.NoSuchProcess:
        raise ActionError(f"pid {proc.pid} has exited; nothing sent") from None
    except psutil.Error as exc:
        raise ActionError(f"pid {proc.pid} cannot be inspected: {exc}") from None
    if proc.started is not None and abs(started - proc.started) > _START_TOLERANCE_S:
        raise ActionError(f"pid {proc.pid} is now another process; nothing sent")
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        raise ActionError(f"pid {proc.pid} has exited; nothing sent") from None
    except PermissionError:
        owner = f" (it belongs to {proc.user})" if proc.user else ""
        raise ActionError(f"not permitted to signal pid {proc.pid}{owner}") from None
    except OSError as exc:
        raise ActionError(f"cannot signal pid {proc.pid}: {exc.strerror}") from None
    return f"{sig.name} sent to {describe_process(proc)}"
