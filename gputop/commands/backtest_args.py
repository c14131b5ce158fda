"""The values the flags of `gputop rules backtest` take: durations, times, RULE=VALUE
assignments, target rates (N/DURATION) and counts; each bad one an argparse error naming it.
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

from gputop.core.units import parse_prometheus_duration

if TYPE_CHECKING:
    from gputop.rules.backtest.whatif import TargetRate

__all__ = [
    "assignment",
    "count",
    "duration",
    "number",
    "positive_duration",
    "target_rate",
    "time_arg",
]


def duration(text: str) -> float:
    try:
        seconds = parse_prometheus_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return seconds


def positive_duration(text: str) -> float:
    seconds = duration(text)
    if seconds <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return seconds


def time_arg(text: str) -> float:
    """RFC 3339 or unix seconds."""
    from gputop.sources.prometheus.errors import PromMalformed
    from gputop.sources.prometheus.rulesapi import parse_rfc3339

    try:
        value = float(text)
    except ValueError:
        try:
            parsed = parse_rfc3339(text)
        except PromMalformed:
            parsed = None
        if parsed is None:
            raise argparse.ArgumentTypeError(
                f"not a time: {text!r} (RFC 3339, e.g. 2024-05-01T12:00:00Z, or unix seconds)"
            ) from None
        return parsed
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"not a time: {text!r}")
    return value


def assignment(kind: str, parse: Any) -> Any:
    def convert(text: str) -> tuple[str, float]:
        name, sep, value = text.rpartition("=")
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"expected RULE={kind}, got {text!r}")
        try:
            return name, parse(value)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None

    return convert


def number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def target_rate(text: str) -> TargetRate:
    from gputop.rules.backtest.whatif import TargetRate

    count, sep, per = text.partition("/")
    try:
        n = float(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N/DURATION, e.g. 1/7d, got {text!r}") from None
    if not math.isfinite(n) or n < 0:
        raise argparse.ArgumentTypeError(f"expected N/DURATION with N ≥ 0, got {text!r}")
    per_s = positive_duration(per) if sep else 0.0
    return TargetRate(n, per_s, text)


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value
