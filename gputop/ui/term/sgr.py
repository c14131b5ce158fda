"""Cell styles as the terminal sees them: parsed from SGR codes, written back as short changes.

Textual writes every segment as `ESC[<codes>m text ESC[0m`, so two neighbouring cells of the
same style cost a code and a reset each. Here a style is the terminal's rendition state (a set
of attributes, three colours, a hyperlink), interned to a small int so a cell compares in one
step, and going from one style to another writes the shorter of the change alone (`ESC[22m`
for "no longer bold") and a reset with the whole new style. Codes this module does not know
are kept in order and replayed whole: a style is never approximated, only its wording is.
"""

from __future__ import annotations

__all__ = ["DEFAULT", "UNKNOWN", "StyleTable"]

#: The terminal's default rendition (after `ESC[0m`).
DEFAULT = 0
#: The terminal's rendition is not known (start, after a screen switch): write it whole.
UNKNOWN = -1

# attribute on-codes and their bit
_ON = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6, 8: 7, 9: 8, 21: 9, 51: 10, 52: 11, 53: 12}
_CODE_OF_BIT = {bit: code for code, bit in _ON.items()}
# attribute off-codes and the bits each one clears
_OFF = {
    22: (1 << 0) | (1 << 1),
    23: 1 << 2,
    24: (1 << 3) | (1 << 9),
    25: (1 << 4) | (1 << 5),
    27: 1 << 6,
    28: 1 << 7,
    29: 1 << 8,
    54: (1 << 10) | (1 << 11),
    55: 1 << 12,
}
# colour slots: (set codes, extended code, default code)
_FG, _BG, _UL = 1, 2, 3
_EXTENDED = {38: _FG, 48: _BG, 58: _UL}
_DEFAULT_COLOUR = {39: _FG, 49: _BG, 59: _UL}

# (attrs, fg, bg, underline colour, unknown codes in order, hyperlink "params;uri")
_Style = tuple[int, str, str, str, tuple[str, ...], str]
_PLAIN: _Style = (0, "", "", "", (), "")


def _colour_slot(code: int) -> int | None:
    if 30 <= code <= 37 or 90 <= code <= 97:
        return _FG
    if 40 <= code <= 47 or 100 <= code <= 107:
        return _BG
    return None


def _parse(style: _Style, params: str) -> _Style:
    """The rendition after `ESC[<params>m` is applied to `style`."""
    attrs, fg, bg, ul, extras, link = style
    colours = ["", fg, bg, ul]
    extra = list(extras)
    parts = params.split(";")
    i = 0
    while i < len(parts):
        part = parts[i]
        i += 1
        if not part.isdigit():
            if part == "":
                attrs, colours, extra = 0, ["", "", "", ""], []
            else:  # sub-parameters (`4:3`, `38:2::r:g:b`): kept whole, in order
                extra.append(part)
            continue
        code = int(part)
        if code == 0:
            attrs, colours, extra = 0, ["", "", "", ""], []
        elif code in _ON:
            attrs |= 1 << _ON[code]
        elif code in _OFF:
            attrs &= ~_OFF[code]
        elif (slot := _colour_slot(code)) is not None:
            colours[slot] = part
        elif code in _DEFAULT_COLOUR:
            colours[_DEFAULT_COLOUR[code]] = ""
        elif code in _EXTENDED:
            kind = parts[i] if i < len(parts) else ""
            n = 2 if kind == "5" else 4 if kind == "2" else 1
            colours[_EXTENDED[code]] = ";".join(parts[i - 1 : i + n])
            i += n
        else:
            extra.append(part)
    return (attrs, colours[_FG], colours[_BG], colours[_UL], tuple(extra), link)


def _codes(style: _Style) -> list[str]:
    attrs, fg, bg, ul, extras, _link = style
    codes = [str(_CODE_OF_BIT[b]) for b in range(13) if attrs >> b & 1]
    codes += [c for c in (fg, bg, ul) if c]
    return codes + list(extras)


class StyleTable:
    """Styles interned to ints, with cached parsing and transitions."""

    def __init__(self) -> None:
        self._styles: list[_Style] = [_PLAIN]
        self._ids: dict[_Style, int] = {_PLAIN: DEFAULT}
        self._applied: dict[tuple[int, str], int] = {}
        self._linked: dict[tuple[int, str], int] = {}
        self._moves: dict[tuple[int, int], str] = {}

    def _intern(self, style: _Style) -> int:
        sid = self._ids.get(style)
        if sid is None:
            sid = self._ids[style] = len(self._styles)
            self._styles.append(style)
        return sid

    def apply(self, sid: int, params: str) -> int:
        """The style after `ESC[<params>m` on `sid`."""
        key = (sid, params)
        out = self._applied.get(key)
        if out is None:
            out = self._applied[key] = self._intern(_parse(self._styles[sid], params))
        return out

    def with_link(self, sid: int, link: str) -> int:
        """`sid` with the hyperlink of `ESC]8;<link>ESC\\` ("" or ";" closes it)."""
        key = (sid, link)
        out = self._linked.get(key)
        if out is None:
            link = "" if link.strip(";") == "" else link
            attrs, fg, bg, ul, extras, _ = self._styles[sid]
            out = self._linked[key] = self._intern((attrs, fg, bg, ul, extras, link))
        return out

    def transition(self, old: int, new: int) -> str:
        """The shortest sequence that takes the terminal from style `old` to `new`."""
        key = (old, new)
        out = self._moves.get(key)
        if out is None:
            out = self._moves[key] = self._transition(old, new)
        return out

    def _transition(self, old: int, new: int) -> str:
        if old == new:
            return ""
        target = self._styles[new]
        codes = _codes(target)
        if old == UNKNOWN:
            sgr = "\x1b[" + ";".join(["0", *codes]) + "m" if codes else "\x1b[m"
            link = _link_sequence(target[5]) if target[5] else "\x1b]8;;\x1b\\"
            return sgr + link
        current = self._styles[old]
        if current[:5] == target[:5]:
            sgr = ""
        elif not codes:
            sgr = "\x1b[m"
        else:
            whole = ";".join(codes if old == DEFAULT else ["0", *codes])
            delta = _delta(current, target)
            sgr = "\x1b[" + (whole if delta is None or len(delta) >= len(whole) else delta) + "m"
        link = "" if current[5] == target[5] else _link_sequence(target[5])
        return sgr + link


def _link_sequence(link: str) -> str:
    return f"\x1b]8;{link or ';'}\x1b\\"


def _delta(current: _Style, target: _Style) -> str | None:
    """Codes that change only what differs, or None when only a reset will do."""
    if current[4] or target[4]:
        return None  # unknown codes: no telling what turns them off
    codes: list[str] = []
    removed = current[0] & ~target[0]
    added = target[0] & ~current[0]
    for code, mask in _OFF.items():
        if removed & mask:
            codes.append(str(code))
            added |= target[0] & mask  # the off-code cleared its siblings too
    codes += [str(_CODE_OF_BIT[b]) for b in range(13) if added >> b & 1]
    for now, then, default in zip(current[1:4], target[1:4], ("39", "49", "59"), strict=True):
        if now != then:
            codes.append(str(then) or default)
    return ";".join(codes)
