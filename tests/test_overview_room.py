"""The card layout at 120x40 leaves the rules panel at least as many lines as one line per GPU
at 80x24 does (cards once left it 3 against 6): the latency panel stands beside the rules."""

from __future__ import annotations

import pytest

from gputop.ui.overview_view import CARD_RULE_ROWS, overview_layout
from gputop.ui.widgets.gpu_panel import GpuPanel
from gputop.ui.widgets.latency_panel import LatencyPanel
from gputop.ui.widgets.rules_panel import RulesPanel
from tests.support.ui import build_app


def test_cards_keep_the_rules_as_many_lines_as_80x24_gives_them() -> None:
    wide = overview_layout(120, 40, [8], 2)
    assert not wide.compact and wide.beside
    rules_wide = 40 - 2 - wide.gpu_h - 2  # header and footer, the cards, the panel's border
    narrow = overview_layout(80, 24, [8], 2)
    assert narrow.compact and not narrow.beside
    rules_narrow = 24 - 2 - 1 - narrow.gpu_h - 4 - 2  # the column heading, the latency panel
    assert rules_wide >= rules_narrow >= CARD_RULE_ROWS
    # too narrow for the latency beside the rules: cards only if the rules keep their lines
    assert overview_layout(100, 40, [8], 2).compact


@pytest.mark.parametrize("scenario", ["calm", "mixed"])
async def test_on_screen_the_rules_get_at_least_the_lines_of_80x24(scenario: str) -> None:
    lines = {}
    for size in ((120, 40), (80, 24)):
        app = build_app(scenario=scenario)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            panel = app.screen.query_one(RulesPanel)
            lines[size] = panel.content_size.height
            if size == (120, 40) and scenario == "calm":
                assert not app.screen.query_one(GpuPanel).compact  # cards
                latency = app.screen.query_one(LatencyPanel).region
                assert latency.y == panel.region.y and latency.x > panel.region.x  # beside
    assert lines[(120, 40)] >= lines[(80, 24)], lines
