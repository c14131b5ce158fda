"""How the rules panel lays out its lines at a given size: plain functions, tested without an app.

A line is a tuple of (text, style) fields; the panel turns each style into its component class.
Columns: the cursor mark, the state (glyph and word), the rule and its series, the compared
value's sparkline, the detail (value against threshold, countdown). The widths follow the rows:

- the rule and series get what they need first: the rule name is never cut while blank
  columns remain; if something must go, the sparkline goes first, then the detail shrinks to
  its short form ("88 vs > 85 in 1m30s") and then to the value against its threshold alone,
  which is never cut, then the job on the GPU ("→ inference/t2v-worker-1", a near or ok
  row's before a firing or pending row's) is cut in its middle, down to 7 cells, then left
  out, and only then is the rule name cut, in its middle (the GPU and node stay); a firing or
  pending row whose title would be cut in its middle takes first what it needs of the blank
  its own shorter detail leaves (where no sparkline column sits between them);
- an unknown row's reason runs over the whole width after its state;
- the detail column's width moves in steps, so a countdown that loses a digit does not move
  every column (which would repaint the whole panel).

When the rows do not fit, the panel shows a window of them: "↑ 3 above: 1 firing" on top when
scrolled, and "+7 more: 2 near, 5 ok" at the bottom. Nothing is hidden without being counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gputop.rules.text import STATE_LABELS, compared_text
from gputop.ui.spark import spark_text
from gputop.ui.views.rules import RuleRow

__all__ = [
    "CURSOR",
    "CURSOR_W",
    "SPARK_MAX",
    "STATE_W",
    "Line",
    "RuleColumns",
    "Window",
    "counted",
    "fit_detail",
    "fit_title",
    "row_line",
    "shorten_middle",
    "window",
]

Field = tuple[str, str]
Line = tuple[Field, ...]

CURSOR = "▶ "
#: The cursor's column: "▶ " on the selected row, blank on the others.
CURSOR_W = len(CURSOR)
#: The state column: "◐ PENDING" and one blank.
STATE_W = max(len(s) for s in STATE_LABELS.values()) + 1
SPARK_MAX = 16
SPARK_MIN = 6
_TITLE_MIN = 12
_DETAIL_STEP = 6
#: What the job keeps while the detail has its room...
_JOB_MIN = 12
#: ... and the least of it worth showing (three characters of each end, "t2v…678"):
#: narrower, it goes, before the rule name is cut.
_JOB_SHORTEST = 7
_ARROW = " → "
_ORDER = ("firing", "pending", "near", "unknown", "ok")
#: The rows whose cut title may take the blank their own detail leaves.
LENDING = frozenset({"firing", "pending"})


def shorten_middle(text: str, width: int) -> str:
    """`text` in at most `width` cells, an ellipsis in its middle: "GPUTem…High"."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[: max(0, width)]
    keep = width - 1
    head, tail = (keep + 1) // 2, keep // 2
    return text[:head] + "…" + (text[len(text) - tail :] if tail else "")


def _cut(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…" if width > 0 else ""


@dataclass(frozen=True, slots=True)
class RuleColumns:
    """Widths of the title, sparkline and detail columns of every row at one panel width."""

    width: int
    title_w: int
    spark_w: int
    detail_w: int
    short: bool = False  # every row's detail in its short form (one did not fit whole)

    @property
    def text_w(self) -> int:
        """Cells after the state column: where an unknown row's reason goes."""
        return max(0, self.width - CURSOR_W - STATE_W)

    @classmethod
    def fit(cls, width: int, rows: Sequence[RuleRow]) -> RuleColumns:
        avail = max(0, width - CURSOR_W - STATE_W)
        shown = [r for r in rows if r.state != "unknown"]
        title_need = max((len(r.title) for r in shown), default=0)
        short_need = max((len(r.short) for r in shown), default=0)
        longest = max((len(r.detail) for r in shown), default=0)
        detail_need = min(longest + _DETAIL_STEP - 1, -(-longest // _DETAIL_STEP) * _DETAIL_STEP)
        # what the detail keeps before the rule name is cut: the value against its threshold
        keep = min(short_need, max((len(_compared(r)) for r in shown), default=0))
        # a job beyond its minimum gives way to the detail (a countdown); a near or ok row's
        # job gives way first, before a firing or pending row's
        core_need = max((_core_len(r) for r in shown), default=0)
        title_w = min(core_need, max(avail - (keep + 1 if keep else 0), _TITLE_MIN), avail)
        rest = max(0, avail - title_w - 1)
        detail_w = min(detail_need, rest)
        grow = min(max(0, title_need - title_w), rest - detail_w)  # before the sparkline
        title_w, rest = title_w + grow, rest - grow
        room = rest - detail_w - 1
        spark_w = min(SPARK_MAX, room) if room >= SPARK_MIN else 0
        used = title_w + 1 + (spark_w + 1 if spark_w else 0) + detail_w
        title_w += max(0, avail - used)  # blank columns: the title's, so the rest sits right
        return cls(width, title_w, spark_w, detail_w, short=detail_w < longest)


def fit_title(row: RuleRow, width: int) -> str:
    """The rule and series in `width` cells: the job on its GPU gives way first (its
    namespace, then its middle, then all of it below `_JOB_SHORTEST` cells), then the rule
    name is cut (in its middle); the GPU and node stay."""
    title = row.title
    if len(title) <= width:
        return title
    at = title.find(_ARROW + row.job) if row.job else -1
    if at >= 0:  # the job gives way first, then goes (where the alert went may follow it)
        head, tail = title[:at], title[at + len(_ARROW) + len(row.job) :]
        room = width - len(head) - len(_ARROW) - len(tail)
        if room >= _JOB_SHORTEST:
            return head + _ARROW + _fit_job(row.job, room) + tail
        title = head + tail
        if len(title) <= width:
            return title
    name = row.name if row.name and title.startswith(row.name) else ""
    series = title[len(name) :]
    room = width - len(series)
    if name and room >= 6:
        return shorten_middle(name, room) + series
    return shorten_middle(title, width)


def _core_len(row: RuleRow) -> int:
    """The cells of a row's title the columns make room for before its detail's countdown:
    a firing or pending row's with its job at up to `_JOB_MIN`, any other row's without it."""
    if not row.job:
        return len(row.title)
    if row.state in ("firing", "pending"):
        return len(row.title) - max(0, len(row.job) - _JOB_MIN)
    return len(row.title) - len(row.job) - len(_ARROW)


def _fit_job(job: str, width: int) -> str:
    """A job in `width` cells: a pod without its namespace first, then cut in its middle."""
    if len(job) > width and "/" in job:
        job = job.split("/", 1)[1]
    return shorten_middle(job, width)


def _compared(row: RuleRow) -> str:
    return compared_text(row.status) if row.status is not None else ""


def fit_detail(row: RuleRow, width: int, *, short: bool = False) -> str:
    """The detail, its short form when it does not fit (or `short`: when one row's did not,
    so the rows read alike), else the value against its threshold alone (never cut into a
    false "> 8…"), else the short form cut."""
    if len(row.detail) <= width and not (short and row.short):
        return row.detail
    if row.short and len(row.short) <= width:
        return row.short
    compared = _compared(row)
    if compared and row.short.startswith(compared) and len(compared) <= width:
        return compared
    return _cut(row.short or row.detail, width)


def _spark(row: RuleRow, width: int) -> str:
    values = row.history[-width:] if width else ()
    present = [v for v in values if v is not None]
    if not present:
        return " " * width
    marks = [*present, row.threshold] if row.threshold is not None else present
    return spark_text(values, min(marks), max(marks)).rjust(width)


def row_line(row: RuleRow, cols: RuleColumns, *, selected: bool = False) -> Line:
    """One rule row: cursor mark, state, rule and series, sparkline, detail."""
    fields: list[Field] = [
        (CURSOR if selected else " " * CURSOR_W, "cursor"),
        (STATE_LABELS.get(row.state, row.state.upper()).ljust(STATE_W), row.state),
    ]
    title_style = "selected" if selected else "title"
    if row.state == "unknown":
        fields.append((_cut(row.title, cols.text_w), title_style))
        return tuple(fields)
    detail = fit_detail(row, cols.detail_w, short=cols.short)
    title_w = cols.title_w
    title = fit_title(row, title_w)
    blank = cols.detail_w - len(detail)
    if _elided(title, row) and blank > 0 and not cols.spark_w and row.state in LENDING:
        # a firing or pending row's title cut in its middle takes what it needs of the blank
        # its own detail leaves (another row's longer detail sized the column) to show its
        # pod whole: who is on its GPU matters most there; only then its detail moves right
        for wider in range(title_w + 1, title_w + blank + 1):
            more = fit_title(row, wider)
            if not _elided(more, row):
                title, title_w = more, wider
                break
    fields.append((title.ljust(title_w), title_style))
    fields.append((" ", "detail"))
    if cols.spark_w:
        fields.append((_spark(row, cols.spark_w) + " ", "spark"))
    fields.append((detail, "detail"))
    return tuple(fields)


def _elided(title: str, row: RuleRow) -> bool:
    """Whether a fitted title lost characters from its middle (not only the job's namespace)."""
    return title.count("…") > row.title.count("…")


def counted(rows: Sequence[RuleRow] | Sequence[str]) -> str:
    """How many rows (or row states) of each state: "2 near, 5 ok" (worst first)."""
    counts = {state: 0 for state in _ORDER}
    for row in rows:
        state = row if isinstance(row, str) else row.state
        counts[state] = counts.get(state, 0) + 1
    return ", ".join(f"{n} {state}" for state, n in counts.items() if n)


@dataclass(frozen=True, slots=True)
class Window:
    """Which rows are on screen: from `top`, `count` of them, and the count lines around."""

    top: int
    count: int
    above: bool
    below: bool


def _span(n: int, height: int, top: int) -> tuple[int, bool, bool]:
    above = top > 0
    room = height - (1 if above else 0)
    if top + room >= n:
        return n - top, above, False
    return max(0, room - 1), above, True


def window(n: int, height: int, top: int, cursor: int | None = None) -> Window:
    """The rows shown in `height` lines from `top`, moved so `cursor` is in view and no blank
    line is left below the last row."""
    if n <= height:
        return Window(0, n, False, False)
    height = max(1, height)
    top = max(0, min(top, n - 1))
    while top > 0 and _span(n, height, top - 1)[0] + top - 1 >= n:  # no blank lines below
        top -= 1
    if cursor is not None:
        cursor = max(0, min(cursor, n - 1))
        if cursor < top:
            top = cursor
        while True:
            count, _, _ = _span(n, height, top)
            if cursor < top + count or top >= cursor:
                break
            top += 1
    count, above, below = _span(n, height, top)
    return Window(top, count, above, below)
