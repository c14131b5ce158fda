"""The UI's one door for outside text: strings become Rich `Text` with their control
characters visible (`gputop.core.untrusted.visible`), never parsed as markup.

Textual parses a plain `str` as content markup almost everywhere it takes one (`Static`,
`border_title`, `notify`, DataTable cells): `[@click=app.quit]` in a process name would be a
link that runs an action, `[bold red]FAKE[/]` would restyle the screen, and a stray `[/]`
raises. So a widget is given `Text` built here: gputop's own words and outside values alike,
styled by gputop, shown as they are.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import JustifyMethod, OverflowMethod
from rich.style import StyleType
from rich.text import Text

from gputop.core.untrusted import visible

__all__ = ["assemble", "plain", "plain_lines"]


def plain(
    text: str,
    style: StyleType = "",
    *,
    justify: JustifyMethod | None = None,
    overflow: OverflowMethod | None = None,
    no_wrap: bool | None = None,
) -> Text:
    """`text` as Rich Text: never markup, control characters visible."""
    return Text(visible(text), style=style, justify=justify, overflow=overflow, no_wrap=no_wrap)


def assemble(*parts: str | tuple[str, StyleType]) -> Text:
    """Text from parts, each a string or (string, style), every one made visible: for lines
    that mix gputop's words with outside values."""
    out = Text()
    for part in parts:
        if isinstance(part, tuple):
            out.append(visible(part[0]), part[1])
        else:
            out.append(visible(part))
    return out


def plain_lines(lines: Iterable[str], style: StyleType = "") -> Text:
    """Lines as one Text: gputop's own line breaks between them, any inside one shown."""
    return Text("\n", style=style).join(plain(line, style) for line in lines)
