"""The header never drops a critical fact to fit: lost GPUs, every failing source (STALE
included) and READ-ONLY stay at 80, 100 and 120 columns; the host, driver, CUDA and healthy
sources' names shorten first."""

from __future__ import annotations

import pytest

from gputop.core.models import SourceState, SourceStatus
from gputop.ui.app import GpuTopApp
from gputop.ui.header_view import fit_header
from tests.support.ui import build_monitor, fixed_utc, screen_lines

WIDTHS = [80, 100, 120]


def _trouble(app: GpuTopApp, *, prometheus: SourceState, lost: int = 1) -> None:
    """Prometheus as given, Alertmanager failing, `lost` GPUs lost."""
    monitor = app.monitor
    now = monitor.clock.now()
    monitor._set("prometheus", prometheus)
    monitor._set(
        "alertmanager",
        SourceState(SourceStatus.ERROR, "unreachable", now - 60, now + 4, newest=now - 60),
    )
    monitor._lost_since.update({f"GPU-lost-{i}": now - 30 for i in range(lost)})


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("read_only", [False, True])
async def test_critical_facts_stay_at_every_width(width: int, read_only: bool) -> None:
    with fixed_utc():
        monitor = build_monitor()
        app = GpuTopApp(monitor, poll=False, read_only=read_only)
        async with app.run_test(size=(width, 24)) as pilot:
            now = monitor.clock.now()
            lagging = SourceState(
                SourceStatus.OK, None, now, newest=now - 31, interval_s=1.0, lag_s=30.0
            )
            _trouble(app, prometheus=lagging, lost=8)
            app.refresh_screen()
            await pilot.pause()
            header = screen_lines(app)[0]
    assert "✖ 8 GPUs lost" in header or "✖ 8 lost" in header, header
    assert "✖ alertmanager" in header or "✖ AM" in header, header
    assert ("READ-ONLY" in header) == read_only, header
    assert "● prom" in header and "● prome " not in header, header  # shortened, never cut
    assert "30s behind" in header or width == 80, header
    assert header.rstrip() == header.rstrip()[:width], header
    if width == 120:  # room for everything but the longest words
        assert "✖ alertmanager: unreachable" in header, header


@pytest.mark.parametrize("width", WIDTHS)
async def test_a_stale_prometheus_keeps_its_stale_word(width: int) -> None:
    with fixed_utc():
        monitor = build_monitor()
        app = GpuTopApp(monitor, poll=False, kiosk=True)
        async with app.run_test(size=(width, 24)) as pilot:
            now = monitor.clock.now()
            stale = SourceState(
                SourceStatus.STALE, "no new samples for over 45s", now, newest=now - 50
            )
            _trouble(app, prometheus=stale)
            app.refresh_screen()
            await pilot.pause()
            header = screen_lines(app)[0]
    assert "STALE" in header and ("✖ prometheus STALE" in header or "✖ prom STALE" in header)
    assert "✖ 1 GPU lost" in header or "✖ 1 lost" in header, header
    assert "READ-ONLY" in header and ("✖ alertmanager" in header or "✖ AM" in header), header


def test_the_least_urgent_parts_shorten_first() -> None:
    parts = [
        ("gputop", "status-bar--title"),
        ("READ-ONLY", "status-bar--badge"),
        ("demo-node driver 550.54.15 CUDA 12.4", "status-bar--off"),
        ("● demo now", "status-bar--ok"),
        ("● prometheus 30s behind", "status-bar--ok"),
        ("✖ alertmanager: unreachable, stale 1m, retry in 4s", "status-bar--bad"),
        ("✖ 2 GPUs lost", "status-bar--bad"),
    ]
    texts = {w: [t for t, _ in fit_header(parts, w)] for w in (200, 140, 110, 90, 80, 70, 40)}
    assert texts[200] == [t for t, _ in parts]  # room: all of it
    assert texts[140][:2] == ["READ-ONLY", "demo-node"]  # the title, the versions go first
    assert texts[110][:3] == ["READ-ONLY", "● demo now", "● prom 30s behind"]  # the host, names
    assert texts[90][-2:] == ["✖ alertmanager: unreachable", "✖ 2 GPUs lost"]  # retry, age
    assert texts[80][2] == "● prom"  # a healthy source's freshness, before a failing one's why
    assert texts[70] == ["READ-ONLY", "● demo", "● prom", "✖ alertmanager", "✖ 2 GPUs lost"]
    assert texts[40] == ["READ-ONLY", "● demo", "● prom", "✖ AM", "✖ 2 lost"]  # still there
