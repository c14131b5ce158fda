"""A shadow of the terminal's screen under Textual's output: only the cells that changed go out.

Textual repaints a widget's dirty region whole: a line of readings where one digit moved is
written again with every style code and reset, about 90 bytes for 2 new cells. curses keeps a
copy of the screen and sends only the cells that differ; so does this. It reads what Textual
writes (cursor moves, SGR styles, text), keeps two grids of cells (what the terminal shows and
what Textual wants it to show) and, at each flush, writes the runs of cells that differ with the
shortest cursor moves and style changes, skipping a short unchanged gap rather than moving over
it when that is cheaper.

What it does not model is passed through in order: mode switches, queries and OSC strings (but
hyperlinks, which belong to cells) go out as they came. Anything that could change the screen
behind its back (the alternate screen, erasing, scrolling, a resize, text it cannot place) makes
every cell unknown, so whatever Textual paints next is written whole. Correctness over bytes:
a cell is only skipped when the terminal is known to show exactly it.

Trade-off: some CPU per painted cell (tokenising and comparing in Python) for far fewer bytes;
a full repaint costs about what it did, and the steady state costs a few dozen bytes a frame.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from rich.cells import get_character_cell_size

from gputop.ui.term.encode import Row, changed_runs, cursor_move
from gputop.ui.term.sgr import DEFAULT, UNKNOWN, StyleTable

__all__ = ["ShadowScreen"]

_TOKEN = re.compile(
    r"\x1b\[([\x30-\x3f]*)([\x20-\x2f]*)([\x40-\x7e])"  # CSI: parameters, intermediates, final
    r"|\x1b\]([^\x07\x1b]*)(?:\x07|\x1b\\)"  # OSC, ended by BEL or ST
    r"|\x1b([\x20-\x2f]*[\x30-\x5a\x5c\x5e-\x7e])"  # any other escape sequence
    r"|([\x00-\x1a\x1c-\x1f\x7f])"  # one C0 control (a lone ESC is an unfinished sequence)
)
#: Private modes that switch screens (and save or restore the cursor and rendition).
_SCREEN_MODES = frozenset({"47", "1047", "1048", "1049"})
_CLEAR = "\x1b[2J"
_SYNC_START = "\x1b[?2026h"
_SYNC_END = "\x1b[?2026l"
#: A tail this long that never completes an escape sequence is passed through as it is.
_MAX_TAIL = 4096


class ShadowScreen:
    """Feed it Textual's output with `feed`; `flush` writes what changed to `write`."""

    def __init__(self, width: int, height: int, write: Callable[[str], None]) -> None:
        self._write = write
        self._styles = StyleTable()
        self.width = self.height = 0
        self._have_text: list[Row] = []
        self._have_style: list[list[int]] = []
        self._want_text: list[Row] = []
        self._want_style: list[list[int]] = []
        self._dirty: dict[int, list[int]] = {}  # row -> [first, end) of cells Textual wrote
        self._tail = ""
        self._out: list[str] = []
        # where Textual's cursor is, and its style, as its own output says
        self._x: int | None = None
        self._y: int | None = None
        self._style = DEFAULT
        # where the terminal's cursor is and which style it writes with
        self._tx: int | None = None
        self._ty: int | None = None
        self._tstyle = UNKNOWN
        self._cursor_shown = True
        self._sync_held = False  # a sync start not yet written: dropped with its end if idle
        self.bytes_in = 0
        self.bytes_out = 0
        self.resize(width, height)

    # ---- state ----------------------------------------------------------------------

    def resize(self, width: int, height: int) -> None:
        """The terminal's size changed: every cell becomes unknown (terminals reflow or crop)."""
        if (width, height) == (self.width, self.height):
            return
        self.flush()
        self.width, self.height = max(0, width), max(0, height)
        self.forget()

    def _blank(self) -> None:
        """The screen was just cleared in the default rendition: every cell is a blank."""
        self.forget()
        w, h = self.width, self.height
        self._have_text = [[" "] * w for _ in range(h)]
        self._have_style = [[DEFAULT] * w for _ in range(h)]
        self._want_text = [[" "] * w for _ in range(h)]
        self._want_style = [[DEFAULT] * w for _ in range(h)]
        self._tstyle = DEFAULT

    def forget(self) -> None:
        """Know nothing of the screen: what Textual paints next is written whole."""
        w, h = self.width, self.height
        self._have_text = [[None] * w for _ in range(h)]
        self._have_style = [[UNKNOWN] * w for _ in range(h)]
        self._want_text = [[None] * w for _ in range(h)]
        self._want_style = [[UNKNOWN] * w for _ in range(h)]
        self._dirty.clear()
        self._tx = self._ty = None
        self._tstyle = UNKNOWN

    # ---- input ----------------------------------------------------------------------

    def feed(self, data: str) -> None:
        """Take some of Textual's output; cell writes wait for `flush`, the rest goes out."""
        self.bytes_in += len(data)
        if self._tail:
            data, self._tail = self._tail + data, ""
        pos = 0
        for match in _TOKEN.finditer(data):
            if match.start() > pos:
                self._text(data[pos : match.start()])
            pos = match.end()
            csi_final, osc, esc, c0 = match.group(3), match.group(4), match.group(5), match.group(6)
            if csi_final is not None:
                self._csi(match.group(1), match.group(2), csi_final, match.group(0))
            elif osc is not None:
                self._osc(osc, match.group(0))
            elif esc is not None:
                self._escape(esc, match.group(0))
            else:
                self._control(c0)
        rest = data[pos:]
        cut = rest.find("\x1b")
        if cut >= 0 and len(rest) - cut < _MAX_TAIL:
            self._tail = rest[cut:]  # an escape sequence split across writes
            rest = rest[:cut]
        if rest:
            self._text(rest)

    def _text(self, text: str) -> None:
        x, y = self._x, self._y
        if x is None or y is None or not 0 <= y < self.height or "\x1b" in text:
            self._unmodelled(text)
            return
        if text.isascii():
            cells: list[str] = list(text)
        else:
            cells = []
            for char in text:
                size = get_character_cell_size(char)
                if size == 0:
                    if cells:
                        cells[-1] += char
                        continue
                    self._unmodelled(text)  # a combining mark we cannot attach
                    return
                cells.append(char)
                if size == 2:
                    cells.append("")
        end = x + len(cells)
        if end > self.width:
            self._unmodelled(text)
            return
        want, have = self._want_text[y], self._have_text[y]
        # a wide character cut in two leaves a blank of the terminal's choosing: unknown
        if want[x] == "" and x > 0:
            want[x - 1] = have[x - 1] = None
        if end < self.width and want[end] == "":
            want[end] = have[end] = None
        want[x:end] = cells
        self._want_style[y][x:end] = [self._style] * len(cells)
        span = self._dirty.get(y)
        if span is None:
            self._dirty[y] = [x, end]
        else:
            span[0] = min(span[0], x)
            span[1] = max(span[1], end)
        self._x = end

    def _csi(self, params: str, inter: str, final: str, raw: str) -> None:
        private = params[:1] in ("?", ">", "<", "=")
        if not inter and not private:
            if final == "m":
                self._style = self._styles.apply(self._style, params)
            elif final in "HfABCDGd" and self._move(params, final):
                pass
            elif final == "n":  # a status report: the cursor's must find Textual's cursor
                self._place_cursor(always=True)
                self._emit(raw)
            elif final == "c":  # device attributes
                self._emit(raw)
            else:
                self._unmodelled(raw)
        elif params[:1] == "?" and final in "hl" and not inter:
            modes = set(params[1:].split(";"))
            if params == "?2026":
                self._sync(final == "h", raw)
            elif modes & _SCREEN_MODES:
                # leave this screen in the default rendition, as Textual's own output does
                self._flush_cells()
                reset = self._styles.transition(self._tstyle, DEFAULT)
                if final == "h":
                    # a new screen is cleared here, whatever the terminal does on switching:
                    # then its blank cells need not be written
                    self._emit(reset + raw + _CLEAR)
                    self._blank()
                else:
                    self._emit(reset + raw)
                    self.forget()
                self._x = self._y = None  # the terminal restores its own cursor on leaving
            else:
                if "25" in modes:
                    self._cursor_shown = final == "h"
                    if self._cursor_shown:
                        self._place_cursor()
                self._emit(raw)
        elif final in "uc" or (inter == "$" and final == "p") or (inter == " " and final == "q"):
            self._emit(raw)  # keyboard protocols, attribute and mode queries, cursor shape
        else:
            self._unmodelled(raw)

    def _move(self, params: str, final: str) -> bool:
        """Apply a cursor move to Textual's cursor; False if it cannot be followed."""
        args = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else []
        n = max(1, args[0]) if args else 1
        x, y = self._x, self._y
        if final in "Hf":
            row = max(1, args[0]) if args else 1
            col = max(1, args[1]) if len(args) > 1 else 1
            self._x, self._y = min(col, self.width) - 1, min(row, self.height) - 1
            return True
        if final == "G":
            self._x = min(n, self.width) - 1
            return True
        if final == "d":
            self._y = min(n, self.height) - 1
            return True
        if final in "AB" and y is not None:
            self._y = max(0, y - n) if final == "A" else min(self.height - 1, y + n)
            return True
        if final in "CD" and x is not None:
            self._x = max(0, x - n) if final == "D" else min(self.width - 1, x + n)
            return True
        return False

    def _osc(self, body: str, raw: str) -> None:
        if body.startswith("8;"):
            self._style = self._styles.with_link(self._style, body[2:])
            return
        self._emit(raw)  # a title, a notification, the clipboard

    def _escape(self, body: str, raw: str) -> None:
        if body in ("=", ">"):  # keypad modes
            self._emit(raw)
            return
        self._unmodelled(raw)

    def _control(self, char: str) -> None:
        if char == "\r":
            self._x = 0
        elif char == "\n":
            if self._y is None or self._y >= self.height - 1:
                self._unmodelled(char)  # would scroll the screen
                return
            self._y += 1
            self._x = None  # column 0 or unchanged, as the terminal's line discipline decides
        elif char == "\x08":
            if self._x is not None:
                self._x = max(0, self._x - 1)
        elif char == "\x07":
            self._emit(char)
        else:
            self._unmodelled(char)

    def _sync(self, start: bool, raw: str) -> None:
        """Synchronised updates: a start is held back, and dropped with its end when idle."""
        if start:
            self.flush()
            self._sync_held = True
        elif self._sync_held:
            self._flush_cells()
            if self._sync_held:
                self._sync_held = False  # nothing was written in between
            else:
                self._out.append(raw)
            self._send()
        else:
            self._emit(raw)

    # ---- output ---------------------------------------------------------------------

    def _emit(self, raw: str) -> None:
        """Write a sequence that does not touch the cells, after the cells before it."""
        self._flush_cells()
        self._open_sync()
        self._out.append(raw)
        self._send()

    def _unmodelled(self, raw: str) -> None:
        """Something the model cannot follow: write it as Textual meant it, then know nothing."""
        self._flush_cells()
        self._open_sync()
        if self._x is not None and self._y is not None:
            self._goto(self._x, self._y)
        self._out.append(self._styles.transition(self._tstyle, self._style))
        self._out.append(raw)
        self._send()
        self.forget()
        self._x = self._y = None

    def _open_sync(self) -> None:
        if self._sync_held:
            self._sync_held = False
            self._out.append(_SYNC_START)

    def _send(self) -> None:
        if self._out:
            data = "".join(self._out)
            self._out.clear()
            if data:
                self.bytes_out += len(data)
                self._write(data)

    def flush(self) -> None:
        """Write every cell that differs from the terminal, then leave the cursor where
        Textual wants it (if it is shown)."""
        self._flush_cells()
        if not self._sync_held:
            self._place_cursor()
        self._send()

    def _place_cursor(self, *, always: bool = False) -> None:
        x, y = self._x, self._y
        shown = self._cursor_shown or always
        if shown and x is not None and y is not None and (x, y) != (self._tx, self._ty):
            self._open_sync()
            self._goto(x, y)

    def _flush_cells(self) -> None:
        if not self._dirty:
            return
        for y in sorted(self._dirty):
            first, end = self._dirty[y]
            want_t, want_s = self._want_text[y], self._want_style[y]
            have_t, have_s = self._have_text[y], self._have_style[y]
            if want_t[first:end] == have_t[first:end] and want_s[first:end] == have_s[first:end]:
                continue
            runs = changed_runs(want_t, want_s, have_t, have_s, first, end, self._styles)
            if runs:
                self._open_sync()
                for a, b in runs:
                    self._write_run(y, a, b)
        self._dirty.clear()

    def _write_run(self, y: int, a: int, b: int) -> None:
        want_t, want_s = self._want_text[y], self._want_style[y]
        out = self._out
        self._goto(a, y)
        transition = self._styles.transition
        style = self._tstyle
        for x in range(a, b):
            text = want_t[x]
            if text == "":
                continue  # the right half of a wide character written just before
            if text is None:  # unknown here: move over it
                self._tstyle = style
                self._tx, self._ty = x, y
                self._goto(x + 1, y)
                continue
            if want_s[x] != style:
                out.append(transition(style, want_s[x]))
                style = want_s[x]
            out.append(text)
        self._tstyle = style
        self._have_text[y][a:b] = want_t[a:b]
        self._have_style[y][a:b] = want_s[a:b]
        # after the last column the cursor's place depends on the terminal's wrap mode
        self._tx, self._ty = (b, y) if b < self.width else (None, None)

    def _goto(self, x: int, y: int) -> None:
        if (self._tx, self._ty) != (x, y):
            self._out.append(cursor_move(self._tx, self._ty, x, y))
            self._tx, self._ty = x, y
