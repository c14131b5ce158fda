"""Alertmanager's side of the chain: alert groups with receivers and states, and the silences.

Both tables update in place as Alertmanager is polled (the cursor stays on its row). `x`
expires the silence under the silences table's cursor, after a confirmation; with
`--read-only` the key only says so.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from gputop.sources.amtypes import AmError, format_matchers
from gputop.ui.actions import READ_ONLY_MESSAGE
from gputop.ui.alerts_view import (
    ALERT_COLUMNS,
    SILENCE_COLUMNS,
    TableRow,
    alert_rows,
    silence_rows,
)
from gputop.ui.app import GpuTopScreen
from gputop.ui.safetext import plain
from gputop.ui.screens.confirm import ConfirmScreen
from gputop.ui.widgets.key_bar import KeyBar
from gputop.ui.widgets.status_bar import StatusBar

__all__ = ["AlertsScreen"]

NO_ALERTMANAGER = (
    "No Alertmanager configured: start with --alertmanager URL, or set [alertmanager] url "
    "in the config file, to see where fired alerts went and to silence them."
)


class AlertsScreen(GpuTopScreen):
    CSS_PATH = "alerts.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "expire_silence", "Expire silence", tooltip="Expire the selected silence"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, list[TableRow]] = {"alerts": [], "silences": []}
        self._version = -1

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Static(NO_ALERTMANAGER, id="note")
        for name, columns in (("alerts", ALERT_COLUMNS), ("silences", SILENCE_COLUMNS)):
            table: DataTable[Text] = DataTable(id=name, cursor_type="row", zebra_stripes=True)
            for key, heading in columns:
                table.add_column(heading, key=key)
            yield table
        yield KeyBar()

    def on_mount(self) -> None:
        configured = self.app.monitor.alertmanager is not None
        self.query_one("#note").display = not configured
        for table in self.query(DataTable):
            table.display = configured
        self.refresh_view()
        self.query_one("#alerts" if configured else "#note").focus()

    def on_screen_resume(self) -> None:
        self.refresh_view()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "expire_silence" and self.app.monitor.alertmanager is None:
            return False
        return super().check_action(action, parameters)

    # ---- data ----------------------------------------------------------------------

    def refresh_view(self) -> None:
        app = self.app
        app.update_status(self.query_one(StatusBar))
        am = app.monitor.alertmanager
        if am is None:
            return
        view = am.view
        alerts = self.query_one("#alerts", DataTable)
        silences = self.query_one("#silences", DataTable)
        if view is None:
            reason = am.state.reason or "waiting for the first answer"
            alerts.border_title = plain(f"Alert groups · {am.client.url} · {reason}")
            silences.border_title = "Silences"
            return
        now = app.monitor.clock.now()
        self._sync(alerts, "alerts", alert_rows(view))
        self._sync(silences, "silences", silence_rows(view, now))
        stale = "" if am.state.ok else f" · ✖ {am.state.reason}"
        alerts.border_title = plain(
            f"Alert groups · {_count(len(view.alerts), 'alert')} in"
            f" {_count(len(view.groups), 'group')} · {am.client.url}{stale}"
        )
        silences.border_title = f"Silences · {len(self._rows['silences'])} active, newest first"

    def _sync(self, table: DataTable[Text], name: str, rows: list[TableRow]) -> None:
        """Change cells in place when the same rows remain, else rebuild keeping the cursor."""
        old = self._rows[name]
        self._rows[name] = rows
        keys = [c.key.value for c in table.columns.values()]
        if [r.key for r in rows] == [r.key for r in old]:
            for before, after in zip(old, rows, strict=True):
                for col, a, b in zip(keys, before.cells, after.cells, strict=True):
                    if a != b:
                        table.update_cell(after.key, col or "", plain(b, no_wrap=True))
            return
        keep = old[table.cursor_row].key if old and 0 <= table.cursor_row < len(old) else None
        table.clear()
        for row in rows:
            table.add_row(*(plain(c, no_wrap=True) for c in row.cells), key=row.key)
        new_keys = [r.key for r in rows]
        if keep in new_keys:
            table.move_cursor(row=new_keys.index(keep), animate=False)

    @property
    def silence_keys(self) -> list[str]:
        """Ids of the silences listed, top to bottom."""
        return [r.key for r in self._rows["silences"]]

    # ---- actions -------------------------------------------------------------------

    def action_expire_silence(self) -> None:
        app = self.app
        if app.read_only:
            app.say_read_only()
            return
        am = app.monitor.alertmanager
        rows = self._rows["silences"]
        table = self.query_one("#silences", DataTable)
        if am is None or am.view is None or not rows:
            app.notify("no silence to expire")
            return
        silence = am.view.silence(rows[min(table.cursor_row, len(rows) - 1)].key)
        if silence is None:
            return
        question = f"Expire the silence by {silence.created_by}?"
        detail = (format_matchers(silence.matchers), f"“{silence.comment}”")

        def answered(yes: bool | None) -> None:
            if yes:
                self.expire(silence.id)

        app.push_screen(ConfirmScreen(question, detail, yes="Expire"), answered)

    @work(exclusive=True, exit_on_error=False, group="expire")
    async def expire(self, silence_id: str) -> None:
        app = self.app
        am = app.monitor.alertmanager
        if app.read_only or am is None:
            app.notify(READ_ONLY_MESSAGE, severity="warning")
            return
        try:
            await am.expire_silence(silence_id)
        except AmError as exc:
            app.notify(f"Alertmanager: {exc.reason}", severity="error")
            return
        app.notify("silence expired")
        await app.monitor.refresh_alertmanager()
        app.refresh_screen()

    def action_back(self) -> None:
        self.dismiss()


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"
