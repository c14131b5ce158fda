"""What the dashboard may do, and where it may be seen: read-only and kiosk.

Three actions change something outside gputop: silence a rule in Alertmanager, expire a
silence, signal a GPU process. Each is a binding whose action name is in `GUARDED_ACTIONS`:
with `--read-only` (and in a kiosk) the screens hide those bindings, their keys answer
"read-only", and the app refuses the action even when called directly. Each asks for
confirmation in a dialog first. A kiosk is read-only and also ignores every key but its exit
chord, shows no toasts or dialogs and no footer, and cycles its pages (see `gputop.ui.kiosk`).
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import events
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel

from gputop.core.untrusted import visible
from gputop.ui.actions import READ_ONLY_MESSAGE, Actions
from gputop.ui.kiosk import ExitChord, kiosk_pages

__all__ = [
    "GUARDED_ACTIONS",
    "READ_ONLY_MESSAGE",
    "Policy",
    "guarded_keys",
    "is_guarded",
]

#: Action names (without namespace or arguments) that change something outside gputop.
GUARDED_ACTIONS = frozenset({"silence", "expire_silence", "signal_process"})


def is_guarded(action: str) -> bool:
    return action.split("(")[0].rsplit(".", 1)[-1] in GUARDED_ACTIONS


def guarded_keys(bindings: Iterable[BindingType]) -> set[str]:
    """The keys of the bindings that run a guarded action."""
    return {b.key for b in Binding.make_bindings(bindings) if is_guarded(b.action)}


class Policy(Actions):
    """The part of `GpuTopApp` that guards: read-only and the kiosk."""

    exit_chord: ExitChord
    kiosk_page_name: str  # the page of the kiosk cycle shown

    async def on_event(self, event: events.Event) -> None:
        """A kiosk drops every key and mouse event but the exit chord; read-only answers the
        keys of the actions it has removed."""
        if isinstance(event, events.InputEvent) and not event.is_forwarded:
            if self.kiosk:
                if isinstance(event, events.Key) and self.exit_chord.press(event.key):
                    self.exit(0)
                return
            if isinstance(event, events.Key) and self.read_only and self.guarded(event.key):
                self.say_read_only()
                return
        elif self.kiosk and isinstance(event, events.Paste):
            return
        await super().on_event(event)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "fleet":  # the listed binding with Prometheus, the unlisted one without
            return bool(parameters) == (self.monitor.remote is None)
        if action == "alerts":
            return bool(parameters) == (self.monitor.alertmanager is None)
        if action == "retry":
            return self.failing
        return not (self.read_only and is_guarded(action))

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A toast, except in a kiosk: nothing may cover its rows. Toasts name rules, series
        and processes: their words are shown as text, never as markup (`markup` is ignored)."""
        if not self.kiosk:
            super().notify(
                visible(message),
                title=visible(title),
                severity=severity,
                timeout=timeout,
                markup=False,
            )

    def guarded(self, key: str) -> bool:
        bindings: list[BindingType] = [*type(self).BINDINGS, *type(self.screen).BINDINGS]
        return key in guarded_keys(bindings)

    def kiosk_pages(self) -> list[str]:
        return kiosk_pages(self.monitor)

    def next_kiosk_page(self) -> None:
        """Show the next page of the kiosk cycle: the overview (a part at a time, when its
        GPUs do not all fit), then each page that has something to show (processes, fleet,
        alerts)."""
        from gputop.ui.screens.base import GpuTopScreen

        screen = self.screen
        if isinstance(screen, GpuTopScreen) and screen.next_kiosk_part():
            return  # the same page, showing what did not fit (the next GPUs)
        pages = self.kiosk_pages()
        shown = self.kiosk_page_name
        at = pages.index(shown) if shown in pages else -1
        page = pages[(at + 1) % len(pages)]
        self.kiosk_page_name = page
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if page == "processes":
            self.action_processes()
        elif page == "fleet":
            self.action_fleet()
        elif page == "alerts":
            self.action_alerts()
