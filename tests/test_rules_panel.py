"""The rules panel with one rule in each state, fed through the dashboard's own `refresh_rules`.

The statuses are built by hand and handed to a rules engine, so every state shows at once: a
firing rule with the time it started, a pending one with its countdown, a near one with its
value against the threshold and the trend's ETA, an ok one, and an unknown one with its
reason. A fixed clock and UTC keep the frame the same everywhere (update the snapshot with
`pytest --snapshot-update`).
"""

from __future__ import annotations

import dataclasses

import pytest

from gputop.core.clock import FakeClock
from gputop.monitor import Monitor
from gputop.rules.engine import RulesEngine
from gputop.rules.model import RuleStatus, sort_statuses
from gputop.ui.app import GpuTopApp
from gputop.ui.views.rules import RULES_SHOWN_S
from gputop.ui.widgets.rules_panel import RulesPanel
from tests.support.snapshots import SnapCompare
from tests.support.ui import START, screen_lines

SIZE = (120, 16)
HOST = {"Hostname": "gpu-node-07"}


pytestmark = pytest.mark.usefixtures("stable_environment")


def one_of_each() -> list[RuleStatus]:
    """One status per state, as the engine would report them."""
    rising = tuple(70.0 + 0.05 * i for i in range(120))  # 8 sparkline cells of 15 values
    return [
        RuleStatus(
            name="T2VInferenceSlow",
            state="unknown",
            severity="warning",
            op=">",
            threshold=300.0,
            reason="query failed: timeout",
        ),
        RuleStatus(
            name="GPUBusy",
            state="ok",
            severity="info",
            value=0.42,
            op=">",
            threshold=0.95,
            labels={"gpu": "0", **HOST},
        ),
        RuleStatus(
            name="GPUMemoryNearFull",
            state="near",
            severity="warning",
            value=76.4,
            op=">",
            threshold=80.0,
            eta_s=95.0,
            reason="within 10% of the threshold",
            labels={"gpu": "5", **HOST},
            history=rising,
        ),
        RuleStatus(
            name="GPUHighMemoryUsage",
            state="pending",
            severity="warning",
            value=91.5,
            op=">",
            threshold=90.0,
            fires_in_s=42.0,
            active_at=START - 78.0,
            labels={"gpu": "1", **HOST},
        ),
        RuleStatus(
            name="GPUTemperatureHigh",
            state="firing",
            severity="critical",
            value=88.0,
            op=">",
            threshold=85.0,
            active_at=START - 125.0,  # 11:57:55 UTC
            labels={"gpu": "3", **HOST},
        ),
    ]


def build_rules_app() -> GpuTopApp:
    """A dashboard with no GPU source whose rules engine reports `one_of_each()`."""
    clock = FakeClock(START)
    monitor = Monitor(clock=clock, local=None, host="gpu-node-07")
    engine = RulesEngine([], clock=clock, origin="team-rules.yml")
    engine.statuses = sort_statuses(one_of_each())
    monitor.rules = engine
    return GpuTopApp(monitor, poll=False)


async def test_rules_panel_shows_every_state_worst_first() -> None:
    app = build_rules_app()
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one(RulesPanel)
        rows = panel.rows
        assert [r.state for r in rows] == ["firing", "pending", "near", "unknown", "ok"]
        assert [r.title for r in rows] == [
            "GPUTemperatureHigh · GPU 3 @ gpu-node-07",
            "GPUHighMemoryUsage · GPU 1 @ gpu-node-07",
            "GPUMemoryNearFull · GPU 5 @ gpu-node-07",
            "T2VInferenceSlow — query failed: timeout",  # the reason gets the wide column
            "GPUBusy · GPU 0 @ gpu-node-07",
        ]
        assert [r.detail for r in rows] == [
            "88 vs > 85  firing since 11:57:55",
            "91.5 vs > 90  fires in 42s",
            "76.4 vs > 80  trend crosses in 1m35s",
            "",
            "0.42 vs > 0.95",
        ]
        assert panel.border_subtitle == "1 firing 1 pending · team-rules.yml"
        text = "\n".join(screen_lines(app))
        for row in rows:
            assert row.state.upper() in text
            assert row.title in text
            assert row.detail in text

        # a new value alone waits for the panel's next value refresh (a noisy value must not
        # repaint every tick); then it reaches the panel through the same path
        engine = app.monitor.rules
        assert engine is not None
        engine.statuses = [
            dataclasses.replace(s, fires_in_s=41.0) if s.state == "pending" else s
            for s in engine.statuses
        ]
        app.refresh_screen()
        await pilot.pause()
        assert panel.rows[1].detail == "91.5 vs > 90  fires in 42s"
        app.monitor.clock.advance(RULES_SHOWN_S)  # type: ignore[attr-defined]
        app.refresh_screen()
        await pilot.pause()
        assert panel.rows[1].detail == "91.5 vs > 90  fires in 41s"
        assert "fires in 41s" in "\n".join(screen_lines(app))

        # a change of state shows at once
        engine.statuses = [
            dataclasses.replace(s, state="firing") if s.state == "pending" else s
            for s in engine.statuses
        ]
        app.refresh_screen()
        await pilot.pause()
        assert [r.state for r in panel.rows][:2] == ["firing", "firing"]


async def test_an_outage_keeps_the_last_states_marked_stale_with_their_age() -> None:
    app = build_rules_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(RulesPanel)
        before = [(r.state, r.title) for r in panel.rows]
        engine = app.monitor.rules
        assert engine is not None
        engine.last_ok = START - 45.0
        engine.error = "unreachable: connection refused"
        engine._retry_at = START + 4.0  # what a failed refresh leaves
        app.refresh_screen()
        await pilot.pause()
        assert [(r.state, r.title) for r in panel.rows] == before  # the last known truth stays
        text = "\n".join(screen_lines(app))
        assert (
            "STALE since 11:59:15 (45s): unreachable: connection refused · retry in 4s"
            " · r: retry now" in text
        ), text
        assert "FIRING" in text and "GPUTemperatureHigh · GPU 3 @ gpu-node-07" in text

        # with nothing known yet, the panel says why there is nothing
        engine.statuses = []
        app.refresh_screen()
        await pilot.pause()
        assert panel.rows == ()
        assert "Prometheus rules unavailable: unreachable: connection refused" in "\n".join(
            screen_lines(app)
        )


def test_rules_panel_snapshot(snap_compare: SnapCompare) -> None:
    assert snap_compare(build_rules_app(), terminal_size=SIZE)
