"""The benchmark charges terminal bytes to named screen regions: the names must follow the
screens as they are drawn now (cards with a selection or a rule's glyph in the title, compact
lines, node headings), or a regression lands under "other" and cannot be placed."""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.regions import RowBytes, by_region, gputop_regions
from gputop.ui.app import GpuTopApp
from tests.support.ui import build_monitor, screen_lines


@pytest.mark.parametrize(
    ("size", "gpu_rows"),
    [
        ((160, 60), {"card borders", "readings", "sparklines", "rules and P95 panels"}),
        ((80, 24), {"GPU lines", "P95 panel", "rules panel"}),
    ],
    ids=["cards", "compact"],
)
async def test_every_row_of_the_overview_has_a_region(
    size: tuple[int, int], gpu_rows: set[str]
) -> None:
    app = GpuTopApp(build_monitor(), poll=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        lines = screen_lines(app)
    names = gputop_regions(lines)
    counts = Counter(names)
    unnamed = [line for name, line in zip(names, lines, strict=True) if name == "other"]
    assert not unnamed, unnamed
    assert gpu_rows <= set(counts), counts
    assert {"status bar", "footer"} <= set(counts)
    if "readings" in counts:  # one per row of cards, the selected and alerting ones too
        assert counts["readings"] * 4 == counts["sparklines"] == 4 * 4  # 2 cards a row


def test_bytes_are_charged_to_the_row_the_cursor_writes_on() -> None:
    rows = RowBytes(4)
    rows.feed(b"before")  # the cursor's row is not known yet
    rows.feed(b"\x1b[2;1Habc\x1b[")  # a sequence cut between two reads
    rows.feed(b"1Bxy\r\nz")
    assert rows.other == 6
    # a move (LF included) is charged to the row it moves to
    assert rows.counts == [0, len(b"\x1b[2;1Habc"), len(b"\x1b[1Bxy\r"), len(b"\nz")]
    assert by_region(rows.counts, ["a", "b", "b"], rows.other) == {
        "a": 0,
        "b": rows.counts[1] + rows.counts[2],
        "other": 6 + 2,  # row 3 has no name
    }
