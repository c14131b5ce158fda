"""Rule statuses in words, shared by `--once` and the dashboard's rules panel.

Times are Prometheus' times: "firing since" is when the rule started firing (its activeAt is
when it went *pending*; it fired once the condition had held for `for`), and a pending
countdown is worked out from that fixed moment and the clock, so it only ever decreases.
Every state has a glyph as well as a word, so it reads without colour: ● FIRING, ◐ PENDING,
○ NEAR, ? UNKNOWN.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping

from gputop.core.jobs import jobs_text
from gputop.core.labels import MIG_LABEL, node_of
from gputop.core.units import format_clock, format_duration
from gputop.rules.model import RuleStatus
from gputop.rules.near import CROSSED

__all__ = [
    "STATE_LABELS",
    "compared_text",
    "fate_stale_text",
    "fate_text",
    "fires_in",
    "rule_detail",
    "rule_detail_short",
    "rule_job",
    "rule_line",
    "rule_title",
    "series_name",
]

#: The state column: a glyph and the word, the same width with or without colour.
STATE_LABELS = {
    "firing": "● FIRING",
    "pending": "◐ PENDING",
    "near": "○ NEAR",
    "ok": "  OK",
    "unknown": "? UNKNOWN",
}


def series_name(labels: Mapping[str, str]) -> str:
    """Which series a status is about, in a few words: "GPU 3 @ node-1"."""
    host = node_of(labels)
    if "gpu" in labels:
        mig = f" GI {labels[MIG_LABEL]}" if labels.get(MIG_LABEL) else ""
        return f"GPU {labels['gpu']}{mig}" + (f" @ {host}" if host else "")
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


def compared_text(status: RuleStatus) -> str:
    """The value against its threshold: "91.5 vs > 90", in every form of a detail (never
    "85>90", which reads as a false inequality)."""
    if status.op is not None and status.threshold is not None:
        return f"{_num(status.value)} vs {status.op} {_num(status.threshold)}"
    return _num(status.value) if status.value is not None else ""


def fires_in(status: RuleStatus, now: float | None = None) -> float | None:
    """Pending: seconds until it fires, from its fixed firing time when `now` is given."""
    fires_at = status.fires_at
    if now is not None and fires_at is not None:
        return max(0.0, fires_at - now)
    return status.fires_in_s


def rule_detail(status: RuleStatus, now: float | None = None) -> str:
    """The value against its threshold, and what the state means now: since when it fires,
    how long until it fires, when the trend crosses, or why it cannot be evaluated."""
    compared = compared_text(status)
    if status.state == "firing":
        since = status.firing_since
        when = "" if since is None else f" since {_clock(since, now)}"
        return f"{compared}  firing{when}".strip()
    if status.state == "pending":
        left = fires_in(status, now)
        if left is None:
            return compared
        # due: Prometheus fires it at its next evaluation of the rule
        countdown = "due" if left < 0.5 else f"fires in {format_duration(float(round(left)))}"
        return f"{compared}  {countdown}".strip()
    if status.state == "near":
        eta = status.eta_s
        if status.reason == CROSSED:
            return f"{compared}  crossed since its evaluation"
        if eta is None:
            return compared
        if eta < 1:  # at the threshold already: no countdown worth reading
            return f"{compared}  at the threshold"
        return f"{compared}  trend crosses in {format_duration(eta)}"
    if status.state == "unknown":
        return status.reason or "cannot be evaluated"
    return compared


def rule_detail_short(status: RuleStatus, now: float | None = None) -> str:
    """The detail where space is short, keeping what matters most, the value against its
    threshold worded as in the long form: "88 vs > 85 in 1m30s", "88 vs > 85 since
    11:57:55", "88 vs > 85 eta 1m35s"."""
    if status.state == "unknown":
        return status.reason or "cannot be evaluated"
    compared = compared_text(status)
    tail = ""
    if status.state == "firing" and status.firing_since is not None:
        tail = f" since {_clock(status.firing_since, now)}"
    elif status.state == "pending":
        left = fires_in(status, now)
        if left is not None:
            tail = " due" if left < 0.5 else f" in {format_duration(float(round(left)))}"
    elif status.state == "near" and status.reason == CROSSED:
        tail = " crossed"
    elif status.state == "near" and status.eta_s is not None and status.eta_s >= 1:
        tail = f" eta {format_duration(status.eta_s)}"
    return compared + tail


def fate_text(status: RuleStatus, now: float) -> str:
    """What Alertmanager did with the rule's alert: `SILENCED by alice until 14:00 (2h)`,
    `INHIBITED by GPUDown`, `→ dingtalk-relay`, `NOT IN ALERTMANAGER`; "" when nothing to say.

    Times left are in whole minutes, so the words change at most once a minute.
    """
    fate = status.alertmanager
    if fate is None:
        return ""
    if fate.failing:
        return fate_stale_text(status, now)
    if fate.state == "missing":
        return "NOT IN ALERTMANAGER"
    parts: list[str] = []
    if fate.silences:
        _, who, until = max(fate.silences, key=lambda s: s[2] or 0.0)  # the last to end
        text = f"SILENCED by {who.split('@')[0] or '?'}"  # the user; the host is on the silence
        if until is not None:
            left = max(0.0, until - now)
            clock = format_clock(until, now, seconds=False)
            text += f" until {clock} ({format_duration(60 * max(1, round(left / 60)))})"
        parts.append(text)
    if fate.inhibited_by:
        parts.append("INHIBITED by " + ", ".join(fate.inhibited_by))
    if fate.receivers and fate.state == "active":
        parts.append("→ " + ", ".join(fate.receivers))
    return "  ".join(parts)


def rule_job(status: RuleStatus) -> str:
    """Who is on the rule's GPU: `inference/t2v-worker-1`, `job 4242` ("" when unknown)."""
    return jobs_text(status.who)


def _clock(when: float, now: float | None) -> str:
    """Local clock time, dated when not today (an alert firing for two days says so)."""
    return format_clock(when, time.time() if now is None else now)


def fate_stale_text(status: RuleStatus, now: float, *, short: bool = False) -> str:
    """A row Alertmanager has a say about, while Alertmanager cannot be read: its fate is not
    known now, only as of the last good answer, whose age is given (in steps of 10 s, then
    minutes, so the words change seldom): `? ALERTMANAGER STALE 40s (was → null)`; ""
    for a row it has no say about (not firing, no silence covering it)."""
    fate = status.alertmanager
    if fate is None or not fate.failing or not (status.state == "firing" or fate.touched):
        return ""
    since = fate.stale_since
    if since is None:  # never read: nothing known at all
        return "? AM NOT READ" if short else "? ALERTMANAGER NOT READ YET"
    left = max(0.0, now - since)
    age = format_duration(left // 10 * 10 if left < 60 else left // 60 * 60)
    if short:
        return f"? AM STALE {age}"
    was = fate_text(
        dataclasses.replace(status, alertmanager=dataclasses.replace(fate, failing=False)), now
    )
    return f"? ALERTMANAGER STALE {age}" + (f" (was {was})" if was else "")


def rule_line(status: RuleStatus, now: float | None = None) -> str:
    fate = fate_text(status, time.time() if now is None else now)
    job = rule_job(status)
    title = rule_title(status) + (f" → {job}" if job else "")
    return f"{title}  {rule_detail(status, now)}" + (f"  {fate}" if fate else "")
