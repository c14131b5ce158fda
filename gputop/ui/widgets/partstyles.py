"""A widget's component styles, kept across repaints.

Textual forgets a widget's component styles at every `refresh()`, so a widget repainted every
tick (the readings, the clock) would work each of them out again on every repaint, walking
its ancestors for each. `PartStyles` keeps them, by the style they are combined with (a new
background, on focus, gives new ones); a restyle (a class, a theme) forgets them all
(`forget`, from the widget's `notify_style_update`).
"""

from __future__ import annotations

from rich.style import Style
from textual.widget import Widget

__all__ = ["PartStyles"]


class PartStyles:
    """A style combined with one of `widget`'s component styles, remembered."""

    def __init__(self, widget: Widget) -> None:
        self._widget = widget
        self._styles: dict[tuple[str, Style], Style] = {}

    def __call__(self, name: str, base: Style) -> Style:
        """`base` (the widget's style now, or a part's) with component `name`'s own style
        over it."""
        style = self._styles.get((name, base))
        if style is None:
            if len(self._styles) > _KEPT:  # old backgrounds: focus came and went
                self._styles.clear()
            part = self._widget.get_component_rich_style(name, partial=True)
            style = self._styles[name, base] = base + part
        return style

    def forget(self) -> None:
        """Styles changed (a class, a theme): work them out again."""
        self._styles.clear()


#: Combinations kept at most.
_KEPT = 64
