"""Prometheus' rules and alerts: the statuses worked out from its rules API (whose wire model
is `gputop.sources.prometheus.rulesapi`).

Firing and pending come from Prometheus' own alert states; near/ok are worked out from the
recent series of each rule's compared query (one range query per rule, for all its series,
ending at the rule's last evaluation and stepping by its group's interval), so gputop never
disagrees with Prometheus about what fires, and the value shown is the one the rule was
evaluated on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gputop.core.labels import LabelKey, label_key
from gputop.promql.analysis import Analysis, PromQLSyntaxError
from gputop.rules.model import (
    DEFAULT_MARGIN,
    MARGIN_ANNOTATION,
    RuleDef,
    RuleStatus,
    ValueHistory,
    parse_margin,
    series_status,
    sort_statuses,
    unknown_status,
)
from gputop.sources.prometheus.rulesapi import PromAlert, PromRule, PromRuleGroup, parse_rule_groups

__all__ = [
    "QueryError",
    "QueryValues",
    "alerting_rules",
    "compared_queries",
    "compared_windows",
    "rule_def",
    "statuses_from_prometheus",
    "vector_values",
]


@dataclass(frozen=True, slots=True)
class QueryError:
    """A compared query that failed; its rule is shown as unknown with this message."""

    message: str


Point = tuple[float, float]
#: The result of one compared query: per series its value, or its recent series (oldest
#: first, the last point the value evaluated), or why there is none.
QueryValues = Mapping[LabelKey, float] | Mapping[LabelKey, Sequence[Point]] | QueryError
#: A rule group evaluated without a known interval is read at this step.
DEFAULT_STEP_S = 60.0


def rule_def(prule: PromRule) -> RuleDef:
    """A rule as Prometheus reports it, as written: for analysis and status."""
    margin: float | None = None
    if MARGIN_ANNOTATION in prule.annotations:
        try:
            margin = parse_margin(prule.annotations[MARGIN_ANNOTATION])
        except ValueError:
            margin = None  # a bad override falls back to the global margin
    return RuleDef(
        name=prule.name,
        expr=prule.query,
        for_s=prule.duration_s,
        keep_firing_for_s=prule.keep_firing_for_s,
        labels=prule.labels,
        annotations=prule.annotations,
        severity=prule.labels.get("severity"),
        source=prule.file or None,
        margin=margin,
        group=prule.group or None,
    )


def alerting_rules(
    rules: Mapping[str, Any] | Iterable[PromRuleGroup] | Iterable[PromRule],
) -> list[PromRule]:
    """The alerting rules of an `/api/v1/rules` answer (the whole body, its `data`, its
    parsed groups, or rules already picked out)."""
    if isinstance(rules, Mapping):
        data = rules.get("data") if isinstance(rules.get("data"), Mapping) else rules
        rules = parse_rule_groups(data)
    out: list[PromRule] = []
    for item in rules:
        members = item.rules if isinstance(item, PromRuleGroup) else (item,)
        out.extend(r for r in members if r.type == "alerting")
    return out


def compared_queries(rules: Iterable[PromRule | RuleDef]) -> list[str]:
    """The compared queries to ask, one per rule, without repeats (rules sharing one)."""
    out: dict[str, None] = {}
    for item in rules:
        rule = rule_def(item) if isinstance(item, PromRule) else item
        analysis, _ = _analysis(rule)
        if analysis.comparison is not None:
            out[analysis.comparison.query] = None
    return list(out)


def compared_windows(
    rules: Iterable[PromRule], *, now: float, lag_s: float = 0.0
) -> dict[str, tuple[float, float]]:
    """Compared query → (end, step) of the range its recent series is read from: ending at
    its rule's last evaluation (now, when not told), stepping by the group's interval; `lag_s`
    earlier on an engine that shows its data that late (VictoriaMetrics: its rules' queries
    see the data as of then too). Rules sharing a query are read at the latest of their
    evaluations."""
    out: dict[str, tuple[float, float]] = {}
    lag_s = lag_s if lag_s >= 1.0 else 0.0  # a request's own time is no lag
    for prule in rules:
        analysis, _ = _analysis(rule_def(prule))
        if analysis.comparison is None:
            continue
        query = analysis.comparison.query
        end = min(prule.last_evaluation or now, now) - lag_s
        step = prule.interval_s or DEFAULT_STEP_S
        held = out.get(query)
        out[query] = (end, step) if held is None else (max(held[0], end), min(held[1], step))
    return out


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
    rules: Mapping[str, Any] | Sequence[PromRuleGroup] | Sequence[PromRule],
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
    prom_rules = alerting_rules(rules)
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
    rule = rule_def(prule)
    analysis, analysis_error = _analysis(rule)
    comparison = analysis.comparison
    own = {"alertname", *rule.labels}  # labels the rule adds: not part of a series' identity
    found = values.get(comparison.query) if comparison is not None else None
    query_error = found.message if isinstance(found, QueryError) else None
    series = {} if prule.health == "err" or not isinstance(found, Mapping) else found
    idents: dict[LabelKey, list[Point]] = {}
    for key, got in series.items():
        ident = tuple((k, v) for k, v in key if k not in own and k != "__name__")
        points = [(now, got)] if isinstance(got, (int, float)) else list(got)
        if points:
            idents.setdefault(ident, points)
    alerts = _alerts_by_series(prule, own, idents)

    out: list[RuleStatus] = []
    seen: set[LabelKey] = set()
    for ident, points in idents.items():
        seen.add(ident)
        alert = alerts.get(ident)
        shown: list[float] | None = None
        if history is not None:
            hkey = (rule.group, rule.name, ident)
            for t, v in points:
                history.record(hkey, t, v)
            shown = [v for _, v in history.points(hkey)]
        out.append(
            series_status(
                rule,
                alert.alert_state if alert else "inactive",
                now=now,
                labels=dict(ident),
                active_at=alert.active_at if alert else None,
                margin=margin,
                points=points,
                shown=shown,
                step_s=max(prule.interval_s, history.spacing_s) if history else None,
                analysis=analysis,
            )
        )
    for ident, alert in alerts.items():
        if ident not in seen:
            out.append(
                series_status(
                    rule,
                    alert.alert_state,
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


def _alerts_by_series(
    prule: PromRule, own: set[str], idents: Mapping[LabelKey, object]
) -> dict[LabelKey, PromAlert]:
    """Each pending or firing alert under the identity of the series it is about.

    Rulers add labels of their own to alerts (vmalert `alertgroup`, Thanos Ruler's and Mimir's
    external labels), which the compared query's series do not carry: an alert is matched to
    the series whose labels it holds, ignoring the rest. An alert with no such series keeps
    its labels, less those seen added to the rule's matched alerts and vmalert's group label.
    """
    names = {k for ident in idents for k, _ in ident}
    out: dict[LabelKey, PromAlert] = {}
    added: set[str] = set()
    unmatched: list[tuple[LabelKey, PromAlert]] = []
    for alert in prule.alerts:
        if alert.alert_state == "inactive":
            continue
        ident = label_key(alert.labels, drop=own)
        match = ident if ident in idents else tuple((k, v) for k, v in ident if k in names)
        if match not in idents:
            unmatched.append((ident, alert))
            continue
        added.update(k for k, _ in ident if k not in names)
        out[match] = _worse(out.get(match), alert)
    for ident, alert in unmatched:
        key = tuple(
            (k, v)
            for k, v in ident
            if k not in added and not (k == "alertgroup" and v == prule.group)
        )
        out[key] = _worse(out.get(key), alert)
    return out


def _worse(held: PromAlert | None, alert: PromAlert) -> PromAlert:
    """Of two alerts about one series (a ruler run twice), the firing one."""
    if held is None or (alert.alert_state == "firing" and held.alert_state != "firing"):
        return alert
    return held


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
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except ValueError:
        return None
