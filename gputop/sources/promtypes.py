"""Results of the Prometheus HTTP API as small frozen values, and the parsing of its JSON.

Values arrive as strings: "NaN" becomes None (missing), "+Inf"/"-Inf" stay float infinities.
Every unexpected shape raises `PromMalformed` (see `gputop.sources.prometheus`).
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gputop.sources.base import SourceError

__all__ = [
    "PromAlert",
    "PromError",
    "PromMalformed",
    "PromRule",
    "PromRuleGroup",
    "PromSample",
    "PromSeries",
    "PromStats",
    "parse_alerts",
    "parse_matrix",
    "parse_rfc3339",
    "parse_rule_groups",
    "parse_value",
    "parse_vector",
]


class PromError(SourceError):
    """Any failure talking to Prometheus; `reason` is one line, free of secrets."""


class PromMalformed(PromError):
    """The answer is not what the API promises: bad JSON, unexpected shape, too big."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"malformed response: {detail}")
        self.detail = detail


@dataclass(slots=True)
class PromStats:
    """What the requests so far cost: count, body bytes, the last one's duration."""

    requests: int = 0
    bytes: int = 0
    errors: int = 0
    last_duration_s: float | None = None

    def copy(self) -> PromStats:
        return PromStats(self.requests, self.bytes, self.errors, self.last_duration_s)


@dataclass(frozen=True, slots=True)
class PromSample:
    """One element of an instant vector (a scalar has no labels)."""

    labels: dict[str, str]
    time: float
    value: float | None


@dataclass(frozen=True, slots=True)
class PromSeries:
    """One series of a range query, oldest point first; None marks a NaN value."""

    labels: dict[str, str]
    points: list[tuple[float, float | None]]


@dataclass(frozen=True, slots=True)
class PromAlert:
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str  # pending | firing (| inactive on some servers)
    active_at: float | None  # epoch seconds
    value: float | None

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


@dataclass(frozen=True, slots=True)
class PromRule:
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


@dataclass(frozen=True, slots=True)
class PromRuleGroup:
    name: str
    file: str
    interval_s: float
    rules: tuple[PromRule, ...] = field(default_factory=tuple)


def parse_value(raw: Any) -> float | None:
    """A sample value string: NaN is missing (None); infinities are kept."""
    if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
        raise PromMalformed(f"sample value {raw!r} is not a number")
    try:
        value = float(raw)
    except ValueError:
        raise PromMalformed(f"sample value {raw!r} is not a number") from None
    return None if math.isnan(value) else value


def _point(raw: Any) -> tuple[float, float | None]:
    if not isinstance(raw, list) or len(raw) != 2:
        raise PromMalformed("a sample is not a [time, value] pair")
    t = parse_value(raw[0])
    if t is None or not math.isfinite(t):
        raise PromMalformed("a sample has no finite time")
    return t, parse_value(raw[1])


def _labels(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
        raise PromMalformed("labels are not a string map")
    return dict(raw)


def _result(data: Any, expected: tuple[str, ...]) -> tuple[str, Any]:
    if not isinstance(data, Mapping):
        raise PromMalformed("no data object")
    kind = data.get("resultType")
    if kind not in expected:
        raise PromMalformed(f"result type {kind!r}, expected {' or '.join(expected)}")
    result = data.get("result")
    if kind in ("vector", "matrix") and not isinstance(result, list):
        raise PromMalformed(f"{kind} result is not a list")
    return kind, result


def parse_vector(data: Any) -> tuple[PromSample, ...]:
    """The data of an instant query: a vector or a scalar."""
    kind, result = _result(data, ("vector", "scalar"))
    if kind == "scalar":
        t, v = _point(result)
        return (PromSample({}, t, v),)
    out: list[PromSample] = []
    for item in result:
        if not isinstance(item, Mapping):
            raise PromMalformed("a vector element is not an object")
        if "value" not in item:
            continue  # a native histogram sample: no float value to show
        t, v = _point(item["value"])
        out.append(PromSample(_labels(item.get("metric")), t, v))
    return tuple(out)


def parse_matrix(data: Any) -> tuple[PromSeries, ...]:
    """The data of a range query."""
    _, result = _result(data, ("matrix",))
    out: list[PromSeries] = []
    for item in result:
        if not isinstance(item, Mapping):
            raise PromMalformed("a matrix element is not an object")
        values = item.get("values", [])
        if not isinstance(values, list):
            raise PromMalformed("series values are not a list")
        out.append(PromSeries(_labels(item.get("metric")), [_point(p) for p in values]))
    return tuple(out)


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
        raise PromMalformed(f"time {raw!r} is not a string")
    m = _RFC3339.match(raw.strip())
    if m is None:
        raise PromMalformed(f"time {raw!r} is not RFC 3339")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if year < 1970:
        return None
    try:
        epoch = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        raise PromMalformed(f"time {raw!r} is out of range") from None
    frac = float(m.group(7)) if m.group(7) else 0.0
    zone = m.group(8)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        epoch -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return epoch + frac


def _float(raw: Any, default: float = 0.0) -> float:
    if raw is None:
        return default
    value = parse_value(raw)
    return default if value is None else value


def _str(raw: Any, what: str) -> str:
    if not isinstance(raw, str):
        raise PromMalformed(f"{what} is not a string")
    return raw


def _alert(raw: Any) -> PromAlert:
    if not isinstance(raw, Mapping):
        raise PromMalformed("an alert is not an object")
    value = raw.get("value")
    return PromAlert(
        labels=_labels(raw.get("labels")),
        annotations=_labels(raw.get("annotations")),
        state=_str(raw.get("state", ""), "alert state"),
        active_at=parse_rfc3339(raw.get("activeAt")),
        value=None if value is None else parse_value(value),
    )


def parse_alerts(data: Any) -> tuple[PromAlert, ...]:
    """The data of /api/v1/alerts."""
    if not isinstance(data, Mapping) or not isinstance(data.get("alerts"), list):
        raise PromMalformed("no alerts list")
    return tuple(_alert(a) for a in data["alerts"])


def _rule(raw: Any) -> PromRule:
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
        duration_s=_float(raw.get("duration")),
        labels=_labels(raw.get("labels")),
        annotations=_labels(raw.get("annotations")),
        health=_str(raw.get("health", "unknown"), "rule health"),
        last_error=_str(last_error, "rule lastError") if last_error is not None else None,
        last_evaluation=parse_rfc3339(raw.get("lastEvaluation")),
        evaluation_time_s=(
            None if raw.get("evaluationTime") is None else _float(raw.get("evaluationTime"))
        ),
        alerts=tuple(_alert(a) for a in alerts),
        keep_firing_for_s=_float(raw.get("keepFiringFor")),
    )


def parse_rule_groups(data: Any) -> tuple[PromRuleGroup, ...]:
    """The data of /api/v1/rules."""
    if not isinstance(data, Mapping) or not isinstance(data.get("groups"), list):
        raise PromMalformed("no rule groups list")
    groups: list[PromRuleGroup] = []
    for raw in data["groups"]:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("rules"), list):
            raise PromMalformed("a rule group has no rules list")
        groups.append(
            PromRuleGroup(
                name=_str(raw.get("name"), "group name"),
                file=_str(raw.get("file", ""), "group file"),
                interval_s=_float(raw.get("interval")),
                rules=tuple(_rule(r) for r in raw["rules"]),
            )
        )
    return tuple(groups)
