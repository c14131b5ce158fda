"""Sparkline drawing as runs of one style: a plain function, tested without an app.

Textual's own Sparkline wraps every cell in its own colour code; here a row is cut into
runs of cells that share a level, so a 40-cell row costs a few style codes, not forty.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["BARS", "spark_runs", "spark_text"]

BARS = " ▁▂▃▄▅▆▇█"


def _glyph(value: float | None, lo: float, hi: float) -> str:
    if value is None:
        return " "
    span = hi - lo
    frac = 0.0 if span <= 0 else (value - lo) / span
    frac = min(1.0, max(0.0, frac))
    # any present value shows at least the lowest bar, so a gap is never mistaken for zero
    return BARS[1 + round(frac * (len(BARS) - 2))]


def spark_text(values: Sequence[float | None], lo: float, hi: float) -> str:
    """One glyph per value; a missing value is a blank cell."""
    return "".join(_glyph(v, lo, hi) for v in values)


def spark_runs(
    values: Sequence[float | None], lo: float, hi: float, warn: float | None = None
) -> list[tuple[str, int]]:
    """Glyph runs with a level: 0 normal, 1 at or above `warn`, -1 missing.

    Adjacent cells of the same level form one run, so each run becomes one segment.
    """
    runs: list[tuple[str, int]] = []
    text: list[str] = []
    level = 0
    for v in values:
        lv = -1 if v is None else (1 if warn is not None and v >= warn else 0)
        if lv != level and text:
            runs.append(("".join(text), level))
            text = []
        level = lv
        text.append(_glyph(v, lo, hi))
    if text:
        runs.append(("".join(text), level))
    return runs
