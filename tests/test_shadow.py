"""The shadow screen on its own: Textual-like output in, only the changed cells out.

Every test feeds the same output to one emulated terminal directly and to another through a
`ShadowScreen`, and checks the two show the same cells; the byte checks come on top of that.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gputop.ui.term.encode import cursor_move
from gputop.ui.term.sgr import DEFAULT, UNKNOWN, StyleTable
from gputop.ui.term.shadow import ShadowScreen
from tests.support.terminal import Terminal

BOLD = "\x1b[1;39;49m"
RESET = "\x1b[0m"


class Pair:
    """A terminal fed directly and one fed through a shadow screen."""

    def __init__(self, cols: int = 60, rows: int = 6) -> None:
        self.raw = Terminal(cols, rows)
        self.shadowed = Terminal(cols, rows)
        self.sent: list[str] = []
        self.shadow = ShadowScreen(cols, rows, self._sent)
        self.frame("\x1b[?7l\x1b[?25l")  # as Textual starts: no line wrap, cursor hidden

    def _sent(self, data: str) -> None:
        self.sent.append(data)
        self.shadowed.feed(data)

    def frame(self, data: str) -> str:
        """Feed one paint and flush it; returns what the shadow wrote for it."""
        self.sent.clear()
        self.raw.feed(data)
        self.shadow.feed(data)
        self.shadow.flush()
        assert self.shadowed.cells() == self.raw.cells()
        return "".join(self.sent)

    def resize(self, cols: int, rows: int) -> None:
        self.raw.resize(cols, rows)
        self.shadowed.resize(cols, rows)
        self.shadow.resize(cols, rows)


def _line(y: int, x: int, text: str, style: str = BOLD) -> str:
    return f"\x1b[{y + 1};{x + 1}H{style}{text}{RESET}"


def test_the_same_paint_again_writes_nothing() -> None:
    pair = Pair()
    paint = _line(0, 0, "MEM  35% TEMP  37°C") + _line(1, 0, "UTIL  7% PWR   83W")
    assert pair.frame(paint)
    assert pair.frame(paint) == ""


def test_one_changed_digit_is_one_cell_and_a_move() -> None:
    pair = Pair()
    pair.frame(_line(2, 2, "MEM  35% TEMP  37°C UTIL   7% PWR   83W"))
    sent = pair.frame(_line(2, 2, "MEM  35% TEMP  38°C UTIL   7% PWR   83W"))
    assert sent == "\x1b[23D8"  # back from where the last paint ended; still bold


def test_changes_on_one_line_share_a_style_and_use_short_moves() -> None:
    pair = Pair()
    pair.frame(_line(0, 0, "MEM  35% TEMP  37°C UTIL   7% PWR   83W"))
    pair.frame(_line(0, 0, "MEM  35% TEMP  38°C UTIL   7% PWR   83W"))
    sent = pair.frame(_line(0, 0, "MEM  35% TEMP  39°C UTIL   9% PWR   89W"))
    assert sent == "\x1b[D9\x1b[10C9\x1b[9C9"


def test_a_short_unchanged_gap_is_written_rather_than_moved_over() -> None:
    pair = Pair()
    pair.frame(_line(0, 0, "12:34:56"))
    sent = pair.frame(_line(0, 0, "12:35:57"))
    assert sent == "\x1b[4D5:57"  # ':5' again costs two bytes, a move four


def test_style_changes_are_the_difference_not_a_reset() -> None:
    pair = Pair()
    pair.frame(_line(0, 0, "ab", "\x1b[1;31m"))
    sent = pair.frame(_line(0, 0, "ab", "\x1b[1;32m"))
    assert sent.endswith("\x1b[32mab")
    sent = pair.frame(_line(0, 0, "ab", "\x1b[32m"))
    assert sent.endswith("\x1b[22mab")


def test_an_idle_synchronised_paint_is_dropped_and_a_busy_one_kept() -> None:
    pair = Pair()
    paint = _line(0, 0, "GPU 0")
    pair.frame(paint)
    assert pair.frame("\x1b[?2026h" + paint + "\x1b[?2026l") == ""
    sent = pair.frame("\x1b[?2026h" + _line(0, 0, "GPU 1") + "\x1b[?2026l")
    assert sent.startswith("\x1b[?2026h") and sent.endswith("1\x1b[?2026l")


def test_what_it_cannot_follow_passes_through_and_the_next_paint_is_whole() -> None:
    pair = Pair()
    paint = _line(0, 0, "kept") + _line(1, 0, "kept too")
    pair.frame(paint)
    sent = pair.frame("\x1b[2J")
    assert sent.endswith("\x1b[2J")
    assert "kept too" in pair.frame(paint)


def test_a_resize_forgets_every_cell() -> None:
    pair = Pair()
    paint = _line(0, 0, "GPU 0 · A100") + _line(3, 5, "near")
    pair.frame(paint)
    pair.resize(30, 4)
    sent = pair.frame(paint)
    assert "GPU 0" in sent and "near" in sent


def test_leaving_the_alternate_screen_resets_the_rendition_first() -> None:
    pair = Pair()
    pair.frame(_line(0, 0, "bold", "\x1b[1m").replace(RESET, "") + "\x1b[3;7H")
    sent = pair.frame("\x1b[?1049l\x1b[?25h")
    assert sent == "\x1b[m\x1b[?1049l\x1b[?25h"  # and the cursor left where the shell had it
    assert "again" in pair.frame(_line(0, 0, "again"))


def test_a_new_screen_is_cleared_and_its_blanks_are_not_written() -> None:
    pair = Pair()
    assert pair.frame("\x1b[?1049h").endswith("\x1b[?1049h\x1b[2J")
    sent = pair.frame(_line(0, 0, "ab      cd", "") + _line(1, 0, " " * 20, "\x1b[39;49m"))
    assert sent == "\x1b[1Hab\x1b[6Ccd"


def test_wide_characters_are_written_whole() -> None:
    pair = Pair(20, 2)
    pair.frame(_line(0, 0, "ab字cd"))
    pair.frame(_line(0, 0, "ab12cd"))  # a wide character replaced by two narrow ones
    pair.frame(_line(0, 0, "a字字cd"))  # and narrow ones by wide ones, shifted by one
    pair.frame(_line(0, 3, "x"))  # a narrow one over the right half of a wide one
    pair.frame(_line(0, 0, "a字字cd"))


def test_hyperlinks_belong_to_the_cells() -> None:
    pair = Pair()
    link = "\x1b]8;id=1;https://example.org\x1b\\"
    close = "\x1b]8;;\x1b\\"
    pair.frame(f"\x1b[1;1H{link}\x1b[4mdocs\x1b[0m{close} plain")
    assert pair.frame(f"\x1b[1;1H{link}\x1b[4mdocs\x1b[0m{close} plain") == ""
    sent = pair.frame("\x1b[1;1Hdocs plain")
    assert sent == "\rdocs"  # the same text, no longer a link (closed after it before)
    assert pair.frame(f"\x1b[1;1H{link}docs{close}") == f"\r{link}docs"


def test_the_cursor_is_placed_only_while_shown() -> None:
    pair = Pair()
    pair.frame("\x1b[?25l")
    assert pair.frame(_line(0, 0, "x") + "\x1b[1;1H") == "\x1b[1H\x1b[0;1m\x1b]8;;\x1b\\x"
    sent = pair.frame("\x1b[?25h")
    assert sent == "\r\x1b[?25h"  # back where Textual left it, then shown


def test_an_escape_sequence_split_across_writes() -> None:
    pair = Pair()
    for piece in ("\x1b[1;", "3H\x1b[1", ";31mred\x1b[", "0m"):
        pair.raw.feed(piece)
        pair.shadow.feed(piece)
    pair.shadow.flush()
    assert pair.shadowed.cells() == pair.raw.cells()
    assert pair.raw.text().startswith("  red")


def test_bytes_in_and_out_are_counted() -> None:
    pair = Pair()
    paint = _line(0, 0, "MEM  35%")
    pair.frame(paint)
    pair.frame(paint)
    assert pair.shadow.bytes_in == len("\x1b[?7l\x1b[?25l") + 2 * len(paint)
    assert 0 < pair.shadow.bytes_out < pair.shadow.bytes_in


# ---- cursor moves and styles -------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "to", "sent"),
    [
        ((None, None), (4, 2), "\x1b[3;5H"),  # unknown: absolute
        ((None, None), (0, 2), "\x1b[3H"),
        ((3, 2), (4, 2), "\x1b[C"),
        ((3, 2), (40, 2), "\x1b[37C"),
        ((30, 2), (0, 2), "\r"),
        ((30, 2), (29, 2), "\x1b[D"),
        ((7, 2), (7, 5), "\x1b[3B"),
        ((30, 2), (0, 3), "\r\n"),
        ((1, 1), (90, 30), "\x1b[31;91H"),
    ],
)
def test_cursor_moves_are_the_shortest_that_is_sure(
    start: tuple[int | None, int | None], to: tuple[int, int], sent: str
) -> None:
    assert cursor_move(*start, *to) == sent


# ---- styles ------------------------------------------------------------------------


def test_default_colours_are_no_colour() -> None:
    table = StyleTable()
    assert table.apply(DEFAULT, "39;49") == DEFAULT
    assert table.apply(DEFAULT, "1;39;49") == table.apply(DEFAULT, "1")
    assert table.apply(table.apply(DEFAULT, "1;31"), "0") == DEFAULT
    assert table.apply(table.apply(DEFAULT, "1;31"), "") == DEFAULT


def test_extended_colours_are_one_colour_and_their_zeros_no_reset() -> None:
    table = StyleTable()
    bold = table.apply(DEFAULT, "1")
    indexed = table.apply(bold, "38;5;0")
    rgb = table.apply(indexed, "48;2;0;10;0")
    assert table.transition(DEFAULT, rgb) == "\x1b[1;38;5;0;48;2;0;10;0m"
    assert table.transition(rgb, indexed) == "\x1b[49m"


def test_transitions_are_the_shorter_of_a_change_and_a_reset() -> None:
    table = StyleTable()
    red = table.apply(DEFAULT, "1;2;31")
    dim_green = table.apply(DEFAULT, "2;32")
    bold_green = table.apply(DEFAULT, "1;2;32")
    assert table.transition(red, dim_green) == "\x1b[0;2;32m"  # shorter than 22;2;32
    assert table.transition(red, bold_green) == "\x1b[32m"
    assert table.transition(bold_green, dim_green) == "\x1b[22;2m"  # 22 clears dim too
    assert table.transition(UNKNOWN, red) == "\x1b[0;1;2;31m\x1b]8;;\x1b\\"
    assert table.transition(red, DEFAULT) == "\x1b[m"
    assert table.transition(red, red) == ""


def test_unknown_codes_are_replayed_whole() -> None:
    table = StyleTable()
    curly = table.apply(DEFAULT, "4:3;31")
    assert table.transition(table.apply(DEFAULT, "31"), curly) == "\x1b[0;31;4:3m"


# ---- any paint at all --------------------------------------------------------------

_STYLES = ["", "1", "1;39;49", "2", "3", "4", "7", "31", "1;33", "32;44", "38;5;208", "0;7;36"]
_TEXTS = ["MEM  35%", "▁▂▃▄▅▆▇█", "字", "ab字", " ", "GPU 0 · A100", "é", "12:34:56"]


@st.composite
def _paints(draw: st.DrawFn) -> list[list[str]]:
    """Paints as Textual writes them: within one paint no two writes overlap; between
    paints anything goes, with resizes, synchronised updates and sequences that erase."""
    frames = []
    for _ in range(draw(st.integers(1, 6))):
        parts = []
        taken: set[tuple[int, int]] = set()
        for _ in range(draw(st.integers(0, 8))):
            kind = draw(st.sampled_from(["text", "text", "text", "sync", "resize", "erase"]))
            if kind == "text":
                style = draw(st.sampled_from(_STYLES))
                text = draw(st.sampled_from(_TEXTS))
                width = len(text) + text.count("字")
                y, x = draw(st.integers(0, 5)), draw(st.integers(0, 24 - width))
                cells = {(y, x + i) for i in range(width)}
                if cells & taken:
                    continue
                taken |= cells
                sgr = f"\x1b[{style}m" if style else ""
                parts.append(f"\x1b[{y + 1};{x + 1}H{sgr}{text}\x1b[0m")
            elif kind == "sync":
                parts.append(draw(st.sampled_from(["\x1b[?2026h", "\x1b[?2026l"])))
            elif kind == "resize":
                parts.append("resize")
            else:
                erase = draw(st.sampled_from(["\x1b[2J", "\x1b[K", "\x1b[?1049h"]))
                parts.append(f"\x1b[{draw(st.integers(1, 6))};{draw(st.integers(1, 20))}H{erase}")
        frames.append(parts)
    return frames


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(_paints(), st.integers(24, 32))
def test_any_paint_shows_the_same_through_the_shadow(frames: list[list[str]], cols: int) -> None:
    pair = Pair(cols, 6)
    for parts in frames:
        for part in parts:
            if part == "resize":
                cols = 24 if cols > 24 else 32
                pair.shadow.flush()
                pair.resize(cols, 6)
                continue
            pair.raw.feed(part)
            pair.shadow.feed(part)
        pair.shadow.flush()
        assert pair.shadowed.cells() == pair.raw.cells()
