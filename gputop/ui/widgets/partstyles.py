"""A widget's component styles, kept across repaints.

Textual forgets a widget's component styles at every `refresh()`, so a widget repainted every
tick (the readings, the clock) would work each of them out again on every repaint, walking
its ancestors for each. `PartStyles` keeps them, by the style they are combined with (a new
background, on focus, gives new ones); a restyle (a class, a theme) forgets them all
(`forget`, from the widget's `notify_style_update`). A widget drawing its own lines derives
from `PartStyled`, which keeps them as `_part_styles`.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from textual.widget import Widget

__all__ = ["PartStyled", "PartStyles"]


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


class PartStyled(Widget):
    """A widget that draws its own lines with its component styles, kept in `_part_styles`
    across repaints and forgotten when it is restyled."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._part_styles = PartStyles(self)  # before any class is set: a restyle forgets them
        super().__init__(*args, **kwargs)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._part_styles.forget()
