"""Statuses from Prometheus: `/api/v1/rules` data plus the values of each compared query.

Firing and pending come from Prometheus' own alert states; near/ok are worked out from the
value of each rule's compared query (one instant query per rule, for all its series), so
gputop never disagrees with Prometheus about what fires. Input is plain dicts, as the API
returns them, so this module needs no HTTP client.
"""

from __future__ import annotations

import re
from calendar import timegm
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gputop.core.promql import Analysis, PromQLSyntaxError
from gputop.core.rules import (
    DEFAULT_MARGIN,
    MARGIN_ANNOTATION,
    AlertState,
    LabelKey,
    RuleDef,
    RuleStatus,
    ValueHistory,
    label_key,
    parse_margin,
    series_status,
    sort_statuses,
    unknown_status,
)

__all__ = [
    "PromAlert",
    "PromRule",
    "QueryError",
    "QueryValues",
    "alerting_rules",
    "compared_queries",
    "parse_timestamp",
    "rule_from_api",
    "statuses_from_prometheus",
    "vector_values",
]

_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:?\d\d)$"
)


@dataclass(frozen=True, slots=True)
class QueryError:
    """A compared query that failed; its rule is shown as unknown with this message."""

    message: str


#: The result of one compared query: value per series, or why there is none.
QueryValues = Mapping[LabelKey, float] | QueryError


@dataclass(frozen=True, slots=True)
class PromAlert:
    labels: Mapping[str, str]
    state: AlertState
    active_at: float | None
    value: float | None


@dataclass(frozen=True, slots=True)
class PromRule:
    """An alerting rule as Prometheus reports it, with its active alerts."""

    rule: RuleDef
    health: str = "ok"
    last_error: str | None = None
    alerts: tuple[PromAlert, ...] = field(default_factory=tuple)


def parse_timestamp(text: str | None) -> float | None:
    """RFC 3339 time (nanosecond fractions allowed) to epoch seconds; None if absent/zero."""
    if not text:
        return None
    m = _TIMESTAMP.match(text.strip())
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if year <= 1:  # Go's zero time
        return None
    t = float(timegm((year, month, day, hour, minute, second, 0, 0, 0)))
    if m.group(7):
        t += float(m.group(7))
    zone = m.group(8)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        t -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return t


def rule_from_api(rule: Mapping[str, Any], group: Mapping[str, Any] | None = None) -> RuleDef:
    """A RuleDef from one alerting rule of `/api/v1/rules`."""
    labels = {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (rule.get("annotations") or {}).items()}
    margin: float | None = None
    if MARGIN_ANNOTATION in annotations:
        try:
            margin = parse_margin(annotations[MARGIN_ANNOTATION])
        except ValueError:
            margin = None  # a bad override falls back to the global margin
    group = group or {}
    return RuleDef(
        name=str(rule.get("name", "")),
        expr=str(rule.get("query", "")),
        for_s=_number(rule.get("duration")) or 0.0,
        keep_firing_for_s=_number(rule.get("keepFiringFor")) or 0.0,
        labels=labels,
        annotations=annotations,
        severity=labels.get("severity"),
        source=str(group["file"]) if group.get("file") else None,
        margin=margin,
        group=str(group["name"]) if group.get("name") else None,
    )


def alerting_rules(data: Mapping[str, Any]) -> list[PromRule]:
    """The alerting rules of an `/api/v1/rules` answer (the whole body or its `data`)."""
    body = data.get("data", data) if isinstance(data.get("data"), Mapping) else data
    out: list[PromRule] = []
    for group in body.get("groups") or ():
        for rule in group.get("rules") or ():
            if rule.get("type", "alerting") != "alerting":
                continue
            alerts = tuple(
                PromAlert(
                    labels={str(k): str(v) for k, v in (a.get("labels") or {}).items()},
                    state=a.get("state") if a.get("state") in ("firing", "pending") else "inactive",
                    active_at=parse_timestamp(a.get("activeAt")),
                    value=_number(a.get("value")),
                )
                for a in rule.get("alerts") or ()
            )
            out.append(
                PromRule(
                    rule=rule_from_api(rule, group),
                    health=str(rule.get("health") or "ok"),
                    last_error=rule.get("lastError") or None,
                    alerts=alerts,
                )
            )
    return out


def compared_queries(rules: Iterable[PromRule | RuleDef]) -> list[str]:
    """The compared queries to ask, one per rule, without repeats (rules sharing one)."""
    out: dict[str, None] = {}
    for item in rules:
        rule = item.rule if isinstance(item, PromRule) else item
        analysis, _ = _analysis(rule)
        if analysis.comparison is not None:
            out[analysis.comparison.query] = None
    return list(out)


def vector_values(result: Sequence[Mapping[str, Any]]) -> dict[LabelKey, float]:
    """An instant query's vector result (`data.result`) as labels → value."""
    out: dict[LabelKey, float] = {}
    for sample in result:
        value = sample.get("value") or (None, None)
        number = _number(value[1] if len(value) > 1 else None)
        if number is not None:
            out[label_key(sample.get("metric") or {}, drop=())] = number
    return out


def statuses_from_prometheus(
    rules: Mapping[str, Any] | Sequence[PromRule],
    values: Mapping[str, QueryValues],
    *,
    now: float,
    margin: float = DEFAULT_MARGIN,
    history: ValueHistory | None = None,
) -> list[RuleStatus]:
    """Statuses of every alerting rule, worst first.

    `rules` is the `/api/v1/rules` answer (or `alerting_rules` of it); `values` maps each
    compared query (see `compared_queries`) to its values or a QueryError. `history`, when
    given, records each compared value and supplies the trend and sparkline.
    """
    prom_rules = alerting_rules(rules) if isinstance(rules, Mapping) else list(rules)
    out: list[RuleStatus] = []
    for prule in prom_rules:
        out.extend(_rule_statuses(prule, values, now=now, margin=margin, history=history))
    if history is not None:
        history.prune(now)
    return sort_statuses(out)


def _rule_statuses(
    prule: PromRule,
    values: Mapping[str, QueryValues],
    *,
    now: float,
    margin: float,
    history: ValueHistory | None,
) -> list[RuleStatus]:
    rule = prule.rule
    analysis, analysis_error = _analysis(rule)
    comparison = analysis.comparison
    own = {"alertname", *rule.labels}  # labels the rule adds: not part of a series' identity
    alerts = {label_key(a.labels, drop=own): a for a in prule.alerts if a.state != "inactive"}
    found = values.get(comparison.query) if comparison is not None else None
    query_error = found.message if isinstance(found, QueryError) else None
    series = {} if prule.health == "err" or not isinstance(found, Mapping) else found

    out: list[RuleStatus] = []
    seen: set[LabelKey] = set()
    for key, value in series.items():
        ident = tuple((k, v) for k, v in key if k not in own and k != "__name__")
        if ident in seen:
            continue
        seen.add(ident)
        alert = alerts.get(ident)
        points: list[tuple[float, float]] = []
        if history is not None:
            hkey = (rule.group, rule.name, ident)
            history.record(hkey, now, value)
            points = history.points(hkey)
        out.append(
            series_status(
                rule,
                alert.state if alert else "inactive",
                now=now,
                value=value,
                labels=dict(ident),
                active_at=alert.active_at if alert else None,
                margin=margin,
                points=points,
                analysis=analysis,
            )
        )
    for ident, alert in alerts.items():
        if ident not in seen:
            out.append(
                series_status(
                    rule,
                    alert.state,
                    now=now,
                    value=alert.value,
                    labels=dict(ident),
                    active_at=alert.active_at,
                    margin=margin,
                    analysis=analysis,
                )
            )
    if prule.health == "err":
        out.append(unknown_status(rule, prule.last_error or "rule evaluation failed"))
    elif not out:
        out.append(_empty_status(rule, analysis, analysis_error, query_error, found, now))
    return out


def _empty_status(
    rule: RuleDef,
    analysis: Analysis,
    analysis_error: str | None,
    query_error: str | None,
    found: QueryValues | None,
    now: float,
) -> RuleStatus:
    """The one status of a rule with no alert and no series to show."""
    comparison = analysis.comparison
    if query_error is not None:
        return unknown_status(rule, f"query failed: {query_error}")
    if analysis_error is not None:
        return unknown_status(rule, f"cannot analyse the expression: {analysis_error}")
    if comparison is None:
        return series_status(rule, "inactive", now=now, analysis=analysis)
    if found is None:
        return unknown_status(rule, f"not queried: {comparison.query}")
    return unknown_status(rule, f"no data: {comparison.query} returned no series")


def _analysis(rule: RuleDef) -> tuple[Analysis, str | None]:
    """The rule's analysis; a query this parser cannot read still shows Prometheus' state."""
    try:
        return rule.analysis, None
    except PromQLSyntaxError as exc:
        return Analysis(expr=rule.expr, comparisons=(), selectors=()), str(exc)


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
