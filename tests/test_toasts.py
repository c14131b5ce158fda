"""A toast never covers the rules panel (where firing and pending rows always are): toasts
stand at the top right, under the header."""

from __future__ import annotations

import pytest
from textual.widgets._toast import Toast

from gputop.ui.widgets.rules_panel import RulesPanel
from gputop.ui.widgets.status_bar import StatusBar
from tests.support.ui import build_app


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_a_toast_covers_neither_the_rules_panel_nor_the_header(size: tuple[int, int]) -> None:
    app = build_app()
    async with app.run_test(size=size, notifications=True) as pilot:
        app.notify("SIGTERM sent to pid 4242 (python -c sleep)", timeout=30)
        app.notify("read-only: no actions", severity="warning", timeout=30)
        await pilot.pause()
        toasts = list(app.screen.query(Toast))
        assert len(toasts) == 2
        rules = app.screen.query_one(RulesPanel).region
        header = app.screen.query_one(StatusBar).region
        for toast in toasts:
            assert not toast.region.overlaps(rules), (toast.region, rules)
            assert not toast.region.overlaps(header), (toast.region, header)
