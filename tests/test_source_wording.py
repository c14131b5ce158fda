"""How the header and the panels word a source's freshness (pure view functions)."""

from __future__ import annotations

import time

import pytest

from gputop.core.models import SourceState, SourceStatus
from gputop.ui.view import source_part, stale_note

NOW = 1_767_225_600.0


def ok(
    newest: float | None, interval_s: float | None = None, lag_s: float | None = None
) -> SourceState:
    return SourceState(
        SourceStatus.OK, None, NOW, newest=newest, interval_s=interval_s, lag_s=lag_s
    )


@pytest.mark.parametrize(
    ("state", "text"),
    [
        (ok(NOW - 0.4), "● prometheus now"),
        (ok(NOW - 1.9), "● prometheus now"),
        (ok(NOW - 14.0, interval_s=15.0), "● prometheus now"),  # a 15 s scrape interval
        (ok(NOW - 59.0, interval_s=60.0), "● prometheus now"),  # Prometheus' default 60 s
        (ok(NOW - 35.0, interval_s=15.0), "● prometheus 20s behind"),  # a scrape 20 s late
        (ok(NOW - 31.7, interval_s=1.0, lag_s=30.1), "● prometheus 30s behind"),  # VictoriaMetrics
        (ok(NOW - 31.2, interval_s=1.0, lag_s=32.6), "● prometheus 35s behind"),  # in 5 s steps
        # VictoriaMetrics at a 60 s scrape: its 30 s lag, whatever the phase of the scrape
        (ok(NOW - 31.0, interval_s=60.0, lag_s=30.0), "● prometheus 30s behind"),
        (ok(NOW - 89.0, interval_s=60.0, lag_s=30.0), "● prometheus 30s behind"),
        (ok(NOW - 300.0), "● prometheus 5m behind"),
        (SourceState(SourceStatus.OK), "● prometheus no data"),
    ],
)
def test_an_answering_source_says_how_far_behind_its_data_is(state: SourceState, text: str) -> None:
    assert source_part("prometheus", state, NOW) == (text, "status-bar--ok")


def test_stale_error_unavailable_and_off() -> None:
    stale = SourceState(SourceStatus.STALE, "no new samples for over 3s", NOW, newest=NOW - 45)
    assert source_part("prometheus", stale, NOW) == (
        "✖ prometheus STALE, newest 45s ago",
        "status-bar--bad",
    )
    error = SourceState(SourceStatus.ERROR, "unreachable", NOW - 200, newest=NOW - 120)
    assert source_part("prometheus", error, NOW) == (
        "✖ prometheus: unreachable, stale 2m",
        "status-bar--bad",
    )
    never = SourceState(SourceStatus.UNAVAILABLE, "unreachable")
    assert source_part("prometheus", never, NOW) == ("✖ prometheus: unreachable", "status-bar--bad")
    nvml = SourceState(SourceStatus.UNAVAILABLE, "no NVML")
    assert source_part("nvml", nvml, NOW, stands_in=True) == (
        "✖ nvml unavailable",
        "status-bar--off",
    )
    assert source_part("nvml", SourceState(SourceStatus.OFF), NOW) is None


def test_a_stale_panel_says_since_its_newest_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    stale = SourceState(SourceStatus.STALE, "no new samples for over 3s", NOW, newest=NOW - 62)
    assert stale_note(stale) == "stale since 23:58:58: no new samples for over 3s"
    assert stale_note(ok(NOW - 62)) == ""  # lagging is not stale
