"""Where a program's terminal bytes go: bytes per screen row, then per named region.

`RowBytes` follows the cursor through the raw output (absolute and relative moves, CR, LF)
and charges every byte to the row it lands on (a cursor move to the row it moves to). The
regions are named from the final screen: for gputop the status bar, the readings lines, the
sparklines, the card borders (or the compact GPU lines and node headings), the P95 and rules
panels, the footer; for nvitop its header,
GPU table and host panel. Coarse (a row holding two cards counts for both), but enough to
place a regression.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

__all__ = ["REGIONS", "RowBytes", "by_region", "gputop_regions", "nvitop_regions"]

_TOKEN = re.compile(
    rb"\x1b\[([0-9;?<>=]*)[\x20-\x2f]*([\x40-\x7e])"
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    rb"|\x1b[\x20-\x2f]*[\x30-\x5a\x5c\x5e-\x7e]"
    rb"|\n"
)


class RowBytes:
    """Bytes of a terminal stream, charged to the screen row they are written on."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.counts = [0] * rows
        self.other = 0  # bytes written with the cursor's row unknown
        self._y: int | None = None
        self._tail = b""

    def reset(self) -> None:
        self.counts = [0] * self.rows
        self.other = 0

    def feed(self, data: bytes) -> None:
        data, self._tail = self._tail + data, b""
        pos = 0
        for match in _TOKEN.finditer(data):
            self._charge(match.start() - pos)
            pos = match.end()
            final = match.group(2)
            if final is not None and not match.group(1).startswith((b"?", b">", b"<", b"=")):
                self._move(match.group(1), final)
            elif match.group(0) == b"\n" and self._y is not None:
                self._y = min(self.rows - 1, self._y + 1)
            self._charge(match.end() - match.start())
        rest = data[pos:]
        cut = rest.find(b"\x1b")
        if cut >= 0:
            self._tail = rest[cut:]
            rest = rest[:cut]
        self._charge(len(rest))

    def _move(self, params: bytes, final: bytes) -> None:
        args = [int(p) if p.isdigit() else 0 for p in params.split(b";")] if params else []
        n = max(1, args[0]) if args else 1
        if final in (b"H", b"f", b"d"):
            self._y = min(self.rows, n) - 1
        elif final == b"A" and self._y is not None:
            self._y = max(0, self._y - n)
        elif final == b"B" and self._y is not None:
            self._y = min(self.rows - 1, self._y + n)

    def _charge(self, n: int) -> None:
        if n <= 0:
            return
        if self._y is None:
            self.other += n
        else:
            self.counts[self._y] += n


def by_region(counts: Sequence[int], names: Sequence[str], other: int = 0) -> dict[str, int]:
    """Sum row counts by region name (rows the screen did not name go under "other")."""
    out: dict[str, int] = {}
    for y, n in enumerate(counts):
        name = names[y] if y < len(names) else "other"
        out[name] = out.get(name, 0) + n
    if other:
        out["other"] = out.get("other", 0) + other
    return out


_SPARK_LABEL = re.compile(r"^│\s*(MEM|TEMP|UTIL|PWR)\s")
#: A card's top border: its title, after the selection and the worst rule's glyph.
_CARD_TOP = re.compile(r"^╭─ [▶●◐○?\s]*GPU \d")
#: A compact GPU line: the selection, the worst rule's glyph, the index (✖: source failing).
_GPU_LINE = re.compile(r"^[▶●◐○?]?\s*[●◐○?]?\s*\d+✖?▕")


def gputop_regions(lines: Sequence[str]) -> list[str]:
    """Name each row of gputop's overview."""
    names = ["other"] * len(lines)
    block: str | None = None
    first_inside = False
    for y, line in enumerate(lines):
        text = line.strip()
        if y == 0:
            names[y] = "status bar"
        elif y == len(lines) - 1:
            names[y] = "footer"
        elif _CARD_TOP.match(text):
            block, first_inside = "card", True
            names[y] = "card borders"
        elif text.startswith("╭─ P95"):
            block = "P95 panel"
            names[y] = block
        elif text.startswith("╭─ Alert rules"):  # under cards, the P95 panel beside it
            block = "rules panel" if "P95" not in text else "rules and P95 panels"
            names[y] = block
        elif text.startswith("╰"):
            names[y] = "card borders" if block == "card" else block or "other"
            block = None
        elif block == "card":
            if first_inside:
                names[y], first_inside = "readings", False
            else:
                names[y] = "sparklines" if _SPARK_LABEL.match(text) else "card borders"
        elif block is not None:
            names[y] = block
        elif _GPU_LINE.match(text):
            names[y] = "GPU lines"
        elif text.startswith("▾"):
            names[y] = "node headings"
        elif text.startswith("GPU") and "MEM" in text:
            names[y] = "columns"
    return names


def nvitop_regions(lines: Sequence[str]) -> list[str]:
    """Name each row of `nvitop -m full`: header, GPU table, host panel."""
    names = ["other"] * len(lines)
    seen = 0
    for y, line in enumerate(lines):
        if line.startswith("╞"):
            seen += 1
        names[y] = "header" if seen == 0 else "GPU table" if seen == 1 else "host panel"
    return names


REGIONS: dict[str, Callable[[Sequence[str]], list[str]]] = {
    "gputop": gputop_regions,
    "nvitop": nvitop_regions,
}
