"""Prometheus' rules and alerts: the one model of `/api/v1/rules` and `/api/v1/alerts`, and
the statuses worked out from it.

Firing and pending come from Prometheus' own alert states; near/ok are worked out from the
recent series of each rule's compared query (one range query per rule, for all its series,
ending at the rule's last evaluation and stepping by its group's interval), so gputop never
disagrees with Prometheus about what fires, and the value shown is the one the rule was
evaluated on. Parsing takes plain JSON values as the API returns them; every unexpected shape
raises `PromMalformed`.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gputop.core.labels import LabelKey, label_key
from gputop.promql.analysis import Analysis, PromQLSyntaxError
from gputop.rules.model import (
    DEFAULT_MARGIN,
    MARGIN_ANNOTATION,
    AlertState,
    RuleDef,
    RuleStatus,
    ValueHistory,
    parse_margin,
    series_status,
    sort_statuses,
    unknown_status,
)
from gputop.sources.promtypes import PromMalformed, describe, parse_labels, parse_value

__all__ = [
    "PromAlert",
    "PromRule",
    "PromRuleGroup",
    "QueryError",
    "QueryValues",
    "alerting_rules",
    "compared_queries",
    "compared_windows",
    "parse_alerts",
    "parse_rfc3339",
    "parse_rule_groups",
    "parse_timestamp",
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
    def alert_state(self) -> AlertState:
        """The state as the rule model knows it: firing, pending, else inactive."""
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

    @property
    def rule(self) -> RuleDef:
        """The rule as written, for analysis and status."""
        margin: float | None = None
        if MARGIN_ANNOTATION in self.annotations:
            try:
                margin = parse_margin(self.annotations[MARGIN_ANNOTATION])
            except ValueError:
                margin = None  # a bad override falls back to the global margin
        return RuleDef(
            name=self.name,
            expr=self.query,
            for_s=self.duration_s,
            keep_firing_for_s=self.keep_firing_for_s,
            labels=self.labels,
            annotations=self.annotations,
            severity=self.labels.get("severity"),
            source=self.file or None,
            margin=margin,
            group=self.group or None,
        )


@dataclass(frozen=True, slots=True)
class PromRuleGroup:
    name: str
    file: str
    interval_s: float
    rules: tuple[PromRule, ...] = field(default_factory=tuple)


# ---- parsing --------------------------------------------------------------------------------

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


#: The longest duration Prometheus can hold (Go's time.Duration): about 292 years.
MAX_DURATION_S = 2**63 / 1e9


def _seconds(raw: Any, what: str) -> float:
    """A duration in seconds (a rule's `for`, a group's interval): 0 when absent; an infinite,
    negative or overflowing one is a malformed answer, not a number to compute with."""
    if raw is None:
        return 0.0
    value = parse_value(raw)
    if value is None:
        return 0.0
    if not 0.0 <= value <= MAX_DURATION_S:
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
            )
        )
    return tuple(groups)


def parse_timestamp(text: str | None) -> float | None:
    """Like `parse_rfc3339`, but junk is None: for values shown, never trusted."""
    try:
        return parse_rfc3339(text)
    except PromMalformed:
        return None


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
        rule = item.rule if isinstance(item, PromRule) else item
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
        analysis, _ = _analysis(prule.rule)
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
    rule = prule.rule
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
