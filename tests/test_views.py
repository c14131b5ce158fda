"""The screens' pure views, without an app: number levels from the rules loaded, the rules
panel's rows and pacing, chart thresholds, the header's parts, and the metric table."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gputop.core.clock import FakeClock
from gputop.core.models import (
    GPU_METRICS,
    MEMORY,
    METRICS,
    POWER,
    TEMPERATURE,
    UTILIZATION,
    GpuSample,
    SourceState,
    SourceStatus,
)
from gputop.monitor import Monitor
from gputop.rules.builtin import builtin_rules
from gputop.rules.engine import RulesEngine
from gputop.rules.model import RuleDef, RuleStatus, unknown_status
from gputop.ui.views.readings import Limit, LimitBounds, NumberLevels, status_parts
from gputop.ui.views.rules import RuleSparks, ShownRules, rules_panel_view
from gputop.ui.views.thresholds import thresholds
from gputop.ui.widgets.gpu_panel import COMPACT_COLUMNS, readings_heading

GPU = GpuSample(
    index=0,
    uuid="GPU-0",
    name="A100",
    host="node-a",
    source="demo",
    time=0.0,
    memory_used_mib=70_000.0,
    memory_total_mib=80_000.0,  # 87.5 %
    utilization_gpu_pct=97.0,
    temperature_c=80.0,
    power_w=390.0,
    power_limit_w=400.0,
)


def loaded(*rules: RuleDef) -> list[RuleStatus]:
    """One status per rule, as an engine reports a rule it could not evaluate yet."""
    return [unknown_status(rule, "not evaluated") for rule in rules]


def test_the_builtin_rules_colour_memory_and_temperature_but_not_a_busy_gpu() -> None:
    levels = NumberLevels(loaded(*builtin_rules()))
    assert levels.level(MEMORY, GPU) == 1  # 87.5 % is within 10 % of > 90
    assert levels.level(TEMPERATURE, GPU) == 1  # 80 °C is within 10 % of > 85
    assert levels.level(TEMPERATURE, dataclasses.replace(GPU, temperature_c=86.0)) == 2
    # GPUBusy is info, and the stuck-job rule compares a 10-minute minimum: neither says
    # that a 97 % busy inference GPU is bad right now
    assert levels.level(UTILIZATION, GPU) == 0
    assert levels.spark_warn(MEMORY.key) == 90.0 and levels.spark_warn(TEMPERATURE.key) == 85.0
    assert levels.spark_warn(UTILIZATION.key) is None


def test_a_users_own_rule_colours_the_number_it_alerts_on() -> None:
    mine = RuleDef("Warm", "DCGM_FI_DEV_GPU_TEMP > 75", severity="warning", margin=0.05)
    hot = RuleDef("UtilHigh", "DCGM_FI_DEV_GPU_UTIL >= 95", severity="critical")
    levels = NumberLevels(loaded(mine, hot))
    assert levels.level(TEMPERATURE, GPU) == 2  # 80 > 75: over the user's threshold
    assert levels.level(TEMPERATURE, dataclasses.replace(GPU, temperature_c=72.0)) == 1
    assert levels.level(TEMPERATURE, dataclasses.replace(GPU, temperature_c=70.0)) == 0
    assert levels.level(UTILIZATION, GPU) == 2
    assert levels.level(MEMORY, GPU) == 0  # no rule on memory: no colour
    assert NumberLevels(loaded(mine)) == NumberLevels(loaded(mine))  # equal thresholds, equal


def test_a_ratio_rule_is_scaled_onto_the_percent_reading() -> None:
    busy = RuleDef("Busy", "DCGM_FI_PROF_GR_ENGINE_ACTIVE > 0.9", severity="warning")
    assert NumberLevels(loaded(busy)).level(UTILIZATION, GPU) == 2


def test_power_without_a_rule_is_measured_against_the_gpus_own_limit() -> None:
    levels = NumberLevels()
    assert levels.level(POWER, GPU) == 1  # 390 of 400 W
    assert levels.level(POWER, dataclasses.replace(GPU, power_w=401.0)) == 2
    assert levels.level(POWER, dataclasses.replace(GPU, power_w=100.0)) == 0
    assert levels.level(POWER, dataclasses.replace(GPU, power_w=None)) == 0


def test_every_view_of_a_metric_comes_from_its_one_table() -> None:
    assert [m.label for m in GPU_METRICS] == ["MEM", "TEMP", "UTIL", "PWR"]
    assert readings_heading() == " MEM  TEMP UTIL   PWR"
    assert COMPACT_COLUMNS == "5 22 1fr 1fr 1fr 1fr"  # "▶● 3▕", the readings, 4 sparklines
    assert METRICS["power_w"] is POWER and POWER.title == "Power W"
    assert {m.aggregate for m in (MEMORY, TEMPERATURE)} == {"max"}


def status(name: str, state: str, **kw: object) -> RuleStatus:
    return RuleStatus(name=name, state=state, **kw)  # type: ignore[arg-type]


def test_shown_rules_change_state_at_once_and_values_every_period() -> None:
    shown = ShownRules(period_s=5.0)
    first = [status("A", "near", value=1.0)]
    assert shown.update(first, 0.0) is first
    assert shown.update([status("A", "near", value=2.0)], 1.0) is first  # a value: held
    pending = [status("A", "pending")]
    assert shown.update(pending, 2.0) is pending  # a state: at once
    later = [status("A", "pending", fires_in_s=3.0)]
    assert shown.update(later, 4.0) is pending
    assert shown.update(later, 7.0) is later


def test_shown_rules_show_the_first_evaluation_at_once() -> None:
    shown = ShownRules(period_s=5.0)
    assert shown.update([], 0.0) == []  # the first frame, before the rules are evaluated
    first = [status("A", "ok", value=1.0), status("B", "ok", value=2.0)]
    assert shown.update(first, 0.5) is first
    fewer = [status("A", "ok", value=1.0)]
    assert shown.update(fewer, 1.0) is fewer  # a row gone: at once too


def test_rules_panel_view_words_rows_worst_first_or_says_why_there_are_none() -> None:
    clock = FakeClock(0.0)
    assert rules_panel_view(None, [], {}, remote=False).note == "no rules"
    engine = RulesEngine([RuleDef("A", "x > 1")], clock=clock, origin="mine.yml")
    assert rules_panel_view(engine, [], {}, remote=False).note == "waiting for the first evaluation"
    engine.error = "unreachable"
    assert rules_panel_view(engine, [], {}, remote=True).note == (
        "Prometheus rules unavailable: unreachable"
    )
    engine.error = None
    statuses = [
        status("Hot", "firing", op=">", threshold=85.0, value=90.0, labels={"gpu": "1"}),
        status("Slow", "unknown", reason="needs Prometheus: metric t2v"),
    ]
    sparks = RuleSparks(bucket_s=15.0).get(statuses, 0.0)
    view = rules_panel_view(engine, statuses, sparks, remote=False)
    assert [r.state for r in view.rows] == ["firing", "unknown"]
    assert view.rows[0].title == "Hot · GPU 1" and view.rows[0].detail == "90 vs > 85  firing"
    assert view.rows[1].title == "Slow — needs Prometheus: metric t2v" and view.rows[1].detail == ""
    assert view.subtitle == "1 firing · mine.yml"
    assert rules_panel_view(engine, statuses, sparks, remote=True).subtitle.endswith("Prometheus")


def test_thresholds_are_the_rules_on_that_metric_and_that_gpu() -> None:
    statuses = [
        status("Hot", "ok", query="DCGM_FI_DEV_GPU_TEMP", op=">", threshold=85.0),
        status("Hot0", "ok", query="DCGM_FI_DEV_GPU_TEMP", threshold=80.0, labels={"gpu": "0"}),
        status("Hot1", "ok", query="DCGM_FI_DEV_GPU_TEMP", threshold=70.0, labels={"gpu": "1"}),
        status("Busy", "ok", query="DCGM_FI_PROF_GR_ENGINE_ACTIVE", threshold=0.95),
    ]
    assert thresholds(statuses, GPU, "temperature_c") == [("Hot0", 80.0), ("Hot", 85.0)]
    ((busy, at),) = thresholds(statuses, GPU, "utilization_gpu_pct")
    assert busy == "Busy" and at == pytest.approx(95.0)
    assert thresholds(statuses, GPU, "power_w") == []


def test_status_parts_name_each_source_its_state_and_age() -> None:
    clock = FakeClock(100.0)
    monitor = Monitor(clock=clock, local=None, host="desk")
    monitor._set("nvml", SourceState(SourceStatus.UNAVAILABLE, "NVML not found"))
    monitor._set("prometheus", SourceState(SourceStatus.OK, None, last_ok=70.0))
    parts = status_parts(monitor, clock.now())
    assert parts[0] == ("gputop", "status-bar--title")
    assert parts[1] == ("desk", "status-bar--off")
    assert ("✖ nvml: NVML not found", "status-bar--bad") in parts
    # the engine answered fresh data, 30 s ago: gputop's own lag, not the engine's
    assert ("● prometheus now", "status-bar--ok") in parts
    assert ("✖ gputop 30s late", "status-bar--bad") in parts
    monitor._set("prometheus", SourceState(SourceStatus.OK, None, last_ok=70.0, newest=40.0))
    parts = status_parts(monitor, clock.now())
    assert ("● prometheus 30s behind", "status-bar--ok") in parts
    monitor._set("prometheus", SourceState(SourceStatus.ERROR, "timeout", last_ok=70.0))
    assert ("✖ prometheus: timeout, stale 30s", "status-bar--bad") in status_parts(monitor, 100.0)


def test_the_header_counts_lost_gpus_and_says_when_a_failing_source_is_tried_again() -> None:
    clock = FakeClock(100.0)
    lost = dataclasses.replace(GPU, state="lost", reason="GPU is lost")

    class Fleet:
        state = SourceState(SourceStatus.ERROR, "timeout", 70.0, 103.2)

        def gpus(self) -> tuple[GpuSample, ...]:
            return (lost,)

        async def refresh(self) -> None:
            return None

    monitor = Monitor(clock=clock, local=None, remote=Fleet(), host="desk")  # type: ignore[arg-type]
    asyncio.run(monitor.refresh_remote())
    assert monitor.lost_since(lost.key) == 100.0 and monitor.lost_count() == 1
    parts = status_parts(monitor, clock.now())
    assert ("✖ prometheus: timeout, stale 30s, retry in 4s", "status-bar--bad") in parts
    assert parts[-1] == ("✖ 1 GPU lost", "status-bar--bad")


def test_the_overview_gives_way_to_the_rules_it_must_show() -> None:
    from gputop.ui.views.overview import (
        MIN_GPU_LINES,
        MIN_RULE_ROWS,
        RuleRoom,
        chrome_height,
        overview_layout,
    )

    # 8 GPUs at 120x40: cards beside a few rule lines, compact lines beside many
    assert not overview_layout(120, 40, [8], 2).compact
    many = overview_layout(120, 40, [8], 12)
    assert many.compact and many.gpu_h == 8
    # What stands around the compact GPU list at 80x24, top to bottom: the header, the list's
    # column heading, the list, the latency panel, the rules panel (its rows inside a border),
    # the footer. The list takes what the others leave, and scrolls when it holds more.
    header = footer = column_heading = 1
    latency_panel = 4  # 2 lines inside a border that carries its title
    rules_border = 2
    # 16 GPUs on 2 nodes: a heading per node; the list scrolls so the 4 rule rows fit
    small = overview_layout(80, 24, [8, 8], 4)
    assert small.compact and small.headings and small.latency
    around = header + column_heading + latency_panel + rules_border + 4 + footer
    assert small.gpu_h == 24 - around == 11 < 16 + 2  # every GPU and node heading: it scrolls
    # more firing rows than the screen holds beside the latency panel: the panel goes first
    crowded = overview_layout(80, 24, [8, 8], 14)
    left = 24 - (header + column_heading + latency_panel + rules_border + 14 + footer)
    assert left < MIN_GPU_LINES
    assert not crowded.latency
    assert crowded.gpu_h == 24 - (header + column_heading + rules_border + 14 + footer) == 5
    assert overview_layout(80, 24, [8], 0) == overview_layout(80, 24, [8], MIN_RULE_ROWS)
    # a kiosk has no footer; its STALE banner, when shown, takes its lines and a blank line
    # either side
    assert chrome_height(kiosk=False, banner_lines=2) == header + footer
    assert chrome_height(kiosk=True, banner_lines=0) == header
    banner = 1 + 2 + 1  # a blank line, its 2 lines, a blank line
    kiosk = overview_layout(80, 24, [8], 6, chrome=chrome_height(kiosk=True, banner_lines=2))
    # the GPU list scrolls, not the rules: all 6 rows stay
    around = header + banner + column_heading + latency_panel + rules_border + 6
    assert kiosk.gpu_h == 24 - around == 6 < 8

    room = RuleRoom(hold_s=60.0)
    assert room.update(5, 0.0) == 5
    assert room.update(2, 30.0) == 5  # held: no flapping layout
    assert room.update(7, 40.0) == 7  # grows at once
    assert room.update(2, 99.0) == 7
    assert room.update(2, 100.0) == 2  # a minute without the need


_LIMITS = st.lists(
    st.builds(
        Limit,
        rule=st.just("R"),
        op=st.sampled_from([">", ">=", "<", "<=", "==", "!="]),
        threshold=st.floats(-1000, 1000, allow_nan=False),
        margin=st.floats(0, 1),
    ),
    min_size=1,
    max_size=12,
)


@given(_LIMITS, st.one_of(st.floats(-2000, 2000), st.just(float("nan"))))
def test_levels_against_many_limits_are_the_worst_of_each(
    limits: list[Limit], value: float
) -> None:
    # a metric compared by thousands of rules: a few numbers, not a loop, say the same
    assert LimitBounds(limits).level(value) == max(limit.level(value) for limit in limits)
