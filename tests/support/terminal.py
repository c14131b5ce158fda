"""Emulated terminals (pyte) behind a dashboard run under Pilot, to check what reaches them.

`TeeDriver` is a driver with no real terminal: everything Textual writes goes, as it is, to
one emulated terminal (`raw`) and, through a `ShadowScreen`, to another (`shadowed`). A test
compares the two cell by cell, and both with a full repaint of the same state on a fresh
terminal (`full_repaint`). Resizes go through `Pilot.resize_terminal`: both terminals take
the new size before the app hears of it, as a real terminal does.
"""

from __future__ import annotations

from typing import Any

import pyte
from textual import messages
from textual._compositor import CompositorUpdate
from textual.app import App
from textual.drivers.headless_driver import HeadlessDriver

from gputop.ui.term.shadow import ShadowScreen

__all__ = ["TeeDriver", "Terminal", "full_repaint", "full_repaint_text", "tee_driver"]

#: What LinuxDriver writes when it starts (less the queries, which nobody answers here).
_START = (
    "\x1b[?1049h\x1b[?1000h\x1b[?1003h\x1b[?1015h\x1b[?1006h\x1b[?25l\x1b[?1004h\x1b[?2004h\x1b[?7l"
)
_ALTERNATE = "\x1b[?1049h"
_STOP = "\x1b[?2004l\x1b[?7h\x1b[?1049l\x1b[?25h\x1b[?1004l"


class Terminal:
    """A pyte screen that counts the bytes it is fed.

    pyte has no alternate screen: entering one here clears the screen, as terminals do.
    """

    def __init__(self, cols: int, rows: int) -> None:
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.Stream(self.screen)
        self.bytes = 0

    def feed(self, data: str) -> None:
        self.bytes += len(data.encode())
        head, switch, rest = data.partition(_ALTERNATE)
        while switch:
            self.stream.feed(head + switch)
            self.screen.erase_in_display(2)
            head, switch, rest = rest.partition(_ALTERNATE)
        self.stream.feed(head)

    def resize(self, cols: int, rows: int) -> None:
        if (cols, rows) != (self.screen.columns, self.screen.lines):
            self.screen.resize(rows, cols)

    def cells(self) -> list[list[tuple[object, ...]]]:
        """Every cell's text and rendition (colours, bold, italics, underline, reverse...)."""
        buffer = self.screen.buffer
        return [
            [tuple(buffer[y][x]) for x in range(self.screen.columns)]
            for y in range(self.screen.lines)
        ]

    def text(self) -> str:
        return "\n".join(self.screen.display)


class TeeDriver(HeadlessDriver):
    """Textual's output to `raw` as it is, and to `shadowed` through a `ShadowScreen`."""

    sync = False  # answer Textual's query for synchronised output

    def __init__(self, app: App[object], **kwargs: object) -> None:
        super().__init__(app, **kwargs)  # type: ignore[arg-type]
        cols, rows = self._get_terminal_size()
        self.raw = Terminal(cols, rows)
        self.shadowed = Terminal(cols, rows)
        self.shadow = ShadowScreen(cols, rows, self.shadowed.feed)

    @property
    def is_headless(self) -> bool:
        return False  # so the app writes to it

    def write(self, data: str) -> None:
        cols, rows = self._get_terminal_size()
        self.raw.resize(cols, rows)
        self.shadowed.resize(cols, rows)
        self.shadow.resize(cols, rows)
        self.raw.feed(data)
        self.shadow.feed(data)

    def flush(self) -> None:
        self.shadow.flush()

    def start_application_mode(self) -> None:
        self.write(_START)
        self.flush()
        super().start_application_mode()
        if self.sync:
            self._app.post_message(messages.TerminalSupportsSynchronizedOutput())

    def stop_application_mode(self) -> None:
        self.write(_STOP)
        self.flush()


def tee_driver(*, sync: bool = False) -> type[TeeDriver]:
    """A TeeDriver class, with or without synchronised output."""
    return type("TeeDriver", (TeeDriver,), {"sync": sync})


def full_repaint_text(app: App[Any]) -> str:
    """What Textual writes to paint the whole screen as it is now."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    assert isinstance(update, CompositorUpdate)
    return update.render_segments(app.console)


def full_repaint(app: App[Any]) -> Terminal:
    """A fresh terminal holding a full repaint of what the app shows now."""
    cols, rows = app.size
    fresh = Terminal(cols, rows)
    fresh.feed(_START)
    fresh.feed(full_repaint_text(app))
    return fresh
