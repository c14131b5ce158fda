"""The footer: the keys of the screen shown, whole, in one line.

Textual's `Footer` cuts labels at the terminal's edge (`p Proces`); here a key that does not
fit whole is left out, latest declared first, and "? Help" (which lists every key) and
"q Quit" always stay. Bindings that share a `Binding.Group` show as one item ("1234 Range").
One line drawn with the line API; it repaints only when the bindings or the width change.
A click on a key presses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from textual import events
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget

__all__ = ["KeyBar", "KeyItem", "fit_keys"]

#: Actions whose keys stay when the line is too short for all of them.
PINNED = ("help", "quit")
_GAP = 2


@dataclass(frozen=True, slots=True)
class KeyItem:
    """One item of the bar: the key(s) shown, the words, the key a click presses."""

    keys: str
    description: str
    press: str
    action: str

    @property
    def width(self) -> int:
        return len(self.keys) + 1 + len(self.description)


def fit_keys(items: list[KeyItem], width: int) -> list[KeyItem]:
    """The items that fit whole in `width` cells (1 blank at the start, 2 between items);
    the last declared go first, the pinned ones (help, quit) never."""
    shown = list(items)

    def total() -> int:
        return 1 + sum(i.width for i in shown) + _GAP * max(0, len(shown) - 1)

    while shown and total() > width:
        drop = next((i for i in reversed(shown) if i.action not in PINNED), None)
        if drop is None:
            break
        shown.remove(drop)
    return shown


class KeyBar(Widget):
    COMPONENT_CLASSES = {"key-bar--key", "key-bar--description"}
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: $panel; color: $text; }
    KeyBar > .key-bar--key { color: $accent; text-style: bold; }
    KeyBar > .key-bar--description { color: $text; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._items: list[KeyItem] = []
        self._shown: list[KeyItem] = []

    @property
    def shown(self) -> list[KeyItem]:
        """The items on the line now."""
        return list(self._shown)

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        items: list[KeyItem] = []
        groups: dict[str, int] = {}
        seen: set[str] = set()
        app = self.app
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            key = app.get_key_display(binding)
            group = binding.group
            if group is not None and group.description in groups:
                at = groups[group.description]
                held = items[at]
                items[at] = KeyItem(held.keys + key, held.description, held.press, held.action)
                continue
            if group is not None:
                groups[group.description] = len(items)
            words = group.description if group is not None else binding.description
            items.append(KeyItem(key, words, binding.key.split(",")[0], binding.action))
        if items != self._items:
            self._items = items
            self._refit()

    def _refit(self) -> None:
        shown = fit_keys(self._items, self.content_size.width)
        if shown != self._shown:
            self._shown = shown
            self.refresh()

    def on_resize(self) -> None:
        self._refit()

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        key_style = base + self.get_component_rich_style("key-bar--key", partial=True)
        words = base + self.get_component_rich_style("key-bar--description", partial=True)
        segments = [Segment(" ", base)]
        for n, item in enumerate(self._shown):
            if n:
                segments.append(Segment(" " * _GAP, base))
            segments.append(Segment(item.keys, key_style))
            segments.append(Segment(" " + item.description, words))
        width = self.content_size.width
        return Strip(segments).crop(0, width).extend_cell_length(width, base)

    def on_click(self, event: events.Click) -> None:
        x = 1
        for item in self._shown:
            if x <= event.x < x + item.width:
                self.app.simulate_key(item.press)
                return
            x += item.width + _GAP
