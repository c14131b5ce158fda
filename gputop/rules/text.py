"""Rule statuses in words, shared by `--once` and the dashboard's rules panel."""

from __future__ import annotations

import time
from collections.abc import Mapping

from gputop.core.labels import node_of
from gputop.core.units import format_duration
from gputop.rules.model import RuleStatus

__all__ = ["fate_text", "rule_detail", "rule_line", "rule_title", "series_name"]


def series_name(labels: Mapping[str, str]) -> str:
    """Which series a status is about, in a few words: "GPU 3 @ node-1"."""
    host = node_of(labels)
    if "gpu" in labels:
        return f"GPU {labels['gpu']}" + (f" @ {host}" if host else "")
    if host:
        return host
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__")


def rule_title(status: RuleStatus) -> str:
    who = series_name(status.labels)
    return f"{status.name} · {who}" if who else status.name


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.3g}"


def rule_detail(status: RuleStatus) -> str:
    compared = (
        f"{_num(status.value)} vs {status.op} {_num(status.threshold)}"
        if status.op is not None and status.threshold is not None
        else (_num(status.value) if status.value is not None else "")
    )
    if status.state == "firing":
        since = ""
        if status.active_at is not None:
            since = f" since {time.strftime('%H:%M:%S', time.localtime(status.active_at))}"
        return f"{compared}  firing{since}".strip()
    if status.state == "pending":
        left = "" if status.fires_in_s is None else f"fires in {_countdown(status.fires_in_s)}"
        return f"{compared}  {left}".strip()
    if status.state == "near":
        eta = "" if status.eta_s is None else f"  trend crosses in {format_duration(status.eta_s)}"
        return f"{_num(status.value)} vs {status.op} {_num(status.threshold)}{eta}"
    if status.state == "unknown":
        return status.reason or "cannot be evaluated"
    return (
        f"{_num(status.value)} vs {status.op} {_num(status.threshold)}" if status.op else compared
    )


def _countdown(seconds: float) -> str:
    """Seconds in the last two minutes; whole minutes before (a display that ticks less)."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return format_duration(seconds)
    return f"~{round(seconds / 60)}m"


def fate_text(status: RuleStatus, now: float) -> str:
    """What Alertmanager did with the rule's alert: `SILENCED by alice until 14:00 (2h)`,
    `INHIBITED by GPUDown`, `→ dingtalk-relay`, `NOT IN ALERTMANAGER`; "" when nothing to say.

    Times left are in whole minutes, so the words change at most once a minute.
    """
    fate = status.alertmanager
    if fate is None:
        return ""
    if fate.state == "missing":
        return "NOT IN ALERTMANAGER"
    parts: list[str] = []
    if fate.silences:
        _, who, until = max(fate.silences, key=lambda s: s[2] or 0.0)  # the last to end
        text = f"SILENCED by {who.split('@')[0] or '?'}"  # the user; the host is on the silence
        if until is not None:
            left = max(0.0, until - now)
            clock = time.strftime("%H:%M", time.localtime(until))
            text += f" until {clock} ({format_duration(60 * max(1, round(left / 60)))})"
        parts.append(text)
    if fate.inhibited_by:
        parts.append("INHIBITED by " + ", ".join(fate.inhibited_by))
    if fate.receivers and fate.state == "active":
        parts.append("→ " + ", ".join(fate.receivers))
    return "  ".join(parts)


def rule_line(status: RuleStatus, now: float | None = None) -> str:
    fate = fate_text(status, time.time() if now is None else now)
    return f"{rule_title(status)}  {rule_detail(status)}" + (f"  {fate}" if fate else "")
