"""The header at a width: which parts shorten first, so it never drops a critical fact.

`status_parts` (in `view`) words every part in full; `fit_header` fits them to the terminal:
while they do not fit, the least urgent part that can still shorten takes its next shorter
form. What goes first: the title, then the host's driver and CUDA versions and the host
itself, a stand-in source's "unavailable", healthy sources' names ("● prom now") and their
freshness; only then do the critical parts shorten: a failing source keeps its name (and
STALE) after its retry countdown, age and reason have gone, the READ-ONLY badge stays whole,
and lost GPUs keep their count. Only what still does not fit after all that is cut.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["fit_header", "header_forms"]

Part = tuple[str, str]

#: Shorter names of the sources, for a narrow header.
_SHORT_NAMES = {"prometheus": "prom", "alertmanager": "AM"}
_TAILS = (re.compile(r", retry in \S+$"), re.compile(r", stale \S+$"))
_SOURCE = re.compile(r"^(?P<mark>[●✖]) (?P<name>[\w-]+)(?P<rest>.*)$")
_LOST = re.compile(r"^✖ (?P<n>\d+) GPUs? lost$")


def _shorten(text: str) -> str:
    """`prometheus` → `prom`, once, in a source's part."""
    m = _SOURCE.match(text)
    if m is None or m["name"] not in _SHORT_NAMES:
        return text
    return f"{m['mark']} {_SHORT_NAMES[m['name']]}{m['rest']}"


def _kind(part: Part) -> str:
    """The part's class, or "host" for the host, driver and CUDA (muted, and no source)."""
    text, cls = part
    return "host" if cls == "status-bar--off" and _SOURCE.match(text) is None else cls


#: How dispensable each kind of shortening is: the highest goes first.
_TITLE, _VERSIONS, _HOST, _STAND_IN, _NAME, _RETRY, _AGE, _FRESHNESS, _REASON, _ABBR, _LOST_W = (
    10,
    9,
    8,
    7,
    6.5,
    6,
    5.5,
    5,
    4,
    3,
    2,
)


def header_forms(part: Part) -> tuple[tuple[str, float], ...]:
    """A part's shorter forms, longest first ("": it may go altogether), each with how
    dispensable the words it drops are."""
    text, cls = part
    if cls == "status-bar--title":
        return (("", _TITLE),)
    if _kind(part) == "host":
        host = text.split(" ")[0]
        return ((host, _VERSIONS), ("", _HOST)) if host != text else (("", _HOST),)
    m = _SOURCE.match(text)
    forms: list[tuple[str, float]] = []
    if cls == "status-bar--ok" and m is not None:
        forms = [(_shorten(text), _NAME), (_shorten(f"{m['mark']} {m['name']}"), _FRESHNESS)]
    elif cls == "status-bar--off" and m is not None:  # a stand-in source's "unavailable"
        forms = [(f"{m['mark']} {m['name']}", _STAND_IN), ("", _STAND_IN)]
    elif cls == "status-bar--bad":
        lost = _LOST.match(text)
        if lost is not None:
            return ((f"✖ {lost['n']} lost", _LOST_W),)
        shorter = text
        for tail, rank in zip(_TAILS, (_RETRY, _AGE), strict=True):
            shorter = tail.sub("", shorter)  # the retry countdown, then the data's age
            forms.append((shorter, rank))
        if m is not None:
            stale = " STALE" if m["rest"].startswith(" STALE") else ""
            forms += [
                (f"✖ {m['name']}{stale}", _REASON),
                (_shorten(f"✖ {m['name']}{stale}"), _ABBR),
            ]
    out: dict[str, float] = {}
    for form, rank in forms:
        if form != text and form not in out:
            out[form] = rank
    return tuple(out.items())


def _width(parts: Sequence[Part]) -> int:
    return sum(len(text) + 2 for text, _ in parts if text)


def fit_header(parts: Sequence[Part], width: int) -> list[Part]:
    """The parts, shortened until they fit in `width` cells (each is drawn with a blank on
    either side); parts shortened to nothing are left out."""
    fitted = list(parts)
    forms = [list(header_forms(p)) for p in parts]
    while _width(fitted) > width:
        can = [i for i in range(len(fitted)) if forms[i]]
        if not can:
            break
        i = max(can, key=lambda k: (forms[k][0][1], k))  # the most dispensable, rightmost
        fitted[i] = (forms[i].pop(0)[0], fitted[i][1])
    return [p for p in fitted if p[0]]
