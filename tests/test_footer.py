"""The footer is recomposed only when the keys it shows change (not on every focus move)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Button
from textual.widgets._footer import FooterKey

from gputop.ui.widgets.footer import KeysFooter


class Keys(App[None]):
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [Binding("a", "noop", "Alpha"), Binding("b", "noop_b", "Beta")]
    hide_beta = False

    def compose(self) -> ComposeResult:
        yield Button("one", id="one")
        yield Button("two", id="two")
        yield KeysFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "noop_b" and self.hide_beta)


def _keys(app: App[None]) -> list[FooterKey]:
    return list(app.screen.query(FooterKey))


async def test_focus_moves_leave_the_footer_keys_alone() -> None:
    app = Keys()
    async with app.run_test() as pilot:
        await pilot.pause()
        before = _keys(app)
        assert [k.description for k in before] == ["Alpha", "Beta"]
        for _ in range(3):
            await pilot.press("tab")
            app.screen.refresh_bindings()
            await pilot.pause()
        assert _keys(app) == before  # the same widgets: not recomposed


async def test_a_key_that_comes_or_goes_recomposes_the_footer() -> None:
    app = Keys()
    async with app.run_test() as pilot:
        await pilot.pause()
        app.hide_beta = True
        app.screen.refresh_bindings()
        await pilot.pause()
        assert [k.description for k in _keys(app)] == ["Alpha"]
        app.hide_beta = False
        app.screen.refresh_bindings()
        await pilot.pause()
        assert [k.description for k in _keys(app)] == ["Alpha", "Beta"]
