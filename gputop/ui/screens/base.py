"""The base of every page of the dashboard, apart from the app: screens import this, never
`gputop.ui.app` (the app is typed here for the checker only), and never each other — they
open other pages through the app (`app.open_page`, `app.open_detail`, `app.silence_rule`).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from textual.css.query import NoMatches
from textual.screen import Screen

from gputop.ui.kiosk import stale_banner_lines
from gputop.ui.policy import is_guarded
from gputop.ui.widgets.stale_banner import StaleBanner

if TYPE_CHECKING:
    from textual import getters

    from gputop.core.models import GpuSample
    from gputop.ui.app import GpuTopApp

__all__ = ["GpuTopScreen"]


class GpuTopScreen(Screen[None]):
    """A full screen of the dashboard: `app` is typed, and `refresh_view` is called on every
    new reading while the screen is shown. Its guarded actions are gone when read-only; in
    a kiosk it carries the STALE banner instead of a footer."""

    if TYPE_CHECKING:
        app = getters.app(GpuTopApp)

    def on_mount(self) -> None:
        app = self.app
        if app.kiosk:
            banner = StaleBanner()
            self.mount(banner)
            banner.set_lines(stale_banner_lines(app.monitor))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (self.app.read_only and is_guarded(action))

    _shown_before = False

    def on_screen_resume(self) -> None:
        # back from another screen: what came in meanwhile shows now, not at the next reading
        if self._shown_before and self.app.screen is self:
            with contextlib.suppress(NoMatches):
                self.refresh_view()
        self._shown_before = True

    def refresh_view(self) -> None:
        """Bring the widgets up to date with the monitor; cheap when nothing changed."""

    def next_kiosk_part(self) -> bool:
        """In a kiosk, where nothing scrolls by key: show the next part of this page that did
        not fit and say True, or go back to its start and say False (the cycle moves on)."""
        return False

    def processes_gpu(self) -> GpuSample | None:
        """The GPU whose processes `p` shows here (None: every GPU's)."""
        return None
