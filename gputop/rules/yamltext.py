"""Where each character of a YAML scalar's value is written in the file.

A rule's expression is often a block scalar (`expr: |`), folded (`expr: >`), a plain scalar
over several lines, or quoted with escapes: the value PyYAML returns is not the file's text.
`scalar_map` walks the value and the file side by side (the value's characters appear in the
file in order; what the file has in between is indentation, folded line breaks, quotes and
escapes) and keeps the result as a few runs, so a token found in the value is reported at
its own line and column. Also here: the `# gputop: disable=...` comments of a rule.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

import yaml

__all__ = [
    "DISABLE_COMMENT",
    "OffsetMap",
    "SourceText",
    "comment_texts",
    "disable_comments",
    "scalar_map",
]

#: `# gputop: disable=check-a,check-b` in a rule's lines or the comment lines just above it.
DISABLE_COMMENT = re.compile(r"#\s*gputop:\s*disable\s*=\s*([A-Za-z0-9_,\s-]+)")
_ESCAPE_LENGTHS = {"x": 4, "u": 6, "U": 10}
_COMMENT = re.compile(r"(?:^|\s)#(.*)$")


class SourceText:
    """A file's text with its line starts, to turn offsets into 1-based line and column."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.splitlines()
        self._starts = [0] + [m.end() for m in re.finditer(r"\r\n|\n|\r", text)]

    def line_col(self, index: int) -> tuple[int, int]:
        row = bisect.bisect_right(self._starts, index) - 1
        return row + 1, index - self._starts[row] + 1


@dataclass(frozen=True, slots=True)
class OffsetMap:
    """Runs of a value written contiguously: (value offset, line, col) where each starts."""

    runs: tuple[tuple[int, int, int], ...]

    def at(self, offset: int) -> tuple[int, int]:
        """1-based (line, col) of the value's character at `offset`."""
        starts = [r[0] for r in self.runs]
        k = max(0, bisect.bisect_right(starts, offset) - 1)
        start, line, col = self.runs[k]
        return line, col + max(0, offset - start)


def scalar_map(source: SourceText, node: yaml.ScalarNode, value: str) -> OffsetMap | None:
    """Where each character of `value` (the node's value) is written; None if the file's text
    cannot be lined up with it (then callers fall back to the scalar's start)."""
    text = source.text
    si, end = node.start_mark.index, node.end_mark.index
    style = node.style
    if style in ("|", ">"):
        newline = text.find("\n", si)
        si = end if newline < 0 else newline + 1  # the header `|-` and its comment
    elif style in ('"', "'"):
        si, end = si + 1, end - 1
    runs: list[tuple[int, int, int]] = []
    last: tuple[int, int, int] | None = None  # (value offset, line, col) of the last mapped

    def put(vi: int, index: int) -> None:
        nonlocal last
        line, col = source.line_col(index)
        if last is None or not (last[0] == vi - 1 and last[1] == line and last[2] == col - 1):
            runs.append((vi, line, col))
        last = (vi, line, col)

    vi = 0
    while vi < len(value):
        if si >= end:
            if value[vi:].strip():
                return None
            break  # trailing line breaks kept by chomping
        vc, sc = value[vi], text[si]
        if style == '"' and sc == "\\":
            following = text[si + 1 : si + 2]
            if following in ("\n", "\r"):  # an escaped line break joins the lines
                si += 2
                while si < end and text[si] in " \t\r\n":
                    si += 1
                continue
            put(vi, si)
            vi += 1
            si += _ESCAPE_LENGTHS.get(following, 2)
        elif style == "'" and sc == "'" and vc == "'" and text[si + 1 : si + 2] == "'":
            put(vi, si)
            vi += 1
            si += 2
        elif vc == sc:
            put(vi, si)
            vi += 1
            si += 1
        elif sc in " \t\r\n":
            si += 1  # indentation, or a line break folded into the value's space
        elif vc in " \n":
            vi += 1  # folding made a space or line break where the file has none
        else:
            return None
    return OffsetMap(tuple(runs)) if runs else None


def _rule_rows(lines: list[str], first: int, last: int) -> range:
    """Lines first..last (1-based) and the comment lines right above `first`."""
    top = first
    while top > 1 and lines[top - 2].lstrip().startswith("#"):
        top -= 1
    return range(top, min(last, len(lines)) + 1)


def comment_texts(lines: list[str], first: int, last: int) -> tuple[str, ...]:
    """The text of every comment on lines first..last (1-based) and on the comment lines
    right above `first` (a `#` at a line's start or after a space; inside a block scalar,
    a PromQL comment)."""
    found = []
    for row in _rule_rows(lines, first, last):
        match = _COMMENT.search(lines[row - 1])
        if match:
            found.append(match.group(1).strip())
    return tuple(found)


def disable_comments(lines: list[str], first: int, last: int) -> list[tuple[str, int, int]]:
    """(check, line, col) of every name in disable comments on lines first..last (1-based)
    and on the comment lines right above `first`."""
    found: list[tuple[str, int, int]] = []
    for row in _rule_rows(lines, first, last):
        line = lines[row - 1]
        for match in DISABLE_COMMENT.finditer(line):
            start = match.start(1)
            for name in re.finditer(r"[^,\s]+", match.group(1)):
                found.append((name.group(), row, start + name.start() + 1))
    return found
