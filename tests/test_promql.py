"""Alert expression analysis: comparisons, thresholds, selectors, syntax errors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gputop.promql.analysis import (
    COMPARISON_OPS,
    Comparison,
    LabelMatcher,
    PromQLSyntaxError,
    analyse,
    compare,
    parse,
)

# expression -> (compared query, op, threshold, bool, gated), or None for "no threshold"
SHAPES: list[tuple[str, tuple[str, str, float, bool, bool] | None]] = [
    ("DCGM_FI_DEV_GPU_TEMP > 85", ("DCGM_FI_DEV_GPU_TEMP{}", ">", 85.0, False, False)),
    ("85 < DCGM_FI_DEV_GPU_TEMP", ("DCGM_FI_DEV_GPU_TEMP{}", ">", 85.0, False, False)),
    ("85 <= DCGM_FI_DEV_GPU_TEMP", ("DCGM_FI_DEV_GPU_TEMP{}", ">=", 85.0, False, False)),
    ("10 > DCGM_FI_DEV_GPU_UTIL", ("DCGM_FI_DEV_GPU_UTIL{}", "<", 10.0, False, False)),
    ("10 >= DCGM_FI_DEV_GPU_UTIL", ("DCGM_FI_DEV_GPU_UTIL{}", "<=", 10.0, False, False)),
    ("up == 0", ("up{}", "==", 0.0, False, False)),
    ("0 != up", ("up{}", "!=", 0.0, False, False)),
    ("(DCGM_FI_DEV_GPU_TEMP > 85)", ("DCGM_FI_DEV_GPU_TEMP{}", ">", 85.0, False, False)),
    ("((85)) < (DCGM_FI_DEV_GPU_TEMP)", ("DCGM_FI_DEV_GPU_TEMP{}", ">", 85.0, False, False)),
    (
        'DCGM_FI_DEV_GPU_TEMP{gpu="0"} >= 1e3',
        ('DCGM_FI_DEV_GPU_TEMP{gpu="0"}', ">=", 1000.0, False, False),
    ),
    ("DCGM_FI_DEV_GPU_UTIL > bool 85", ("DCGM_FI_DEV_GPU_UTIL{}", ">", 85.0, True, False)),
    ("-DCGM_FI_DEV_GPU_TEMP < -5", ("-DCGM_FI_DEV_GPU_TEMP{}", "<", -5.0, False, False)),
    (
        "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) * 100 > 90",
        (
            "DCGM_FI_DEV_FB_USED{} / (DCGM_FI_DEV_FB_USED{} + DCGM_FI_DEV_FB_FREE{}) * 100",
            ">",
            90.0,
            False,
            False,
        ),
    ),
    (
        "histogram_quantile(0.95, sum(rate(t2v_inference_duration_seconds_bucket[5m])) by (le))"
        " > 300",
        (
            "histogram_quantile(0.95, sum by (le)"
            "(rate(t2v_inference_duration_seconds_bucket{}[5m])))",
            ">",
            300.0,
            False,
            False,
        ),
    ),
    (
        "DCGM_FI_DEV_GPU_UTIL > 85 and on(UUID) DCGM_FI_DEV_GPU_TEMP",
        ("DCGM_FI_DEV_GPU_UTIL{}", ">", 85.0, False, True),
    ),
    (
        "min_over_time(DCGM_FI_DEV_GPU_UTIL[10m]) > 85 unless on(UUID) "
        "increase(t2v_jobs_completed_total[10m]) > 0",
        ("min_over_time(DCGM_FI_DEV_GPU_UTIL{}[10m])", ">", 85.0, False, True),
    ),
    (
        "(DCGM_FI_DEV_GPU_TEMP > 85 and DCGM_FI_DEV_POWER_USAGE > 300) unless up == 0",
        ("DCGM_FI_DEV_GPU_TEMP{}", ">", 85.0, False, True),
    ),
    ("foo or bar > 1", None),
    ("DCGM_FI_DEV_GPU_TEMP > 85 or up == 0", None),
    ("DCGM_FI_DEV_GPU_TEMP > DCGM_FI_DEV_MEMORY_TEMP", None),
    ("rate(t2v_jobs_completed_total[5m])", None),
    ("up and up > 0", None),
    ("up unless up > 0", None),
    ("1 > bool 2", None),
    ("absent(up)", None),
]


@pytest.mark.parametrize(("expr", "expected"), SHAPES, ids=[s[0][:60] for s in SHAPES])
def test_shapes(expr: str, expected: tuple[str, str, float, bool, bool] | None) -> None:
    analysis = analyse(expr)
    if expected is None:
        assert analysis.comparison is None
        assert analysis.comparisons == ()
        return
    query, op, threshold, return_bool, gated = expected
    c = analysis.comparison
    assert c is not None
    assert (c.query, c.op, c.threshold, c.return_bool) == (query, op, threshold, return_bool)
    assert analysis.gated is gated
    parse(c.query)  # the compared query is itself valid PromQL, ready to be asked


def test_both_sides_of_and_when_both_compare() -> None:
    analysis = analyse(
        "DCGM_FI_DEV_GPU_UTIL > 85 and on(UUID) increase(t2v_jobs_completed_total[10m]) == 0"
    )
    assert [(c.query, c.op, c.threshold) for c in analysis.comparisons] == [
        ("DCGM_FI_DEV_GPU_UTIL{}", ">", 85.0),
        ("increase(t2v_jobs_completed_total{}[10m])", "==", 0.0),
    ]


def test_unless_right_side_is_not_a_comparison_of_the_rule() -> None:
    analysis = analyse("DCGM_FI_DEV_GPU_UTIL > 85 unless DCGM_FI_DEV_GPU_TEMP < 30")
    assert [c.threshold for c in analysis.comparisons] == [85.0]


def test_metrics_and_matchers() -> None:
    analysis = analyse(
        'avg_over_time(DCGM_FI_DEV_GPU_TEMP{gpu="0", modelName=~"NVIDIA A100.*"}[5m]) > 80 '
        'and on(UUID) DCGM_FI_DEV_GPU_UTIL{Hostname!="a", UUID!~"GPU-1.*"} > 50 '
        "and on(UUID) DCGM_FI_DEV_GPU_TEMP > 0"
    )
    assert analysis.metrics == ("DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_GPU_UTIL")
    assert analysis.matchers == (
        LabelMatcher("gpu", "=", "0"),
        LabelMatcher("modelName", "=~", "NVIDIA A100.*"),
        LabelMatcher("Hostname", "!=", "a"),
        LabelMatcher("UUID", "!~", "GPU-1.*"),
    )
    assert analysis.selectors[0].range_s == 300.0
    assert analysis.selectors[1].range_s is None


def test_name_matcher_counts_as_the_metric() -> None:
    analysis = analyse('{__name__="up", job="dcgm"} == 0')
    assert analysis.metrics == ("up",)
    assert analysis.matchers == (LabelMatcher("job", "=", "dcgm"),)


@pytest.mark.parametrize(
    ("expr", "unit_metric"),
    [
        ("DCGM_FI_PROF_GR_ENGINE_ACTIVE > 95", "DCGM_FI_PROF_GR_ENGINE_ACTIVE"),
        ("avg_over_time(DCGM_FI_PROF_GR_ENGINE_ACTIVE[5m]) > 95", "DCGM_FI_PROF_GR_ENGINE_ACTIVE"),
        ("max by (gpu) (DCGM_FI_PROF_GR_ENGINE_ACTIVE) > 95", "DCGM_FI_PROF_GR_ENGINE_ACTIVE"),
        ("DCGM_FI_PROF_GR_ENGINE_ACTIVE * 100 > 95", None),
        ("sum(DCGM_FI_PROF_GR_ENGINE_ACTIVE) > 95", None),
        ("rate(DCGM_FI_PROF_GR_ENGINE_ACTIVE[5m]) > 95", None),
    ],
)
def test_unit_metric_only_when_the_unit_is_kept(expr: str, unit_metric: str | None) -> None:
    comparison = analyse(expr).comparison
    assert comparison is not None and comparison.unit_metric == unit_metric


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("sum(rate(x[5m])", "unclosed left parenthesis"),
        ("DCGM_FI_DEV_GPU_TEMP{gpu=0} > 85", "unexpected character inside braces"),
        ("rate(DCGM_FI_DEV_GPU_UTIL) > 1", "expected type matrix"),
        ("", "empty expression"),
    ],
)
def test_syntax_errors_carry_the_parser_message(expr: str, message: str) -> None:
    with pytest.raises(PromQLSyntaxError, match=message):
        analyse(expr)


def test_comparison_holds_and_renders() -> None:
    c = Comparison("x{}", ">=", 0.95)
    assert c.holds(0.95) and c.holds(1.0) and not c.holds(0.9)
    assert str(c) == "x{} >= 0.95"
    assert str(Comparison("x{}", ">", 85.0, return_bool=True)) == "x{} > bool 85"
    assert not compare(">", math.nan, 1.0)
    assert compare("!=", math.nan, 1.0)


@given(
    op=st.sampled_from(sorted(COMPARISON_OPS)),
    threshold=st.integers(-1000, 1000),
    value=st.integers(-1000, 1000),
)
def test_reversed_comparison_means_the_same(op: str, threshold: int, value: int) -> None:
    # `t op x` is rewritten as `x op' t`: it must hold for exactly the same values.
    c = analyse(f"{threshold} {op} DCGM_FI_DEV_GPU_TEMP").comparison
    assert c is not None and c.threshold == threshold
    assert c.holds(float(value)) == compare(op, float(threshold), float(value))
