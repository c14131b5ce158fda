"""Line numbers of the keys and tables of a TOML document.

tomllib returns plain dicts with no positions, so to name the line of a bad key the text
is scanned once more: headers, dotted keys and values (strings, arrays and inline tables
that may span lines) are skipped just well enough to know where each key starts.
The text has already parsed, so the scanner never has to report a syntax error.
"""

from __future__ import annotations

import json
import re

__all__ = ["KeyLines"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class KeyLines:
    """Maps a key path such as ("prometheus", "url") to the line it was written on."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._line = 1
        self._lines: dict[tuple[str, ...], int] = {}
        self._scan()

    def line_of(self, path: tuple[str, ...]) -> int | None:
        """The line of `path`, else of its nearest ancestor that has one (None: unknown)."""
        for end in range(len(path), 0, -1):
            line = self._lines.get(path[:end])
            if line is not None:
                return line
        return None

    # --- scanning -----------------------------------------------------------------------

    def _record(self, path: tuple[str, ...], line: int) -> None:
        # Every prefix too: a table made implicitly by [a.b.c] is "written" where a.b.c is.
        for end in range(1, len(path) + 1):
            self._lines.setdefault(path[:end], line)

    def _peek(self, ahead: int = 0) -> str:
        pos = self._pos + ahead
        return self._text[pos] if pos < len(self._text) else ""

    def _advance(self, count: int = 1) -> None:
        for _ in range(count):
            if self._peek() == "\n":
                self._line += 1
            self._pos += 1

    def _skip_blank(self, newlines: bool) -> None:
        while self._pos < len(self._text):
            char = self._peek()
            if char in " \t\r" or (newlines and char == "\n"):
                self._advance()
            elif char == "#":
                while self._pos < len(self._text) and self._peek() != "\n":
                    self._advance()
            else:
                return

    def _scan(self) -> None:
        table: tuple[str, ...] = ()
        while True:
            self._skip_blank(newlines=True)
            if self._pos >= len(self._text):
                return
            line = self._line
            if self._peek() == "[":
                double = self._peek(1) == "["
                self._advance(2 if double else 1)
                table = self._dotted_key()
                self._record(table, line)
                self._skip_to_line_end()
                continue
            path = table + self._dotted_key()
            self._record(path, line)
            self._skip_blank(newlines=False)
            if self._peek() == "=":
                self._advance()
            self._skip_value(path)

    def _skip_to_line_end(self) -> None:
        while self._pos < len(self._text) and self._peek() != "\n":
            self._advance()

    def _dotted_key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self._skip_blank(newlines=False)
            parts.append(self._simple_key())
            self._skip_blank(newlines=False)
            if self._peek() != ".":
                return tuple(parts)
            self._advance()

    def _simple_key(self) -> str:
        char = self._peek()
        if char in "\"'":
            start = self._pos
            self._skip_string()
            raw = self._text[start : self._pos]
            if char == "'":
                return raw[1:-1]
            try:
                return str(json.loads(raw))
            except ValueError:
                return raw[1:-1]
        match = _BARE_KEY.match(self._text, self._pos)
        if match is None:
            self._advance()  # unreachable for text tomllib accepted; keeps the loop moving
            return ""
        self._advance(match.end() - self._pos)
        return match.group()

    def _skip_string(self) -> None:
        quote = self._peek()
        triple = self._peek(1) == quote and self._peek(2) == quote
        delimiter = quote * 3 if triple else quote
        self._advance(len(delimiter))
        while self._pos < len(self._text):
            if quote == '"' and self._peek() == "\\":
                self._advance(2)
                continue
            if self._text.startswith(delimiter, self._pos):
                self._advance(len(delimiter))
                # A multi-line string may end with up to two extra quotes ("""a"""").
                while triple and self._peek() == quote:
                    self._advance()
                return
            self._advance()

    def _skip_value(self, path: tuple[str, ...]) -> None:
        """Skip one value, recording the keys of the inline tables inside it."""
        # Each open bracket with the key path its contents belong to.
        stack: list[tuple[str, tuple[str, ...]]] = []
        value_path = path
        expect_key = False
        while self._pos < len(self._text):
            char = self._peek()
            if not stack and char == "\n":
                return
            if char in " \t\r\n":
                self._advance()
            elif char == "#":
                self._skip_to_line_end()
            elif expect_key and char != "}":
                expect_key = False
                line = self._line
                value_path = stack[-1][1] + self._dotted_key()
                self._record(value_path, line)
                self._skip_blank(newlines=False)
                if self._peek() == "=":
                    self._advance()
            elif char in "\"'":
                self._skip_string()
            elif char in "[{":
                self._advance()
                stack.append((char, value_path))
                expect_key = char == "{"
            elif char in "]}":
                self._advance()
                if stack:
                    stack.pop()
                if not stack:
                    return
                value_path = stack[-1][1]
            else:
                self._advance()
                if char == "," and stack and stack[-1][0] == "{":
                    expect_key = True
