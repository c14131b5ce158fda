"""Outside text made safe to show: every string gputop did not write itself (process names and
command lines, label values, rule names and annotations, silences, servers' error bodies, file
contents) passes through `visible` before it reaches a terminal, a log or a report.

A terminal obeys what it is sent: an ESC in a process name can set the clipboard (OSC 52) or
the window title, a C1 byte can start a control sequence on its own, a bidi override can make
text read backwards. `visible` keeps the text and shows those characters as what they are:
C0 controls as their Unicode control pictures (ESC is `␛`, BEL `␇`, a line feed `␊`), DEL as
`␡`, C1 controls as `\\x9b`, bidi overrides, isolates and marks and the line separators as
`\\u202e`, and the lone surrogates a non-UTF-8 byte decodes to as the byte, `\\xff`. Text with
none of them (nearly all of it) comes back as the same object, so calling it costs one regex
search. Markup is not its business: the UI turns the result into Rich `Text`, never parses it
(`gputop.ui.safetext`).

`escaped` writes the same characters as `\\u001b` escapes instead, where the text is read
back (JSON, silence matchers); `escaped_lines` keeps a document's own line breaks. `one_line`
is the form every error reason takes: whitespace runs collapsed, controls visible, cut to a
length that fits a header.
"""

from __future__ import annotations

import re

__all__ = ["MAX_REASON_CHARS", "UNSAFE", "escaped", "escaped_lines", "one_line", "visible"]

#: Longest reason a source error keeps: a header line, a banner, a toast.
MAX_REASON_CHARS = 240

#: Characters a terminal may act on, or that reorder what is around them.
UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _shown(code: int) -> str:
    if code < 0x20:
        return chr(0x2400 + code)  # the control pictures: ␀ .. ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    if code <= 0x9F:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # a byte that was not UTF-8 (surrogateescape)
    return f"\\u{code:04x}"


_TABLE = {
    code: _shown(code)
    for code in (
        *range(0x00, 0x20),
        *range(0x7F, 0xA0),
        0x061C,
        0x200E,
        0x200F,
        0x2028,
        0x2029,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
        *range(0xD800, 0xE000),
    )
}


def visible(text: str) -> str:
    """`text` with every character a terminal could act on shown as what it is."""
    if UNSAFE.search(text) is None:
        return text
    return text.translate(_TABLE)


def escaped(text: str) -> str:
    """`text` with each such character written as a `\\u001b` escape: for JSON documents
    (which escape only C0 themselves) and for text meant to be read back (silence matchers)."""
    if UNSAFE.search(text) is None:
        return text
    return UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def escaped_lines(text: str) -> str:
    """`escaped`, line by line: the text's own line breaks kept (a JSON document's layout)."""
    return "\n".join(escaped(line) for line in text.split("\n"))


_SPACES = re.compile(r"[ \t\n\r\f\v]+")


def one_line(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """`text` as one short line: whitespace runs collapsed, controls visible, cut at `limit`
    characters with "…"."""
    line = visible(_SPACES.sub(" ", text).strip())
    if len(line) > limit:
        line = line[: max(0, limit - 1)] + "…"
    return line
