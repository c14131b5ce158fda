"""Units and durations: parsing and formatting for people."""

from __future__ import annotations

import math
import re
import time

__all__ = [
    "PROM_MAX_DURATION_S",
    "format_age",
    "format_clock",
    "format_duration",
    "format_latency",
    "format_mib",
    "format_since",
    "format_value",
    "parse_duration",
    "parse_prometheus_duration",
]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|y|w|d|h|m|s)")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}


def parse_duration(text: str) -> float:
    """Parse a Prometheus-style duration ("90s", "5m", "1h30m") or plain seconds ("2.5")."""
    s = text.strip()
    if not s:
        raise ValueError("empty duration")
    try:
        value = float(s)
    except ValueError:
        pass
    else:
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"not a duration: {text!r}")
        return value
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(s):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(s) or pos == 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 5m, 1h30m)")
    return total


def format_duration(seconds: float) -> str:
    """Format seconds compactly: 45s, 5m, 1h30m, 2d3h."""
    if not math.isfinite(seconds):
        return "?" if math.isnan(seconds) else "∞" if seconds > 0 else "-∞"
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.1f}s"
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    days, rem = divmod(total, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m{secs}s" if secs else f"{minutes}m"


def format_age(seconds: float | None) -> str:
    """How long ago, for freshness labels: "now", "12s", "3m"."""
    if seconds is None:
        return "never"
    if seconds < 1.5:
        return "now"
    return format_duration(seconds)


def format_clock(when: float, now: float, *, seconds: bool = True) -> str:
    """A moment as local clock time, with its date when it is not on today's:
    "08:04:51", "12-03 08:04:51" (month-day); "?" for a time no clock can show."""
    try:
        moment, today = time.localtime(when), time.localtime(now)
    except (OverflowError, OSError, ValueError):
        return "?"
    clock = time.strftime("%H:%M:%S" if seconds else "%H:%M", moment)
    if moment[:3] == today[:3]:
        return clock
    return time.strftime("%m-%d ", moment) + clock


def format_since(when: float, now: float) -> str:
    """A past moment as local clock time and how long ago: "12:03:14 (4m)", with its date
    when it was before today: "12-03 08:04:51 (2d3h)"."""
    clock = format_clock(when, now)
    if not math.isfinite(now - when):
        return clock
    ago = float(max(0, math.floor(now - when)))
    # whole minutes past the first one: the text changes once a minute, not every second
    return f"{clock} ({format_duration(ago if ago < 60 else ago // 60 * 60)})"


def format_mib(mib: float | None) -> str:
    """Memory for people: MiB below 1 GiB, else GiB with one decimal."""
    if mib is None:
        return "n/a"
    if abs(mib) < 1024:
        return f"{mib:.0f}MiB"
    return f"{mib / 1024:.1f}GiB"


def format_latency(seconds: float | None) -> str:
    """A latency in a few characters: "38ms", "1.25s", "12.4s", "310s"; n/a when missing."""
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    if seconds < 1.0:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 10.0:
        return f"{seconds:.2f}s"
    return f"{seconds:.1f}s" if seconds < 100.0 else f"{seconds:.0f}s"


def format_value(value: float | None, unit: str = "", digits: int = 0) -> str:
    """A number with its unit, or n/a when missing."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}{unit}"


_PROM_DURATION = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_PROM_DURATION_UNITS = (31536000.0, 604800.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)
#: The longest duration Prometheus can hold (Go's time.Duration): about 292 years.
PROM_MAX_DURATION_S = 2**63 / 1e9


def parse_prometheus_duration(text: str) -> float:
    """A Prometheus duration ("5m", "1h30m", "0"); raises ValueError like Prometheus does."""
    s = text.strip()
    m = _PROM_DURATION.match(s)
    if s == "0":
        return 0.0
    if not s or m is None:
        raise ValueError(f"not a valid duration string: {text!r} (use e.g. 30s, 5m, 1h30m)")
    total = sum(
        float(g) * unit for g, unit in zip(m.groups(), _PROM_DURATION_UNITS, strict=True) if g
    )
    if total > PROM_MAX_DURATION_S:
        raise ValueError(f"duration out of range: {text!r} (Prometheus holds up to 292y)")
    return total
