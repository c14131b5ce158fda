"""Status logic: ordering, pending countdown, near by margin and by trend, the Prometheus path."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gputop.core.clock import FakeClock
from gputop.promql.analysis import Comparison
from gputop.rules.engine import NO_RULES_NOTE, RulesEngine
from gputop.rules.model import (
    RuleDef,
    RuleStatus,
    ValueHistory,
    parse_margin,
    series_status,
    sort_statuses,
)
from gputop.rules.near import assess
from gputop.rules.prometheus import (
    QueryError,
    alerting_rules,
    compared_queries,
    rule_def,
    statuses_from_prometheus,
    vector_values,
)
from gputop.sources.prometheus import PrometheusClient
from gputop.sources.prometheus.rulesapi import parse_timestamp

NOW = 1_767_225_600.0
TEMP = RuleDef("GPUTemperatureHigh", "DCGM_FI_DEV_GPU_TEMP > 85", for_s=60.0, severity="critical")
GT90 = Comparison("x{}", ">", 90.0)


def test_ordering_worst_first() -> None:
    expected = [
        RuleStatus("A", "firing", severity="critical"),
        RuleStatus("B", "firing", severity="warning"),
        RuleStatus("C", "pending", fires_in_s=10.0),
        RuleStatus("D", "pending", fires_in_s=200.0),
        RuleStatus("E", "near", value=89.0, threshold=90.0),
        RuleStatus("F", "near", value=82.0, threshold=90.0),
        RuleStatus("G", "unknown", reason="no data"),
        RuleStatus("H", "ok", value=10.0, threshold=90.0),
    ]
    shuffled = expected[:]
    random.Random(3).shuffle(shuffled)
    assert [s.name for s in sort_statuses(shuffled)] == list("ABCDEFGH")


def test_pending_counts_down_to_firing() -> None:
    status = series_status(TEMP, "pending", now=NOW, value=90.0, active_at=NOW - 45.0)
    assert status.state == "pending"
    assert status.fires_in_s == pytest.approx(15.0)
    late = series_status(TEMP, "pending", now=NOW, value=90.0, active_at=NOW - 75.0)
    assert late.fires_in_s == 0.0  # due: it fires at the next evaluation


def test_firing_keeps_its_threshold_and_value() -> None:
    status = series_status(TEMP, "firing", now=NOW, value=91.0, labels={"gpu": "3"})
    assert (status.state, status.value, status.op, status.threshold) == ("firing", 91.0, ">", 85.0)
    assert status.labels == {"gpu": "3"}
    assert status.origin is None and status.source == "prometheus"


@pytest.mark.parametrize(
    ("op", "threshold", "value", "state"),
    [
        (">", 90.0, 85.0, "near"),  # 5 below, margin 9
        (">", 90.0, 81.0, "near"),
        (">", 90.0, 80.0, "ok"),
        (">=", 90.0, 89.9, "near"),
        ("<", 10.0, 10.5, "near"),  # falling towards 10
        ("<", 10.0, 11.5, "ok"),
        ("==", 0.0, 0.5, "ok"),  # 10 % of zero is zero
        ("!=", 5.0, 5.0, "ok"),  # equal: holds only by moving away
    ],
)
def test_near_by_margin(op: str, threshold: float, value: float, state: str) -> None:
    got, eta, reason = assess(Comparison("x{}", op, threshold), [(NOW, value)], margin=0.1, now=NOW)
    assert got == state
    assert eta is None
    if state == "near":
        assert "within 10%" in (reason or "")


def test_margin_is_configurable_globally_and_per_rule() -> None:
    rule = RuleDef("Mem", "x > 90")
    assert series_status(rule, "inactive", now=NOW, value=85.0).state == "near"
    assert series_status(rule, "inactive", now=NOW, value=85.0, margin=0.02).state == "ok"
    tight = RuleDef("Mem", "x > 90", margin=0.02)
    assert series_status(tight, "inactive", now=NOW, value=85.0, margin=0.5).state == "ok"
    wide = RuleDef("Mem", "x > 90", margin=0.5)
    assert series_status(wide, "inactive", now=NOW, value=50.0).state == "near"


def test_crossed_but_inactive() -> None:
    # crossed after the rule's own evaluation: it goes pending at the next one, so near
    assert assess(GT90, [(NOW, 95.0)], margin=0.1, now=NOW)[0] == "near"
    # The and/unless side does not hold: nothing is about to fire.
    assert assess(GT90, [(NOW, 95.0)], margin=0.1, now=NOW, gated=True)[0] == "ok"


def test_missing_value_is_unknown_and_no_threshold_is_ok() -> None:
    assert assess(GT90, [(NOW, float("nan"))], margin=0.1, now=NOW)[0] == "unknown"
    assert assess(GT90, [], margin=0.1, now=NOW)[0] == "unknown"
    no_threshold = RuleDef("Absent", "absent(up)")
    status = series_status(no_threshold, "inactive", now=NOW)
    assert (status.state, status.reason) == ("ok", "no threshold to compare")


def test_parse_margin() -> None:
    assert parse_margin("5%") == pytest.approx(0.05)
    assert parse_margin("0.2") == pytest.approx(0.2)
    with pytest.raises(ValueError):
        parse_margin("-1")
    with pytest.raises(ValueError):
        parse_margin("lots")


def test_value_history_spacing_and_pruning() -> None:
    history = ValueHistory(capacity=10, spacing_s=5.0, max_age_s=60.0)
    for t in range(0, 30):
        history.record("k", NOW + t, float(t))
    assert [t - NOW for t, _ in history.points("k")] == [0, 5, 10, 15, 20, 25]
    history.record("old", NOW - 100, 1.0)
    history.record("k", NOW + 29, None)  # a missing value is not a point
    history.prune(NOW + 29)
    assert history.points("old") == [] and len(history) == 1


# ---- the Prometheus path ------------------------------------------------------------------


def _api(
    alerts: list[dict[str, Any]], *, health: str = "ok", last_error: str = ""
) -> dict[str, Any]:
    """An /api/v1/rules answer as Prometheus 2.x returns it."""
    return {
        "status": "success",
        "data": {
            "groups": [
                {
                    "name": "gpu",
                    "file": "/etc/prometheus/gpu.yml",
                    "interval": 15,
                    "rules": [
                        {
                            "state": "firing" if alerts else "inactive",
                            "name": "GPUTemperatureHigh",
                            "query": "DCGM_FI_DEV_GPU_TEMP > 85",
                            "duration": 60,
                            "labels": {"severity": "critical"},
                            "annotations": {"summary": "hot"},
                            "alerts": alerts,
                            "health": health,
                            "lastError": last_error,
                            "type": "alerting",
                        },
                        {
                            "name": "gpu:temp:max",
                            "query": "max(DCGM_FI_DEV_GPU_TEMP)",
                            "health": "ok",
                            "type": "recording",
                        },
                    ],
                }
            ]
        },
    }


def _alert(gpu: str, state: str, active_at: str, value: str) -> dict[str, Any]:
    return {
        "labels": {
            "alertname": "GPUTemperatureHigh",
            "gpu": gpu,
            "UUID": f"GPU-{gpu}",
            "severity": "critical",
        },
        "annotations": {"summary": "hot"},
        "state": state,
        "activeAt": active_at,
        "value": value,
    }


def _temps(values: dict[str, float]) -> dict[str, Any]:
    return {
        "DCGM_FI_DEV_GPU_TEMP{}": {
            (("UUID", f"GPU-{g}"), ("__name__", "DCGM_FI_DEV_GPU_TEMP"), ("gpu", g)): v
            for g, v in values.items()
        }
    }


def test_prometheus_states_plus_margin() -> None:
    data = _api(
        [
            _alert("3", "firing", "2025-12-31T23:50:00Z", "9.1e+01"),
            _alert("1", "pending", "2025-12-31T23:59:20.123456789Z", "8.7e+01"),
        ]
    )
    assert compared_queries(alerting_rules(data)) == ["DCGM_FI_DEV_GPU_TEMP{}"]
    got = statuses_from_prometheus(
        data, _temps({"0": 50.0, "1": 87.0, "2": 80.0, "3": 91.0}), now=NOW
    )
    by_gpu = {s.labels["gpu"]: s for s in got}
    assert [s.labels["gpu"] for s in got] == ["3", "1", "2", "0"]  # worst first
    assert by_gpu["3"].state == "firing" and by_gpu["3"].severity == "critical"
    assert by_gpu["1"].state == "pending"
    assert by_gpu["1"].fires_in_s == pytest.approx(60.0 - 39.876543211, abs=1e-6)
    assert by_gpu["2"].state == "near" and by_gpu["2"].value == 80.0
    assert by_gpu["0"].state == "ok"
    assert by_gpu["3"].labels == {"UUID": "GPU-3", "gpu": "3"}  # rule labels are not identity
    assert all(s.origin == "/etc/prometheus/gpu.yml" for s in got)


def test_prometheus_over_threshold_without_alert_is_never_firing() -> None:
    # Prometheus has not (yet) made an alert of it: we must not claim it fires.
    got = statuses_from_prometheus(_api([]), _temps({"0": 95.0}), now=NOW)
    assert [s.state for s in got] == ["near"]


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from("01234567"),
        st.tuples(st.floats(20, 100), st.sampled_from(["firing", "pending", "inactive"])),
        min_size=1,
    )
)
def test_prometheus_state_always_agrees(series: dict[str, tuple[float, str]]) -> None:
    alerts = [
        _alert(g, state, "2025-12-31T23:59:30Z", str(v))
        for g, (v, state) in series.items()
        if state != "inactive"
    ]
    got = statuses_from_prometheus(
        _api(alerts), _temps({g: v for g, (v, _) in series.items()}), now=NOW
    )
    assert {s.labels["gpu"] for s in got} == set(series)
    for status in got:
        given_state = series[status.labels["gpu"]][1]
        if given_state in ("firing", "pending"):
            assert status.state == given_state
        else:
            assert status.state in ("near", "ok")


def test_prometheus_errors_are_unknown_with_reason() -> None:
    failed = statuses_from_prometheus(
        _api([], health="err", last_error="many-to-many matching not allowed"), {}, now=NOW
    )
    assert [(s.state, s.reason) for s in failed] == [
        ("unknown", "many-to-many matching not allowed")
    ]
    query_failed = statuses_from_prometheus(
        _api([]), {"DCGM_FI_DEV_GPU_TEMP{}": QueryError("timeout")}, now=NOW
    )
    assert [(s.state, s.reason) for s in query_failed] == [("unknown", "query failed: timeout")]
    empty = statuses_from_prometheus(_api([]), {"DCGM_FI_DEV_GPU_TEMP{}": {}}, now=NOW)
    assert empty[0].state == "unknown" and "no data" in (empty[0].reason or "")


def test_prometheus_alert_shown_even_when_its_series_is_not_in_the_values() -> None:
    data = _api([_alert("5", "firing", "2025-12-31T23:50:00Z", "90")])
    got = statuses_from_prometheus(data, _temps({"0": 40.0}), now=NOW)
    assert {(s.labels["gpu"], s.state) for s in got} == {("5", "firing"), ("0", "ok")}
    assert next(s for s in got if s.state == "firing").value == 90.0


def _ruler_alert(gpu: str, state: str, **added: str) -> dict[str, Any]:
    alert = _alert(gpu, state, "2025-12-31T23:59:30Z", "90")
    alert["labels"].update(added)
    return alert


@pytest.mark.parametrize(
    "added",
    [
        {"alertgroup": "gpu"},  # vmalert
        {"cluster": "eu-1", "replica": "ruler-0"},  # Thanos Ruler / Mimir external labels
    ],
)
def test_a_ruler_that_adds_labels_still_gives_one_row_per_series(added: dict[str, str]) -> None:
    data = _api([_ruler_alert("3", "firing", **added), _ruler_alert("1", "pending", **added)])
    got = statuses_from_prometheus(data, _temps({"0": 50.0, "1": 87.0, "3": 91.0}), now=NOW)
    assert sorted((s.labels["gpu"], s.state) for s in got) == [
        ("0", "ok"), ("1", "pending"), ("3", "firing"),
    ]  # fmt: skip
    assert all(s.labels == {"UUID": f"GPU-{s.labels['gpu']}", "gpu": s.labels["gpu"]} for s in got)
    assert next(s for s in got if s.state == "firing").value == 91.0  # the series' own value


def test_an_alert_with_no_series_drops_the_labels_its_ruler_added() -> None:
    data = _api(
        [
            _ruler_alert("1", "pending", alertgroup="gpu", cluster="eu-1"),
            _ruler_alert("5", "firing", alertgroup="gpu", cluster="eu-1"),  # no series of its own
        ]
    )
    got = statuses_from_prometheus(data, _temps({"1": 87.0}), now=NOW)
    assert sorted((tuple(sorted(s.labels)), s.state) for s in got) == [
        (("UUID", "gpu"), "firing"),
        (("UUID", "gpu"), "pending"),
    ]
    alone = statuses_from_prometheus(
        _api([_ruler_alert("5", "firing", alertgroup="gpu", team="infra")]), {}, now=NOW
    )  # nothing to compare with: only vmalert's own group label is known to be added
    assert [s.labels for s in alone] == [{"UUID": "GPU-5", "gpu": "5", "team": "infra"}]


def test_two_alerts_for_one_series_are_one_row_the_worse() -> None:
    data = _api(
        [
            _ruler_alert("3", "pending", replica="a"),
            _ruler_alert("3", "firing", replica="b"),
        ]
    )
    got = statuses_from_prometheus(data, _temps({"3": 91.0}), now=NOW)
    assert [(s.labels["gpu"], s.state) for s in got] == [("3", "firing")]


def test_prometheus_series_gives_trend_and_history_the_sparkline() -> None:
    history = ValueHistory(spacing_s=5.0)
    data = _api([])
    got: list[RuleStatus] = []
    key: tuple[tuple[str, str], ...] = (
        ("UUID", "GPU-0"),
        ("__name__", "DCGM_FI_DEV_GPU_TEMP"),
        ("gpu", "0"),
    )
    for i in range(40):  # 60 -> 79.5 over 195 s: 0.1 °C/s, read at each evaluation
        end = NOW + 5 * i
        series = [(end - 5 * k, 60.0 + 0.5 * (i - k)) for k in range(5, -1, -1)]
        got = statuses_from_prometheus(
            data, {"DCGM_FI_DEV_GPU_TEMP{}": {key: series}}, now=end, history=history
        )
    assert got[0].state == "near" and got[0].value == 79.5
    assert got[0].eta_s == pytest.approx((85.0 - 79.5) / 0.1, rel=1e-3)
    assert got[0].history[-1] == 79.5 and len(got[0].history) == 45


def test_api_helpers() -> None:
    assert parse_timestamp("2026-01-01T00:00:00Z") == NOW
    assert parse_timestamp("2026-01-01T01:00:00.5+01:00") == NOW + 0.5
    assert parse_timestamp("0001-01-01T00:00:00Z") is None
    assert parse_timestamp("yesterday") is None
    result = [
        {"metric": {"__name__": "up", "job": "a"}, "value": [NOW, "1"]},
        {"metric": {"job": "b"}, "value": [NOW, "NaN"]},
    ]
    values = vector_values(result)
    assert values[(("__name__", "up"), ("job", "a"))] == 1.0
    assert values[(("job", "b"),)] != values[(("job", "b"),)]  # NaN kept: shown as unknown
    rules = alerting_rules(_api([])["data"])
    assert [rule_def(r).name for r in rules] == ["GPUTemperatureHigh"]  # recording rules skipped
    assert rule_def(rules[0]).for_s == 60.0 and rule_def(rules[0]).group == "gpu"


async def test_rules_from_a_separate_ruler_and_a_note_when_there_are_none() -> None:
    asked: list[str] = []

    def engine(request: httpx.Request) -> httpx.Response:  # VictoriaMetrics without vmalert
        asked.append(f"engine {request.url.path}")
        if request.url.path.endswith("/rules"):
            return httpx.Response(200, json={"status": "success", "data": {"groups": []}})
        temps = [{"metric": {"gpu": "3", "UUID": "GPU-3"}, "values": [[NOW, "91"]]}]
        data = {"resultType": "matrix", "result": temps}
        return httpx.Response(200, json={"status": "success", "data": data})

    def ruler(request: httpx.Request) -> httpx.Response:  # vmalert
        asked.append(f"ruler {request.url.path}")
        alert = _alert("3", "firing", "2025-12-31T23:50:00Z", "91")
        alert["labels"]["alertgroup"] = "gpu"
        return httpx.Response(200, json=_api([alert]))

    rules = RulesEngine([], clock=FakeClock(NOW))
    client = PrometheusClient("http://vm:8428", transport=httpx.MockTransport(engine))
    await rules.refresh_prometheus(client)
    assert rules.statuses == [] and rules.note == NO_RULES_NOTE and rules.error is None

    other = PrometheusClient("http://vmalert:8880", transport=httpx.MockTransport(ruler))
    asked.clear()
    rules = RulesEngine([], clock=FakeClock(NOW))
    await rules.refresh_prometheus(client, rules_client=other)
    # values from the engine: the compared side's recent series
    assert asked == ["ruler /api/v1/rules", "engine /api/v1/query_range"]
    assert rules.note is None
    assert [(s.state, s.labels, s.value) for s in rules.statuses] == [
        ("firing", {"UUID": "GPU-3", "gpu": "3"}, 91.0)
    ]
