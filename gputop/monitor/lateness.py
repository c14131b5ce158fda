"""How late gputop itself is with its refreshes, apart from how late the data is (the source's
own lag): a refresh still running past the time it should have been done, or Prometheus'
panels last answered more than an interval ago while it answers. The header says it
(`✖ gputop 40s late`) so a slow machine is never read as a slow engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from gputop.core.models import SourceState

__all__ = ["Lateness"]


class Lateness:
    """The refreshes in progress, each with the time it should be done by."""

    def __init__(self) -> None:
        self._done_by: dict[str, float] = {}

    @contextlib.contextmanager
    def running(self, name: str, due: float, allowance: float) -> Iterator[None]:
        """A refresh in progress, due at `due` and expected done `allowance` after it."""
        self._done_by[name] = due + allowance
        try:
            yield
        finally:
            del self._done_by[name]

    def lag_s(self, now: float, panels: SourceState, interval: float) -> float:
        """Seconds late: the most any running refresh is past its time, or Prometheus'
        panels (`panels`) past an `interval` since their last answer while they answer."""
        late = [now - t for t in self._done_by.values()]
        if panels.ok and panels.last_ok is not None:
            late.append(now - panels.last_ok - interval)
        return max(0.0, *late) if late else 0.0
