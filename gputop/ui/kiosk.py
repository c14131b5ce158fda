"""A wall screen that cannot be knocked over: the exit chord, the pages worth showing, and the
words of the STALE banner. Plain logic, no widgets; the app wires it.

In `--kiosk` every key and mouse event is dropped except one documented chord, `ctrl+x` then
`ctrl+c` within `CHORD_S` (the Emacs exit, which no one presses leaning on a keyboard);
SIGTERM, SIGINT and SIGHUP from outside end it cleanly too. Pages cycle only among those with
something to show, and a banner names every source in use that is failing, with since when.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gputop.core.models import SourceStatus
from gputop.core.units import format_clock
from gputop.monitor import Monitor

__all__ = ["CHORD_KEYS", "CHORD_S", "ExitChord", "kiosk_pages", "stale_banner_lines"]

#: The kiosk's one way out from the keyboard, in order.
CHORD_KEYS = ("ctrl+x", "ctrl+c")
#: Seconds between the chord's two keys.
CHORD_S = 3.0


class ExitChord:
    """Feeds keys; `press` is True when the last key completes the chord in time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._at: float | None = None  # when the first key came

    def press(self, key: str) -> bool:
        now = self._clock()
        if key == CHORD_KEYS[1] and self._at is not None and now - self._at <= CHORD_S:
            self._at = None
            return True
        self._at = now if key == CHORD_KEYS[0] else None
        return False


def kiosk_pages(monitor: Monitor) -> list[str]:
    """The pages of the kiosk cycle: the overview, and each other page that has something to
    show now (processes on the GPUs, GPUs in Prometheus, alerts or silences)."""
    pages = ["overview"]
    if monitor.processes():
        pages.append("processes")
    if monitor.remote is not None and monitor.remote.gpus():
        pages.append("fleet")
    am = monitor.alertmanager
    if am is not None and am.view is not None and (am.view.alerts or am.view.active_silences()):
        pages.append("alerts")
    return pages


def stale_banner_lines(monitor: Monitor) -> list[str]:
    """`STALE`, then one line per failing source in use (`prometheus (data from 14:03:12):
    unreachable`); empty when every source in use is fresh. Only fixed times: the banner repaints
    when a source's state changes, never on a tick."""
    parts: list[str] = []
    remote = monitor.remote is not None
    rules_error = monitor.rules.error if remote and monitor.rules is not None else None
    for name, state in monitor.states().items():
        reason = state.reason or state.status.value
        if name == "prometheus" and state.ok and rules_error is not None:
            reason = rules_error  # its rules cannot be read: the same server, failing
        elif state.ok or state.status is SourceStatus.OFF:
            continue
        elif state.status is SourceStatus.UNAVAILABLE and name != "prometheus" and remote:
            continue  # no local GPU, and Prometheus stands in for it
        if state.last_ok is None:
            since = "no data yet"
        else:
            since = f"data from {format_clock(state.last_ok, monitor.clock.now())}"
        parts.append(f"{name} ({since}): {reason}")  # a long reason is cut at its end
    return ["STALE", *parts] if parts else []
