"""Silence a rule's alert in Alertmanager: matchers, duration, comment, then a confirmation.

The matchers start as the row's alertname plus its GPU's identity (node, index, UUID) and can
be edited in Alertmanager's own syntax (`name="v"`, `!=`, `=~`, `!~`); as they change, the
dialog counts the alerts Alertmanager holds now that they would match, so a silence far wider
than meant shows before it is made. A comment is required; `createdBy` is user@host.
Alertmanager's refusals (a bad regex, no matchers) are shown in the dialog, which stays open.
"""

from __future__ import annotations

import time
from typing import ClassVar

from textual import getters, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from gputop.core.units import format_duration, parse_duration
from gputop.rules.fate import silence_labels
from gputop.rules.model import RuleStatus
from gputop.rules.text import rule_title
from gputop.sources.amtypes import AmError, Matcher, format_matchers, parse_matchers
from gputop.ui.actions import READ_ONLY_MESSAGE, created_by
from gputop.ui.app import GpuTopApp
from gputop.ui.safetext import plain
from gputop.ui.screens.confirm import ConfirmScreen

__all__ = ["DURATIONS", "SilenceScreen", "matching_alerts"]

#: The durations offered, in seconds; "custom" takes any Prometheus-style duration.
DURATIONS: dict[str, float] = {"1h": 3600.0, "4h": 4 * 3600.0, "24h": 24 * 3600.0}
_MAX_S = 366 * 86400.0


def matching_alerts(matchers: tuple[Matcher, ...], app: GpuTopApp) -> int | None:
    """How many alerts Alertmanager holds now that `matchers` cover (None: not read yet)."""
    am = app.monitor.alertmanager
    view = am.view if am is not None else None
    if view is None:
        return None
    return sum(1 for a in view.alerts if all(m.matches(a.labels) for m in matchers))


class SilenceScreen(ModalScreen[str | None]):
    """Dismissed with the new silence's id, or None when cancelled."""

    CSS_PATH = "silence.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    app = getters.app(GpuTopApp)

    def __init__(self, status: RuleStatus) -> None:
        super().__init__()
        self.status = status
        self.created_by = created_by()
        self._labels = silence_labels(status)

    def compose(self) -> ComposeResult:
        box = Vertical(id="silence")
        box.border_title = plain(f"Silence {rule_title(self.status)}")
        prefill = format_matchers(Matcher(k, v) for k, v in self._labels.items())
        with box:
            with Horizontal(classes="row"):
                yield Label("Matchers", classes="field")
                yield Input(prefill, id="matchers", compact=True, select_on_focus=False)
            yield Static("", id="matches", classes="note", markup=False)
            with Horizontal(classes="row"):
                yield Label("Duration", classes="field")
                options = [(name, name) for name in DURATIONS] + [("custom:", "custom")]
                yield Select(options, value="1h", allow_blank=False, id="duration", compact=True)
                yield Input(placeholder="e.g. 90m, 2d", id="custom", compact=True)
            with Horizontal(classes="row"):
                yield Label("Comment", classes="field")
                yield Input(placeholder="required: why, and who to ask", id="comment", compact=True)
            yield Static("", id="ends", classes="note", markup=False)
            yield Static("", id="error", classes="note", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Silence…", id="submit", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self._update_matches()
        self._update_ends()
        self.query_one("#comment", Input).focus()

    # ---- live feedback ----------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "matchers":
            self._update_matches()
        elif event.input.id == "custom" and event.value.strip():
            self.query_one("#duration", Select).value = "custom"
        self._update_ends()

    def on_select_changed(self, event: Select.Changed) -> None:
        self._update_ends()

    def _update_matches(self) -> None:
        out = self.query_one("#matches", Static)
        try:
            matchers = parse_matchers(self.query_one("#matchers", Input).value)
        except ValueError as exc:
            out.update(plain(f"✖ {exc}"))
            return
        count = matching_alerts(matchers, self.app)
        if count is None:
            out.update("Alertmanager not read yet: cannot count the alerts these match")
        else:
            out.update(f"matches {count} current alert{'' if count == 1 else 's'} in Alertmanager")

    def _update_ends(self) -> None:
        try:
            seconds = self._duration_s()
        except ValueError as exc:
            self.query_one("#ends", Static).update(plain(f"✖ {exc}"))
            return
        ends = self.app.monitor.clock.now() + seconds
        clock = time.strftime("%Y-%m-%d %H:%M", time.localtime(ends))
        self.query_one("#ends", Static).update(
            plain(f"created by {self.created_by} · ends {clock} (in {format_duration(seconds)})")
        )

    def _duration_s(self) -> float:
        choice = self.query_one("#duration", Select).value
        if choice != "custom":
            return DURATIONS[str(choice)]
        text = self.query_one("#custom", Input).value.strip()
        if not text:
            raise ValueError("custom duration: write one such as 90m or 2d")
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            raise ValueError(f"custom duration: {exc}") from None
        if not 60 <= seconds <= _MAX_S:
            raise ValueError("custom duration: between 1m and a year")
        return seconds

    # ---- submit -----------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.submit()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def submit(self) -> None:
        """Check the form, then ask before creating the silence."""
        try:
            matchers = parse_matchers(self.query_one("#matchers", Input).value)
            seconds = self._duration_s()
            comment = " ".join(self.query_one("#comment", Input).value.split())
            if not comment:
                raise ValueError("a comment is required: say why, and who to ask")
        except ValueError as exc:
            self._error(str(exc))
            return
        self._error("")
        count = matching_alerts(matchers, self.app)
        question = f"Silence for {format_duration(seconds)}?"
        if count is not None:
            question += f" It matches {count} alert{'' if count == 1 else 's'} now."
        detail = (format_matchers(matchers), f"“{comment}” — {self.created_by}")

        def answered(yes: bool | None) -> None:
            if yes:
                self.create(matchers, seconds, comment)

        self.app.push_screen(ConfirmScreen(question, detail, yes="Silence"), answered)

    @work(exclusive=True, exit_on_error=False, group="silence")
    async def create(self, matchers: tuple[Matcher, ...], seconds: float, comment: str) -> None:
        app = self.app
        am = app.monitor.alertmanager
        if app.read_only or am is None:
            self._error(READ_ONLY_MESSAGE if app.read_only else "no Alertmanager configured")
            return
        now = app.monitor.clock.now()
        try:
            silence_id = await am.create_silence(
                matchers,
                starts_at=now,
                ends_at=now + seconds,
                created_by=self.created_by,
                comment=comment,
            )
        except AmError as exc:
            self._error(f"Alertmanager: {exc.reason}")
            return
        app.notify(f"silenced for {format_duration(seconds)}: {format_matchers(matchers)}")
        self.dismiss(silence_id)

    def _error(self, text: str) -> None:
        self.query_one("#error", Static).update(plain(f"✖ {text}" if text else ""))
