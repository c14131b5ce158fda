"""The bookkeeping of an incremental range feed: windows that lose no point, freshness per
scrape target, intervals from the samples' own spacing."""

from __future__ import annotations

import pytest

from gputop.sources.prometheus.api import PromSample
from gputop.sources.prometheus.freshness import (
    OVERLAP_STEPS,
    STALE_FLOOR_S,
    Feed,
    Target,
    read_probe,
)

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
    target = Target()
    target.observe(T0, T0 - 30, T0 - 31)  # first sight: an engine 30 s behind, 1 s old there
    assert (target.newest, target.advanced_at) == (T0 - 31, T0 - 1)
    assert not target.stale(T0, 3.0)
    target.observe(T0 + 1, T0 - 29, T0 - 31)  # nothing new
    assert target.advanced_at == T0 - 1 and not target.stale(T0 + 2, 3.0)
    assert target.stale(T0 + 2.5, 3.0)
    target.observe(T0 + 3, T0 - 27, T0 - 28)
    assert (target.newest, target.advanced_at) == (T0 - 28, T0 + 3)
    target.observe(T0 + 4, T0 - 26, T0 - 40)  # an older answer never moves it back
    assert target.newest == T0 - 28


def test_the_interval_is_the_median_of_the_newest_spacings() -> None:
    target = Target()
    assert target.learned([T0 - 100, T0 - 90, T0 - 80, T0 - 79, T0 - 78, T0 - 77])
    assert target.interval_s == 1.0  # back-filled 10 s history before: the newest samples say
    assert not Target().learned([T0])
    target.observe(T0, T0, T0 - 77)
    target.observe(T0 + 1, T0 + 1, T0 - 57)  # one late scrape ...
    assert target.interval_s == 1.0  # ... moves the median nothing
    target.observe(T0 + 2, T0 + 2, T0 - 37)  # a second: the interval has changed
    assert target.interval_s == 20.0
    # two spacings known, one of them short (the first live scrape after a back-fill):
    # the longer counts, so the next sample is not overdue before its time
    after_backfill = Target()
    assert after_backfill.learned([T0 - 60, T0])
    after_backfill.observe(T0, T0, T0)
    after_backfill.observe(T0 + 12, T0 + 12, T0 + 12)
    assert after_backfill.interval_s == 60.0


def test_a_spacing_the_raw_samples_told_is_not_counted_again_when_the_probe_shows_it() -> None:
    # VictoriaMetrics: the probe still shows the last back-filled sample while the raw samples
    # already hold the first live scrape, 3 s after it
    target = Target()
    target.observe(T0, T0 - 30, T0 - 36)
    assert target.learned([T0 - 156, T0 - 96, T0 - 36, T0 - 33])
    target.observe(T0 + 3, T0 - 27, T0 - 33)  # the probe catches up: nothing new to count
    assert target.spacings == [60.0, 60.0, 3.0] and target.interval_s == 60.0
    assert target.stale_after(1.0) == 180.0  # not 15 s: the next scrape is not overdue
    target.observe(T0 + 63, T0 + 33, T0 + 27)  # the next live scrape, 60 s later
    assert target.spacings == [60.0, 3.0, 60.0] and target.interval_s == 60.0


def test_a_group_is_stale_after_3_intervals_of_its_slowest_target_and_never_before_15s() -> None:
    feed = Feed(refresh_s=1.0)
    feed.observe(T0, T0, {"a:1": T0, "b:1": T0})
    feed.targets["a:1"].learned([T0 - 2, T0 - 1, T0])
    feed.targets["b:1"].learned([T0 - 120, T0 - 60, T0])
    assert feed.interval_s == 60.0 and feed.stale_after_s == 180.0
    assert feed.targets["a:1"].stale_after(1.0) == STALE_FLOOR_S
    assert not feed.stale(T0 + 180) and feed.stale(T0 + 181)
    assert Feed(refresh_s=1.0, configured=5.0).stale_after_s == 5.0


def test_a_node_that_misses_its_scrapes_while_others_go_on_is_missing() -> None:
    feed = Feed(refresh_s=1.0)
    for k in range(5):
        feed.observe(T0 + k, T0 + k, {"a:1": T0 + k, "b:1": T0 + k})
    for k in range(5, 40):  # b's exporter has stopped
        feed.observe(T0 + k, T0 + k, {"a:1": T0 + k, "b:1": T0 + 4})
        missing = feed.missing("b:1", T0 + k)
        assert (missing is None) == (k - 4 <= 15), k  # after its allowance: since its last
    assert missing == T0 + 4 and feed.missing("a:1", T0 + 39) is None
    assert not feed.stale(T0 + 39)


def test_nodes_that_stop_together_their_last_scrapes_apart_are_not_missing() -> None:
    feed = Feed(refresh_s=1.0)
    feed.targets["a:1"] = Target(spacings=[15.0])
    feed.targets["b:1"] = Target(spacings=[15.0])
    feed.observe(T0, T0, {"a:1": T0, "b:1": T0 - 10})  # one exporter: both stop after T0
    for k in range(90):
        assert feed.missing("b:1", T0 + k) is None, k
    assert feed.stale(T0 + 46)


def test_after_the_whole_group_stood_still_no_node_is_missing_before_its_own_turn() -> None:
    feed = Feed(refresh_s=1.0)
    for k in range(5):
        feed.observe(T0 + k, T0 + k, {"a:1": T0 + k, "b:1": T0 + k})
    assert feed.stale(T0 + 60)  # the exporter was restarted: everything stood still
    feed.observe(T0 + 60, T0 + 60, {"a:1": T0 + 60, "b:1": T0 + 4})  # a is scraped first
    for k in range(60, 77):
        feed.observe(T0 + k, T0 + k, {"a:1": T0 + k, "b:1": T0 + 4})
        assert (feed.missing("b:1", T0 + k) is None) == (k <= 75), k  # its full allowance
    assert feed.missing("b:1", T0 + 76) == T0 + 60  # from then on


def _sample(name: str, value: float | None, instance: str | None = None) -> PromSample:
    labels = {"gputop_probe": name}
    if instance is not None:
        labels["instance"] = instance
    return PromSample(labels, T0, value)


def test_reading_the_probe() -> None:
    probe = read_probe(
        [
            _sample("now", T0 - 30),
            _sample("gpu", T0 - 31, "a:9400"),
            _sample("gpu", T0 - 35, "b:9400"),
            _sample("latency", None, "a:9400"),  # NaN: not there
            _sample("other", 1.0),
        ],
        ["gpu", "latency"],
    )
    assert probe.engine_now == T0 - 30
    assert probe.newest == {"gpu": {"a:9400": T0 - 31, "b:9400": T0 - 35}}
    assert read_probe([], ["gpu"]).engine_now is None


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_a_nonsense_time_is_ignored(value: float) -> None:
    assert read_probe([_sample("gpu", value, "a:1")], ["gpu"]).newest == {}


def test_a_target_not_learned_yet_is_given_its_groups_interval() -> None:
    feed = Feed(refresh_s=1.0)
    feed.targets["a:1"] = Target(spacings=[60.0])
    feed.observe(T0, T0, {"a:1": T0, "b:1": T0 - 40})  # b's samples not readable yet
    assert feed.allowance(feed.targets["b:1"]) == 180.0
    assert feed.missing("b:1", T0 + 30) is None
