"""Prometheus' rules API (`/api/v1/rules`, `/api/v1/alerts`) as small frozen values, and the
parsing of its JSON: the wire model only; what a rule's status is belongs to
`gputop.rules.prometheus`.

Parsing takes plain JSON values as the API returns them; every unexpected shape raises
`PromMalformed`. RFC 3339 times (Prometheus' and Alertmanager's) are parsed here.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from gputop.core.units import PROM_MAX_DURATION_S
from gputop.sources.httpapi import describe
from gputop.sources.prometheus.api import parse_labels, parse_value
from gputop.sources.prometheus.errors import PromMalformed

__all__ = [
    "PromAlert",
    "PromRule",
    "PromRuleGroup",
    "parse_alerts",
    "parse_rfc3339",
    "parse_rule_groups",
    "parse_timestamp",
]


@dataclass(frozen=True, slots=True)
class PromAlert:
    """One alert of a rule (or of `/api/v1/alerts`)."""

    labels: dict[str, str]
    annotations: dict[str, str]
    state: str  # pending | firing (| inactive on some servers)
    active_at: float | None  # epoch seconds
    value: float | None

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def alert_state(self) -> Literal["firing", "pending", "inactive"]:
        """The state as the rule model knows it (`AlertState`): firing, pending, else inactive."""
        if self.state == "firing":
            return "firing"
        return "pending" if self.state == "pending" else "inactive"


@dataclass(frozen=True, slots=True)
class PromRule:
    """A rule as Prometheus reports it, with its alerts and the group it belongs to."""

    name: str
    query: str
    type: str  # alerting | recording
    state: str | None  # inactive | pending | firing; None for recording rules
    duration_s: float  # the rule's `for:`
    labels: dict[str, str]
    annotations: dict[str, str]
    health: str  # ok | err | unknown
    last_error: str | None
    last_evaluation: float | None
    evaluation_time_s: float | None
    alerts: tuple[PromAlert, ...] = ()
    keep_firing_for_s: float = 0.0
    group: str = ""
    file: str = ""
    interval_s: float = 0.0  # its group's evaluation interval (0: not told)


@dataclass(frozen=True, slots=True)
class PromRuleGroup:
    name: str
    file: str
    interval_s: float
    rules: tuple[PromRule, ...] = field(default_factory=tuple)
    last_evaluation: float | None = None  # the group's last evaluation slot, when reported


_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)\Z"
)


def parse_rfc3339(raw: Any) -> float | None:
    """An RFC 3339 time (nanosecond fractions allowed) as epoch seconds.

    Go's zero time ("0001-01-01T00:00:00Z", meaning never) and absent values give None.
    """
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise PromMalformed(f"time {describe(raw)} is not a string")
    m = _RFC3339.match(raw.strip())
    if m is None:
        raise PromMalformed(f"time {describe(raw)} is not RFC 3339")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if year < 1970:
        return None
    try:
        epoch = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        raise PromMalformed(f"time {describe(raw)} is out of range") from None
    frac = float(m.group(7)) if m.group(7) else 0.0
    zone = m.group(8)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        epoch -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return epoch + frac


def _seconds(raw: Any, what: str) -> float:
    """A duration in seconds (a rule's `for`, a group's interval): 0 when absent; an infinite,
    negative or overflowing one is a malformed answer, not a number to compute with."""
    if raw is None:
        return 0.0
    value = parse_value(raw)
    if value is None:
        return 0.0
    if not 0.0 <= value <= PROM_MAX_DURATION_S:
        raise PromMalformed(f"{what} {describe(raw)} is not a duration in seconds")
    return value


def _str(raw: Any, what: str) -> str:
    if not isinstance(raw, str):
        raise PromMalformed(f"{what} is not a string")
    return raw


def _alert(raw: Any) -> PromAlert:
    if not isinstance(raw, Mapping):
        raise PromMalformed("an alert is not an object")
    value = raw.get("value")
    return PromAlert(
        labels=parse_labels(raw.get("labels")),
        annotations=parse_labels(raw.get("annotations")),
        state=_str(raw.get("state", ""), "alert state"),
        active_at=parse_rfc3339(raw.get("activeAt")),
        value=None if value is None else parse_value(value),
    )


def parse_alerts(data: Any) -> tuple[PromAlert, ...]:
    """The data of /api/v1/alerts."""
    if not isinstance(data, Mapping) or not isinstance(data.get("alerts"), list):
        raise PromMalformed("no alerts list")
    return tuple(_alert(a) for a in data["alerts"])


def _rule(raw: Any, group: str, file: str, interval_s: float = 0.0) -> PromRule:
    if not isinstance(raw, Mapping):
        raise PromMalformed("a rule is not an object")
    kind = _str(raw.get("type", ""), "rule type")
    alerts = raw.get("alerts") or []
    if not isinstance(alerts, list):
        raise PromMalformed("rule alerts are not a list")
    state = raw.get("state")
    last_error = raw.get("lastError") or None
    return PromRule(
        name=_str(raw.get("name"), "rule name"),
        query=_str(raw.get("query"), "rule query"),
        type=kind,
        state=_str(state, "rule state") if state is not None else None,
        duration_s=_seconds(raw.get("duration"), "rule duration"),
        labels=parse_labels(raw.get("labels")),
        annotations=parse_labels(raw.get("annotations")),
        health=_str(raw.get("health", "unknown"), "rule health"),
        last_error=_str(last_error, "rule lastError") if last_error is not None else None,
        last_evaluation=parse_rfc3339(raw.get("lastEvaluation")),
        evaluation_time_s=(
            None
            if raw.get("evaluationTime") is None
            else _seconds(raw.get("evaluationTime"), "rule evaluationTime")
        ),
        alerts=tuple(_alert(a) for a in alerts),
        keep_firing_for_s=_seconds(raw.get("keepFiringFor"), "rule keepFiringFor"),
        group=group,
        file=file,
        interval_s=interval_s,
    )


def parse_rule_groups(data: Any) -> tuple[PromRuleGroup, ...]:
    """The data of /api/v1/rules."""
    if not isinstance(data, Mapping) or not isinstance(data.get("groups"), list):
        raise PromMalformed("no rule groups list")
    groups: list[PromRuleGroup] = []
    for raw in data["groups"]:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("rules"), list):
            raise PromMalformed("a rule group has no rules list")
        name = _str(raw.get("name"), "group name")
        file = _str(raw.get("file", ""), "group file")
        interval = _seconds(raw.get("interval"), "group interval")
        groups.append(
            PromRuleGroup(
                name=name,
                file=file,
                interval_s=interval,
                rules=tuple(_rule(r, name, file, interval) for r in raw["rules"]),
                last_evaluation=parse_timestamp(raw.get("lastEvaluation")),
            )
        )
    return tuple(groups)


def parse_timestamp(text: str | None) -> float | None:
    """Like `parse_rfc3339`, but junk is None: for values shown, never trusted."""
    try:
        return parse_rfc3339(text)
    except PromMalformed:
        return None
