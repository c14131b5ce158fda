"""Textual's Linux driver with a shadow screen between it and the terminal.

Everything Textual writes goes through a `ShadowScreen`, which sends only the cells that
changed; `flush` (once per paint) is when they go out. The terminal's size is read again
before each write, so a resize is seen before the first paint at the new size. Set
`GPUTOP_SHADOW=off` to send Textual's output unchanged (for comparison, or to rule the shadow
out when a terminal misbehaves).
"""

from __future__ import annotations

import os

from textual.drivers.linux_driver import LinuxDriver

from gputop.ui.term.shadow import ShadowScreen

__all__ = ["ShadowDriver", "shadow_enabled"]


def shadow_enabled() -> bool:
    return os.environ.get("GPUTOP_SHADOW", "on").lower() not in ("off", "0", "no")


class ShadowDriver(LinuxDriver):
    """A LinuxDriver whose output is cut down to the cells that changed."""

    _shadow: ShadowScreen | None = None

    def write(self, data: str) -> None:
        shadow = self._shadow
        if shadow is None:
            shadow = self._shadow = ShadowScreen(*self._get_terminal_size(), super().write)
        else:
            shadow.resize(*self._get_terminal_size())
        shadow.feed(data)

    def flush(self) -> None:
        if self._shadow is not None:
            self._shadow.flush()
        super().flush()
