"""The bookkeeping of an incremental range feed: windows that lose no point, freshness."""

from __future__ import annotations

import pytest

from gputop.sources.promfresh import OVERLAP_STEPS, Feed, read_probe
from gputop.sources.promtypes import PromSample

T0 = 1_767_225_600.0  # a multiple of every step used here


def window(feed: Feed, engine_now: float, newest: float | None) -> tuple[float, float] | None:
    return feed.window(engine_now=engine_now, newest=newest, step=5.0, range_s=300.0)


def test_the_first_window_is_the_visible_range_up_to_the_newest_sample() -> None:
    assert window(Feed(), T0 + 3, T0 + 2) == (T0 - 295, T0)
    assert window(Feed(), T0 + 7, T0 + 6) == (T0 - 290, T0 + 5)
    assert window(Feed(), T0 + 7, None) == (T0 - 290, T0 + 5)  # no live sample: its history
    assert window(Feed(), T0 + 7, T0 - 31) == (T0 - 290, T0 - 35)  # never past the newest


def test_later_windows_ask_what_is_new_and_a_short_overlap() -> None:
    feed = Feed()
    feed.answered(T0, T0)
    assert window(feed, T0 + 4, T0 + 4) is None  # no new step yet
    assert window(feed, T0 + 6, T0 + 5.5) == (T0 + 5 - OVERLAP_STEPS * 5, T0 + 5)
    assert window(feed, T0 + 60, None) is None  # nothing live: nothing new can exist


def test_a_window_starts_no_later_than_the_newest_point_received() -> None:
    feed = Feed()
    feed.answered(T0, T0 - 60)  # asked up to T0, but nothing came after T0 - 60
    assert window(feed, T0 + 6, T0 + 6) == (T0 - 55, T0 + 5)
    feed.answered(T0 + 5, None)  # an empty answer moves nothing
    assert feed.cursor == T0 - 60 and feed.asked == T0 + 5
    assert window(feed, T0 + 900, T0 + 900) == (T0 + 605, T0 + 900)  # within the range


def test_freshness_is_the_newest_sample_moving() -> None:
    feed = Feed()
    feed.observe(T0, T0 - 30, T0 - 31)  # first sight: an engine 30 s behind, 1 s old there
    assert (feed.newest, feed.advanced_at) == (T0 - 31, T0 - 1)
    assert not feed.stale(T0, 3.0)
    feed.observe(T0 + 1, T0 - 29, T0 - 31)  # nothing new
    feed.observe(T0 + 2, T0 - 28, None)  # no live sample
    assert feed.advanced_at == T0 - 1 and not feed.stale(T0 + 2, 3.0)
    assert feed.stale(T0 + 2.5, 3.0)
    feed.observe(T0 + 3, T0 - 27, T0 - 28)
    assert (feed.newest, feed.advanced_at) == (T0 - 28, T0 + 3)
    feed.observe(T0 + 4, T0 - 26, T0 - 40)  # an older answer never moves it back
    assert feed.newest == T0 - 28


def _sample(name: str, value: float | None) -> PromSample:
    return PromSample({"gputop_probe": name}, T0, value)


def test_reading_the_probe() -> None:
    probe = read_probe(
        [
            _sample("now", T0 - 30),
            _sample("gpu", T0 - 31),
            _sample("latency", None),  # NaN: not there
            _sample("gpu_interval_30", 1.0),
            _sample("gpu_interval_120", 1.4),
            _sample("latency_interval_120", 15.0),
        ],
        ["gpu", "latency"],
    )
    assert probe.engine_now == T0 - 30
    assert probe.newest == {"gpu": T0 - 31}
    assert probe.intervals == {"gpu": 1.0, "latency": 15.0}
    assert read_probe([], ["gpu"]).engine_now is None


@pytest.mark.parametrize("value", [float("inf"), -1.0, 0.0])
def test_a_nonsense_interval_is_ignored(value: float) -> None:
    probe = read_probe([_sample("gpu_interval_30", value)], ["gpu"])
    assert probe.intervals == {}
