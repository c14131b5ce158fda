"""Textual's Footer, recomposed only when the keys it shows change.

Textual (8.2) recomposes its Footer (every key unmounted and mounted again) each time the
screen says its bindings may have changed: focus moving, a screen resuming, the terminal
gaining focus. At start-up that is three recomposes within a second for the same keys, some
60 ms of CPU and a repaint of the bottom line each; this one first compares the keys it would
show with those it shows.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer

__all__ = ["KeysFooter"]


class KeysFooter(Footer):
    """A Footer that ignores binding changes which leave its keys as they are."""

    _shown: tuple[object, ...] | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        keys = tuple(
            (binding, enabled, tooltip)
            for _, binding, enabled, tooltip in screen.active_bindings.values()
            if binding.show
        )
        if keys == self._shown:
            return
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._shown = keys  # the recompose below will show exactly these
        super().bindings_changed(screen)
