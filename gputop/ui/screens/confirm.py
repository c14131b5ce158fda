"""One question before an action changes something: yes or no, never a default yes.

`y` or the action's button confirms; `n`, `escape` or Cancel declines. Cancel has the focus,
so an `enter` pressed out of habit declines. The question and the detail name processes,
silences and matchers: they are shown as text, never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from gputop.ui.safetext import plain, plain_lines

__all__ = ["ConfirmScreen"]


class ConfirmScreen(ModalScreen[bool]):
    CSS_PATH = "confirm.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(
        self, question: str, detail: str | Sequence[str] = "", *, yes: str = "Yes"
    ) -> None:
        """`detail`: a line, or several (a line break inside one is shown, not made)."""
        super().__init__()
        self.question = question
        self.detail = (detail,) if isinstance(detail, str) else tuple(detail)
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(plain(self.question), id="question")
            if any(self.detail):
                yield Static(plain_lines(self.detail), id="detail")
            with Horizontal(id="buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
