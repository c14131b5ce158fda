"""How changed cells become bytes: which runs of a row to write, and the shortest cursor move.

A row's cells are text (one grapheme; "" continues a wide character; None is unknown) and
interned styles. A run never starts or ends inside a wide character, and an unchanged gap
between two runs is written again when that costs no more than a cursor move over it (a ':'
between two digits of a clock). Cursor moves are relative when the terminal's cursor is known
and that is shorter, absolute otherwise; nothing here relies on the terminal's wrap mode.
"""

from __future__ import annotations

from gputop.ui.term.sgr import StyleTable

__all__ = ["Row", "changed_runs", "cursor_move"]

Row = list[str | None]


def changed_runs(
    want_t: Row,
    want_s: list[int],
    have_t: Row,
    have_s: list[int],
    first: int,
    end: int,
    styles: StyleTable,
) -> list[list[int]]:
    """Runs [a, b) of cells to write within [first, end): the changed ones, whole wide
    characters, and the unchanged gaps between them that cost less to write than to skip."""
    width = len(want_t)
    runs: list[list[int]] = []
    x = first
    while x < end:
        if want_t[x] is not None and (want_t[x] != have_t[x] or want_s[x] != have_s[x]):
            a = x
            while (
                x < end
                and want_t[x] is not None
                and (want_t[x] != have_t[x] or want_s[x] != have_s[x])
            ):
                x += 1
            while a > 0 and (want_t[a] == "" or have_t[a] == ""):
                a -= 1  # never start inside a wide character
            while x < width and (want_t[x] == "" or have_t[x] == ""):
                x += 1  # nor end inside one
            if runs and a <= runs[-1][1]:
                runs[-1][1] = max(runs[-1][1], x)
            elif runs and _gap_is_cheap(want_t, want_s, runs[-1][1], a, styles):
                runs[-1][1] = x
            else:
                runs.append([a, x])
        else:
            x += 1
    return runs


def _gap_is_cheap(want_t: Row, want_s: list[int], a: int, b: int, styles: StyleTable) -> bool:
    """Is writing the unchanged cells [a, b) again no dearer than a cursor move over them?"""
    move = 3 + (len(str(b - a)) if b - a > 1 else 0)
    cost = 0
    style = want_s[a - 1]
    for x in range(a, b):
        text = want_t[x]
        if text is None:
            return False
        if want_s[x] != style:
            cost += len(styles.transition(style, want_s[x]))
            style = want_s[x]
        cost += len(text.encode())
        if cost > move:
            return False
    return cost + len(styles.transition(style, want_s[b])) <= move + len(
        styles.transition(want_s[a - 1], want_s[b])
    )


def cursor_move(tx: int | None, ty: int | None, x: int, y: int) -> str:
    """The shortest sequence sure to take the cursor from (tx, ty) (None: unknown) to (x, y)."""
    best = f"\x1b[{y + 1}H" if x == 0 else f"\x1b[{y + 1};{x + 1}H"
    if ty == y and tx is not None:
        n = x - tx
        rel = "\r" if x == 0 else _steps(n, "C") if n > 0 else _steps(-n, "D")
        if len(rel) < len(best):
            best = rel
    elif tx == x and ty is not None:
        n = y - ty
        rel = _steps(n, "B") if n > 0 else _steps(-n, "A")
        if len(rel) < len(best):
            best = rel
    elif ty is not None and y == ty + 1 and x == 0:
        best = "\r\n"
    return best


def _steps(n: int, final: str) -> str:
    return f"\x1b[{final}" if n == 1 else f"\x1b[{n}{final}"
