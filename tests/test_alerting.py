"""The rules engine's glue: check status, refresh pacing, margins, stale notes, store capacity."""

from __future__ import annotations

import pytest

from gputop.core.models import SourceState, SourceStatus
from gputop.core.store import MetricStore
from gputop.rules.engine import _refresh_period, check_status, with_margins
from gputop.rules.model import RuleDef, RuleStatus
from gputop.sources.prometheus.rulesapi import PromRuleGroup
from gputop.ui.views.readings import stale_note


def st(state: str, reason: str | None = None) -> RuleStatus:
    return RuleStatus(name="R", state=state, reason=reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("states", "failing", "expected"),
    [
        ([st("ok")], False, 0),
        ([st("ok"), st("near")], False, 1),
        ([st("pending"), st("ok")], False, 1),
        ([st("near"), st("firing")], False, 2),
        ([st("firing")], True, 2),  # firing wins over unreachable
        ([st("near")], True, 3),  # a source in use is failing
        ([st("unknown", "query failed: timeout"), st("near")], False, 3),
        ([st("unknown", "needs Prometheus: metric x"), st("near")], False, 1),
        ([], False, 0),
    ],
)
def test_check_status_follows_the_monitoring_plugin_convention(
    states: list[RuleStatus], failing: bool, expected: int
) -> None:
    assert check_status(states, sources_failing=failing) == expected


def _groups(*intervals: float) -> tuple[PromRuleGroup, ...]:
    return tuple(PromRuleGroup(f"g{i}", "rules.yml", s) for i, s in enumerate(intervals))


def test_rules_are_asked_at_prometheus_evaluation_interval_between_1_and_5_seconds() -> None:
    assert _refresh_period(_groups(1, 30)) == 1.0
    assert _refresh_period(_groups(60)) == 5.0
    assert _refresh_period(_groups(0.2)) == 1.0
    assert _refresh_period(_groups()) == 5.0
    assert _refresh_period(_groups(0)) == 5.0  # a server that reports no interval


def test_per_rule_margins_from_the_config_are_fractions() -> None:
    rules = [RuleDef("A", "x > 1"), RuleDef("B", "y > 2", margin=0.2)]
    out = with_margins(rules, {"A": 5.0})
    assert [r.margin for r in out] == [0.05, 0.2]


def test_stale_note_names_the_reason_and_since_when(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    assert stale_note(SourceState(SourceStatus.OK, None, 10.0)) == ""
    assert stale_note(SourceState(SourceStatus.OFF)) == ""
    never = SourceState(SourceStatus.UNAVAILABLE, "unreachable")
    assert stale_note(never) == "no data: unreachable"
    note = stale_note(SourceState(SourceStatus.ERROR, "HTTP 401 unauthorized", 3600.0 + 62))
    assert note == "stale since 01:01:02: HTTP 401 unauthorized"


def test_remote_history_is_held_in_series_of_its_own_capacity() -> None:
    store = MetricStore(capacity=3600)
    store.merge("GPU-a", "temperature_c", [(float(t), 50.0) for t in range(500)], capacity=100)
    held = store.get("GPU-a", "temperature_c")
    assert held is not None and held.capacity == 100 and len(held) == 100
    store.merge("GPU-a", "temperature_c", [(600.0, 51.0)], capacity=999)  # exists: unchanged
    again = store.get("GPU-a", "temperature_c")
    assert again is not None and again.capacity == 100
    assert store.series("GPU-b", "power_w").capacity == 3600


def test_a_sparkline_cell_spans_at_least_its_minimum() -> None:
    from gputop.ui.views.readings import SparkSpec

    assert SparkSpec.at_least(600.0, 43, 20.0).width_s == 20.0  # wide: more history
    assert SparkSpec.at_least(600.0, 20, 20.0).width_s == 30.0  # narrow: the window rules


def test_rules_are_asked_again_just_after_their_next_evaluation() -> None:
    from gputop.rules.engine import _next_read
    from gputop.sources.prometheus.rulesapi import PromRule

    def group(interval: float, last: float | None) -> PromRuleGroup:
        rule = PromRule("A", "x > 1", "alerting", "inactive", 0.0, {}, {}, "ok", None, last, None)
        return PromRuleGroup("g", "rules.yml", interval, (rule,))

    assert _next_read((group(60, 100.0),), 130.0) == 135.0  # every 5 s at most
    assert _next_read((group(60, 100.0),), 158.0) == 160.5  # and just after its evaluation
    assert _next_read((group(60, None),), 130.0) == 135.0
    assert _next_read((group(60, 100.0),), 160.2) == 161.2  # never sooner than a second
