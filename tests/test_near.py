""" "Near" as one pure function of a rule's recent series (`gputop.rules.near`): the margin,
its hysteresis read along the series, and a trend ETA only for a recent, consistent approach
that counts down."""

from __future__ import annotations

import itertools
import random

import pytest

from gputop.promql.analysis import Comparison
from gputop.rules.near import (
    CROSSED,
    NEAR_EXIT_MARGINS,
    TREND_POINTS,
    Verdict,
    assess,
    trend_eta,
)

NOW = 1_767_225_600.0
GT90 = Comparison("mem{}", ">", 90.0)
LT10 = Comparison("free{}", "<", 10.0)


def series(*values: float, step: float = 15.0, end: float = NOW) -> list[tuple[float, float]]:
    """Values at evaluations `step` apart, the last at `end`."""
    n = len(values)
    return [(end - (n - 1 - i) * step, v) for i, v in enumerate(values)]


def near(
    comparison: Comparison, points: list[tuple[float, float]], **kw: float
) -> tuple[Verdict, float | None, str | None]:
    kw.setdefault("margin", 0.10)
    kw.setdefault("for_s", 600.0)
    return assess(comparison, points, now=kw.pop("now", points[-1][0]), **kw)  # type: ignore[arg-type]


def test_within_the_margin_is_near_and_hysteresis_is_read_along_the_series() -> None:
    assert near(GT90, series(82.0))[0] == "near"  # within 10 % of 90: 81 and up
    assert near(GT90, series(80.0))[0] == "ok"
    # once within the margin, near until 1.5 margins away (76.5), whatever hovers between
    exit_at = 90.0 * (1 - NEAR_EXIT_MARGINS * 0.10)
    assert near(GT90, series(70.0, 82.0, 79.0, 80.0))[0] == "near"
    assert near(GT90, series(82.0, 79.0, exit_at - 0.1, 80.0))[0] == "ok"  # left, not back in
    assert near(LT10, series(12.0, 10.5, 11.4))[0] == "near"  # falling toward 10, the same


def test_a_steady_rise_gives_an_eta_from_the_last_sample_that_counts_down() -> None:
    points = series(50.0, 52.0, 54.0, 56.0, 58.0)  # 2 every 15 s
    state, eta, reason = near(GT90, points)
    assert state == "near" and eta == pytest.approx((90.0 - 58.0) / (2.0 / 15.0))  # 240 s
    assert reason == "trend crosses the threshold in 4m"
    # between evaluations the same series counts down with the clock
    later = near(GT90, points, now=NOW + 10.0)[1]
    assert later == pytest.approx(230.0)
    # and at the next evaluation, on the same pace, it goes on down
    _, after, _ = near(GT90, series(50.0, 52.0, 54.0, 56.0, 58.0, 60.0, end=NOW + 15.0))
    assert after == pytest.approx(225.0)


def test_no_eta_while_falling_or_just_after_a_fall() -> None:
    assert near(GT90, series(70.0, 68.0, 66.0, 64.0, 62.0)) == ("ok", None, None)
    # rising, then a step away at the last evaluation: no ETA
    assert near(GT90, series(60.0, 62.0, 64.0, 66.0, 63.0))[1] is None
    # the memory that swings between 40 and 70 %: just after the fall, the old slope over
    # the whole `for` window said "crosses in 2m36s"; the recent samples do not rise
    swing = series(40.0, 55.0, 70.0, 68.0, 52.0, 45.0, 47.0)
    assert near(GT90, swing)[1] is None


def test_no_eta_for_noise_a_single_jump_or_too_few_samples() -> None:
    rng = random.Random(1)
    noise = series(*(60 + rng.uniform(-10, 10) for _ in range(12)))
    assert near(GT90, noise)[1] is None
    assert near(GT90, series(60.0, 60.0, 60.0, 60.0, 75.0))[1] is None  # one step is no trend
    assert near(GT90, series(60.0, 62.0, 64.0, 66.0)[-(TREND_POINTS - 1) :])[1] is None


def test_flat_steps_between_slow_scrapes_do_not_break_a_rise() -> None:
    # evaluated every 15 s, scraped every 60 s: the value moves every fourth evaluation
    points = series(60.0, 60.0, 64.0, 64.0, 64.0, 68.0)
    assert near(GT90, points)[1] is not None


def test_an_approach_that_slows_gives_no_eta_rather_than_one_that_grows() -> None:
    # 85 -> 89 in shrinking steps: each sample's ETA would be later than the last one's
    slowing = series(80.0, 83.0, 85.0, 86.5, 87.5, 88.0)
    assert near(GT90, slowing)[1] is None
    assert near(GT90, slowing)[0] == "near"  # still within the margin, without a promise


def test_the_eta_counts_down_over_a_run_of_evaluations() -> None:
    """Replayed over a noisy but steady rise, every ETA given is shorter than the last (the
    moment it names moves a little with the noise, never the countdown up)."""
    rng = random.Random(7)
    values = [40.0 + 0.12 * 15 * i + rng.uniform(0.0, 0.3) for i in range(40)]
    values = [max(values[: i + 1]) for i in range(len(values))]  # never a step away
    etas = []
    for i in range(TREND_POINTS, len(values)):
        points = series(*values[: i + 1], end=NOW + 15.0 * i)
        eta = trend_eta(points, GT90, now=NOW + 15.0 * i, horizon_s=600.0)
        if eta is not None:
            etas.append(eta)
    assert len(etas) >= 20
    assert all(b < a for a, b in itertools.pairwise(etas)), etas


def test_beyond_the_horizon_no_eta() -> None:
    slow = series(50.0, 50.1, 50.2, 50.3, 50.4)  # ~6000 s away
    assert near(GT90, slow) == ("ok", None, None)
    assert near(GT90, slow, for_s=10_000.0)[1] is not None  # a rule with a long `for`


def test_across_the_threshold_without_the_rules_own_evaluation() -> None:
    assert near(GT90, series(95.0)) == ("near", None, CROSSED)
    gated = assess(GT90, series(95.0), margin=0.1, now=NOW, gated=True)
    assert gated[0] == "ok"


def test_the_eta_never_passes_its_own_crossing_time() -> None:
    points = series(50.0, 52.0, 54.0, 56.0, 58.0)  # crossing 240 s after the last sample
    assert near(GT90, points, now=NOW + 239.0)[1] == pytest.approx(1.0)
    assert near(GT90, points, now=NOW + 241.0)[1] is None  # not arrived: no promise left


def test_a_jump_then_noise_or_a_rise_that_levels_off_is_not_a_trend() -> None:
    # memory that jumped once, then moved by rounding noise (seen on the demo node)
    jump = series(35.2788, 35.2783, 72.5096, 72.50977, 72.50977, 72.50977, step=30.0)
    assert near(GT90, jump)[1] is None
    # a temperature settling toward 63 °C: +3, +8, +4, +2 is no straight road to 85
    hot = Comparison("temp{}", ">", 85.0)
    settling = series(55.0, 45.0, 48.0, 56.0, 60.0, 62.0, step=30.0)
    assert assess(hot, settling, margin=0.1, for_s=60.0, now=NOW) == ("ok", None, None)
