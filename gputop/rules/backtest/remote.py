"""The backtest against a Prometheus-compatible engine: its range queries, its retention,
the rules it has loaded and when it evaluates them, and the recorded series it lacks.

- Retention: Prometheus says it in `/api/v1/status/runtimeinfo` (`storageRetention`, e.g.
  "15d" or "15d or 10GiB"); VictoriaMetrics publishes its `-retentionPeriod` flag on its own
  `/metrics` (a number of 31-day months, or with an h/d/w/y suffix). A range that starts
  before it is refused; where neither is known, nothing is checked.
- Rules: with no rule file, the alerting and recording rules `/api/v1/rules` lists, with each
  group's interval; each group's evaluation offset comes from its rules' `lastEvaluation`
  (see `grid`), also for rule files whose groups the server has loaded under the same name.
- Recorded series: a recording rule of the backtested files whose series the engine does not
  hold over the whole range (a rule not deployed yet, or deployed lately) is substituted into
  every expression that reads it (`rewrite`), so its history is computed from the raw series.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gputop.core.units import parse_prometheus_duration
from gputop.promql.analysis import PromQLSyntaxError, analyse
from gputop.rules.backtest.grid import Grid
from gputop.rules.backtest.history import gap_query
from gputop.rules.backtest.rewrite import RecordSource, RewriteError, substitute_records
from gputop.rules.model import RecordDef, RuleDef
from gputop.rules.prometheus import rule_def
from gputop.sources.outside import UNEXPECTED, load_json
from gputop.sources.prometheus import PrometheusClient
from gputop.sources.prometheus.api import PromSeries
from gputop.sources.prometheus.errors import PromError
from gputop.sources.prometheus.rulesapi import PromRuleGroup

__all__ = [
    "PRESENCE_POINTS",
    "RecordRule",
    "RemoteEngine",
    "ServerRules",
    "group_offsets",
    "prometheus_retention_s",
    "retention_s",
    "rules_of",
    "server_rules",
    "substitutes",
    "victoria_retention_s",
]

#: Points of the query that checks a recorded series' history.
PRESENCE_POINTS = 200
_VM_MONTH_S = 31 * 86400.0
_VM_FLAG = re.compile(r'^flag\{name="retentionPeriod", value="([^"]*)"', re.MULTILINE)
_VM_UNITS = {"h": 3600.0, "d": 86400.0, "w": 7 * 86400.0, "y": 365 * 86400.0}


@dataclass(frozen=True, slots=True)
class RecordRule:
    """A recording rule and its group's evaluation interval (None: the default)."""

    record: RecordDef
    interval_s: float | None = None


@dataclass(frozen=True, slots=True)
class ServerRules:
    alerts: tuple[RuleDef, ...]
    records: tuple[RecordRule, ...]
    offsets: Mapping[str, float]  # group name → evaluation offset in its interval


class RemoteEngine:
    """Range queries against the engine behind `client`."""

    def __init__(self, client: PrometheusClient) -> None:
        self.client = client

    async def query_range(
        self, expr: str, start: float, end: float, step: float
    ) -> Sequence[PromSeries]:
        # each point at its evaluation's instant, a group's slot (never moved onto the step)
        return await self.client.query_range(expr, start, end, step, exact=True)

    def presence_query(self, metrics: Sequence[str]) -> str | None:
        return gap_query(metrics)


async def retention_s(client: PrometheusClient) -> float | None:
    """How far back the engine keeps data, when it says."""
    with contextlib.suppress(PromError):
        found = prometheus_retention_s(await client.page("api/v1/status/runtimeinfo"))
        if found is not None:
            return found
    with contextlib.suppress(PromError):
        return victoria_retention_s(await client.page("metrics"))
    return None


def prometheus_retention_s(body: str) -> float | None:
    """The `storageRetention` of Prometheus' runtime information ("15d", "15d or 10GiB"), in
    seconds; None for any other answer."""
    try:
        raw = load_json(body)["data"]["storageRetention"]
    except UNEXPECTED:
        return None
    if not isinstance(raw, str):
        return None
    for word in raw.split():
        with contextlib.suppress(ValueError):
            seconds = parse_prometheus_duration(word)
            if seconds > 0:
                return seconds
    return None


def victoria_retention_s(metrics: str) -> float | None:
    """VictoriaMetrics' `-retentionPeriod` flag, from its own `/metrics`, in seconds: a number
    of 31-day months, or with an h/d/w/y suffix; None where it is not said."""
    found = _VM_FLAG.search(metrics)
    if found is None:
        return None
    text = found.group(1).strip()
    unit = _VM_UNITS.get(text[-1:]) if text else None
    number = text[:-1] if unit is not None else text
    try:
        value = float(number)
    except ValueError:
        return None
    seconds = value * (unit if unit is not None else _VM_MONTH_S)
    return seconds if math.isfinite(seconds) and seconds > 0 else None


async def server_rules(client: PrometheusClient) -> ServerRules:
    """The rules the engine (or the ruler behind it) has loaded."""
    return rules_of(await client.rules(type=None))


def rules_of(groups: Sequence[PromRuleGroup]) -> ServerRules:
    """The alerting and recording rules of `/api/v1/rules` groups, and their offsets."""
    alerts: list[RuleDef] = []
    records: list[RecordRule] = []
    for group in groups:
        interval = group.interval_s if group.interval_s > 0 else None
        for rule in group.rules:
            if rule.type == "alerting":
                alerts.append(dataclasses.replace(rule_def(rule), interval_s=interval))
            elif rule.type == "recording":
                record = RecordDef(rule.name, rule.query, rule.labels, group=group.name)
                records.append(RecordRule(record, interval))
    return ServerRules(tuple(alerts), tuple(records), _offsets(groups))


async def group_offsets(client: PrometheusClient) -> dict[str, float]:
    """Each loaded group's evaluation offset; empty when the server lists no rules."""
    with contextlib.suppress(PromError):
        return _offsets(await client.rules(type=None))
    return {}


def _offsets(groups: Sequence[PromRuleGroup]) -> dict[str, float]:
    """The group's own `lastEvaluation` is its slot; a rule's is when that rule's turn came
    (later, by the rules before it), so the earliest rule's stands in only without it."""
    out: dict[str, float] = {}
    for group in groups:
        evaluated = [r.last_evaluation for r in group.rules if r.last_evaluation]
        slot = group.last_evaluation or min(evaluated, default=None)
        if group.interval_s > 0 and slot and group.name not in out:
            out[group.name] = round(slot % group.interval_s, 3)
    return out


async def substitutes(
    client: PrometheusClient,
    rules: Sequence[RuleDef],
    records: Sequence[RecordRule],
    grid: Grid,
    *,
    default_interval_s: float,
) -> dict[str, RecordSource]:
    """The recording rules the alerts read whose series the engine lacks somewhere in `grid`,
    each with its own expression already free of the others."""
    by_name = {r.record.name: r for r in records}
    used = _recorded_names([r.expr for r in rules], by_name)
    coarse = grid.coarse(PRESENCE_POINTS)
    lacking: list[str] = []
    for name in sorted(used):
        found = await client.query_range(
            f"count({name})", coarse.time(0), coarse.time(coarse.count - 1), coarse.step_s
        )
        points = sum(len(s) for s in found)
        if points < coarse.count:
            lacking.append(name)
    out: dict[str, RecordSource] = {}
    pending = [by_name[name] for name in lacking]
    for _ in range(len(pending) + 1):  # recording rules may read each other
        left = []
        for rr in pending:
            inner = _recorded_names([rr.record.expr], by_name) & set(lacking)
            if inner - set(out):
                left.append(rr)
                continue
            with contextlib.suppress(RewriteError, PromQLSyntaxError):
                out[rr.record.name] = RecordSource(
                    substitute_records(rr.record.expr, out),
                    rr.record.labels,
                    rr.interval_s or default_interval_s,
                )
        pending = left
    return out


def _recorded_names(exprs: Sequence[str], records: Mapping[str, RecordRule]) -> set[str]:
    """Recorded series read by the expressions, directly or through other recording rules."""
    found: set[str] = set()
    todo = list(exprs)
    while todo:
        try:
            metrics = analyse(todo.pop()).metrics
        except PromQLSyntaxError:
            continue
        for name in metrics:
            if name in records and name not in found:
                found.add(name)
                todo.append(records[name].record.expr)
    return found
