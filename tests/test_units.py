from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gputop.core.backoff import Backoff
from gputop.core.units import format_age, format_duration, format_mib, format_value, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("1h30m", 5400), ("2.5", 2.5), ("500ms", 0.5), ("1d", 86400)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "m5", "1h 30m", "-3", "nan", "5m3"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (45, "45s"),
        (300, "5m"),
        (5400, "1h30m"),
        (90, "1m30s"),
        (3 * 86400 + 7200, "3d2h"),
        (2.5, "2.5s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10 * 86400))
def test_format_then_parse_is_close(seconds: int) -> None:
    # formatting drops detail below the two largest units, never more than an hour's worth
    assert abs(parse_duration(format_duration(seconds)) - seconds) < 3600


def test_memory_and_values() -> None:
    assert format_mib(512) == "512MiB"
    assert format_mib(81920) == "80.0GiB"
    assert format_mib(None) == "n/a"
    assert format_value(None, "W") == "n/a"
    assert format_value(float("nan"), "W") == "n/a"
    assert format_value(63.4, "°C") == "63°C"
    assert format_age(None) == "never" and format_age(0.4) == "now" and format_age(75) == "1m15s"


def test_backoff_doubles_to_a_cap_and_resets() -> None:
    b = Backoff(base=1, factor=2, cap=5)
    assert [b.next_delay() for _ in range(5)] == [1, 2, 4, 5, 5]
    b.reset()
    assert b.next_delay() == 1
