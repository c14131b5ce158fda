"""The checks of `gputop rules check`, each with a stable name that can be turned off.

Every check speaks only where it knows: catalogue checks only for the names the catalogue
covers (dcgm-exporter's and the latency histogram's; a `node_*` name is never "unknown"
here), unit checks only when the unit is known, type checks from the catalogue, the project's
counters file or, better, the server's own metadata (for names the server has series of), and
interval checks only when the interval is known. Each finding points at the offending token
itself, and each mistake is reported once per rule. The checks of values, units and joins
are in `valuechecks` and `joins`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from gputop.core.catalogue import (
    DEFAULT_HISTOGRAM,
    HISTOGRAM_SUFFIXES,
    LABEL_FIELDS,
    NOT_METRICS,
    OLD_NAMES,
    dcgm_field,
    in_namespace,
    lookup,
    suggest,
)
from gputop.core.units import format_duration
from gputop.promql.analysis import parse
from gputop.promql.units import Unit, expression_unit, name_unit, unit_of_metric
from gputop.rules.counters import Counters
from gputop.rules.entries import Position, RuleEntry
from gputop.rules.joins import absent_joins
from gputop.rules.rateunits import Per, rate_problems
from gputop.rules.sites import site_position, sites
from gputop.rules.valuechecks import always_holds, never_holds, value_problems

__all__ = [
    "CHECKS",
    "SYNTAX",
    "CheckContext",
    "Finding",
    "check_entry",
    "group_interval",
    "metric_kind",
    "name_problem",
    "record_unit",
]

#: Every warning's check name, with what it finds (README documents each with an example).
CHECKS: dict[str, str] = {
    "unknown-metric": "a dcgm-exporter or latency-histogram name that is not exported",
    "not-a-metric": "a DCGM field selected as a metric that holds text, a record, or a label",
    "old-metric-name": "a dcgm-exporter 1.x name (dcgm_*) for a field renamed since",
    "default-export": "a DCGM field a default dcgm-exporter install does not export",
    "metric-range": "a comparison the metric's range makes impossible, or always true",
    "memory-usage": "DCGM_FI_DEV_MEM_COPY_UTIL (bus busy time) used as memory usage",
    "rate-of-gauge": "rate(), irate() or increase() of a gauge",
    "raw-counter": "a counter compared with a threshold without rate() or increase()",
    "unit-suffix": "a recording rule whose name promises a unit its expression is not in",
    "for-interval": "a `for:` shorter than the group's evaluation interval",
    "rate-time-unit": "a per-second rate compared with a constant the rule's words give per "
    "hour, minute or day; a count within a window with one given per another time unit",
    "value-unit": "an annotation printing {{ $value }} with a unit the value is not in",
    "absent-join": "a join or grouping on a label absent()'s result cannot have",
    "constant-scale": "a field compared with a constant written for another scale",
    "unreachable": "a comparison no value of the field's range, or its slope, can satisfy",
    "no-series": "a selector that selects no series on the Prometheus checked against",
    "ignored-document": "a second YAML document in a rule file, which Prometheus never reads",
    "disable-comment": "a `# gputop: disable=` comment naming no check",
}
#: The name of every error (YAML, structure, PromQL): errors cannot be turned off.
SYNTAX = "syntax"
_DECLARE_COUNTERS = "declare it with --counters FILE or [rules] counters"

_MEM_COPY = "DCGM_FI_DEV_MEM_COPY_UTIL"
_MEMORY_USAGE_FIX = "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) * 100"
# Words that mean memory occupancy (not "memory utilization", which is what MEM_COPY_UTIL is).
_MEMORY_TALK = re.compile(
    r"\b(?:memory|mem|vram|framebuffer|fb)\s*(?:usage|used|use|occupancy|full|pressure|"
    r"consumption|exhaust\w*)\b|\bOOM\b|\bout\s*of\s*memory\b",
    re.IGNORECASE,
)
_RATE_FUNCTIONS = frozenset({"rate", "irate", "increase"})
# Operations a recording rule's name may list without changing its metric's unit.
_UNIT_KEEPING_OPERATIONS = frozenset({"sum", "avg", "min", "max", "last", "topk", "bottomk"})

#: A note is no mistake (shown with --verbose): it never counts towards the exit status.
Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: in a file (`path`, with `line` and `col` when it has a place there), or
    elsewhere (`place`: the server checked against)."""

    path: str | None
    line: int
    col: int
    severity: Severity
    message: str
    check: str = SYNTAX
    rule: str | None = None
    place: str | None = None

    @property
    def where(self) -> str:
        if self.path is None:
            return self.place or ""
        return f"{self.path}:{self.line}:{self.col}" if self.line else self.path

    def __str__(self) -> str:
        return f"{self.where}: {self.severity}: {self.message} [{self.check}]"

    @classmethod
    def at(
        cls,
        position: Position,
        check: str,
        message: str,
        *,
        rule: str | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        if severity is None:
            severity = "error" if check == SYNTAX else "warning"
        return cls(position.path, position.line, position.col, severity, message, check, rule)


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What the checks know beyond one rule."""

    #: The evaluation interval of groups without their own (`--eval-interval`); None: unknown.
    eval_interval_s: float | None = None
    histogram: str = DEFAULT_HISTOGRAM
    #: Series recorded by the checked files, with the unit of each when known.
    recorded: Mapping[str, Unit | None] = field(default_factory=dict)
    #: Series recorded by the checked files that are a rate, or a count within a window.
    recorded_rates: Mapping[str, Per] = field(default_factory=dict)
    #: Metric types as the server's targets declare them (`/api/v1/metadata`).
    types: Mapping[str, str] = field(default_factory=dict)
    #: Metrics the server has series of; None when no server is checked against.
    present: frozenset[str] | None = None
    #: The interval the server evaluates each group at, by group name.
    group_intervals: Mapping[str, float] = field(default_factory=dict)
    #: The fields the project's dcgm-exporter exports; None: a default install's.
    counters: Counters | None = None
    #: The server checked against, for messages.
    server: str | None = None


def metric_kind(metric: str, ctx: CheckContext) -> str | None:
    """counter, gauge, ... as the server declares it for a name it has series of, else as the
    counters file declares it, else as the catalogue knows it; None when unknown."""
    seen = ctx.present is not None and metric in ctx.present
    for suffix in (*HISTOGRAM_SUFFIXES, "_total"):
        stem = metric.removesuffix(suffix)
        if seen and stem != metric and ctx.types.get(stem) in ("histogram", "summary", "counter"):
            return "counter"  # a histogram's or summary's series, an OpenMetrics counter
    if seen and metric in ctx.types:
        return ctx.types[metric]
    declared = ctx.counters.types.get(metric) if ctx.counters else None
    if declared in ("gauge", "counter"):
        return declared
    info = lookup(metric, histogram=ctx.histogram)
    if info is None or info.kind == "unknown":
        return None
    if info.kind == "histogram":
        return "counter" if metric != info.name else "histogram"
    return info.kind


def group_interval(entry: RuleEntry, ctx: CheckContext) -> tuple[float, str] | None:
    """The interval a rule's group is evaluated at, with where that is known from."""
    if entry.group_interval_s:
        return entry.group_interval_s, "the group's interval"
    if entry.group in ctx.group_intervals:
        return ctx.group_intervals[entry.group], f"as {ctx.server or 'the server'} evaluates it"
    if ctx.eval_interval_s:
        return ctx.eval_interval_s, "--eval-interval"
    return None


def record_unit(entry: RuleEntry, ctx: CheckContext) -> Unit | None:
    """The unit of a recording rule's series: its expression's, else its name's."""
    unit = expression_unit(parse(entry.expr), lambda name: _resolve(name, ctx))
    return unit if unit is not None else name_unit(_unit_part(entry.name))


def _resolve(name: str, ctx: CheckContext) -> Unit | None:
    if name in ctx.recorded:
        return ctx.recorded[name]
    return unit_of_metric(name, histogram=ctx.histogram)


def check_entry(entry: RuleEntry, ctx: CheckContext) -> list[Finding]:
    """The warnings of one syntactically valid rule, before any is turned off."""
    out: list[Finding] = []
    reported: set[tuple[str, str]] = set()

    def report(
        check: str, key: str, where: Position, message: str, severity: Severity | None = None
    ) -> None:
        if (check, key) not in reported:
            reported.add((check, key))
            out.append(Finding.at(where, check, message, rule=entry.name, severity=severity))

    all_sites = sites(entry)
    for site in all_sites:
        metric = site.selector.metric
        if metric is None or metric in ctx.recorded:
            continue
        where = site_position(entry, site)
        problem = name_problem(metric, ctx)
        if problem is not None:
            report(problem[0], metric, where, problem[1])
        kind = metric_kind(metric, ctx)
        if site.call in _RATE_FUNCTIONS and kind == "gauge":
            report("rate-of-gauge", metric, where, _rate_of_gauge(site.call, metric, ctx))
        if site.compared is not None and kind == "counter" and site.compared[1] != 0:
            report("raw-counter", metric, where, _raw_counter(metric, site.compared))
        if site.compared is not None and site.exact:
            message = _range_problem(metric, *site.compared, ctx)
            if message is not None:
                report("metric-range", f"{metric}{site.compared}", where, message)
    first = {s.selector.metric: s for s in reversed(all_sites) if s.selector.metric}
    if _MEM_COPY in first and _talks_about_memory_usage(entry):
        report(
            "memory-usage",
            _MEM_COPY,
            site_position(entry, first[_MEM_COPY]),
            f"{_MEM_COPY} is the share of time the memory bus is busy, not memory "
            f"usage; for memory usage (OOM risk) use {_MEMORY_USAGE_FIX}",
        )
    if entry.kind == "record":
        message = _unit_suffix(entry, ctx)
        if message is not None:
            report("unit-suffix", entry.name, entry.name_position or entry.position, message)
    known = group_interval(entry, ctx)
    for_problem = _for_interval(entry, known)
    if for_problem is not None and entry.for_position is not None:
        report("for-interval", "for", entry.for_position, *for_problem)
    found = value_problems(entry, lambda name: _resolve(name, ctx), ctx.histogram)
    found += rate_problems(entry, ctx.recorded_rates)
    for check, key, where, message in (*found, *absent_joins(entry)):
        report(check, key, where, message)
    return out


def _for_interval(entry: RuleEntry, known: tuple[float, str] | None) -> tuple[str, Severity] | None:
    """A `for:` shorter than the evaluation interval (a warning), or not a multiple of it (a
    note: the rule manager rounds it up, which is no mistake)."""
    rule = entry.rule
    if rule is None or known is None or rule.for_s <= 0:
        return None
    interval, source = known
    wait, meant = format_duration(interval), format_duration(rule.for_s)
    if rule.for_s < interval:
        return (
            f"for: {meant} is shorter than the evaluation interval ({wait}, {source}): a rule "
            f"is pending for at least one interval, so it fires {wait} after the first "
            f"evaluation that finds it true, not {meant}"
        ), "warning"
    evaluations = math.ceil(rule.for_s / interval - 1e-9)
    if math.isclose(evaluations * interval, rule.for_s):
        return None
    after = format_duration(evaluations * interval)
    return (
        f"for: {meant} is not a multiple of the evaluation interval ({wait}, {source}): the "
        f"rule fires at the {_ordinal(evaluations + 1)} evaluation that finds it true, "
        f"{after} after the first, not {meant} (the rule manager rounds up; `for: {after}` "
        f"says so)"
    ), "note"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def name_problem(metric: str, ctx: CheckContext) -> tuple[str, str] | None:
    """(check, message) when the catalogue's namespace holds this name and it is wrong."""
    declared = ctx.counters.types.get(metric) if ctx.counters else None
    if metric in OLD_NAMES and declared is None:
        return (
            "old-metric-name",
            f"{metric} is a dcgm-exporter 1.x name; since 2.0 the metric is {OLD_NAMES[metric]}",
        )
    if metric in LABEL_FIELDS or declared == "label":
        return (
            "not-a-metric",
            f"{metric} is a label dcgm-exporter puts on every series, not a metric: "
            f'select it as a label, e.g. DCGM_FI_DEV_GPU_TEMP{{{metric}="..."}}',
        )
    if metric in NOT_METRICS:
        return "not-a-metric", f"{metric} is {NOT_METRICS[metric]}"
    if declared is not None:
        return None  # the project's exporter exports it
    field = dcgm_field(metric)
    if field is not None and not field.numeric:
        return (
            "not-a-metric",
            f"{metric} holds {'text' if field.type == 'string' else 'a binary record'}, "
            f"not a number: dcgm-exporter can export it only as a label on other series",
        )
    info = lookup(metric, histogram=ctx.histogram)
    if info is None:
        if not in_namespace(metric, histogram=ctx.histogram):
            return None
        if ctx.present is not None and metric in ctx.present:
            return None  # the server has it: an exporter's field this catalogue lacks
        guess = suggest(metric, histogram=ctx.histogram)
        if guess in OLD_NAMES:
            guess = f"{guess} (1.x), now {OLD_NAMES[guess]}"
        hint = f"; did you mean {guess}?" if guess else ""
        return "unknown-metric", f"unknown metric {metric}: no exporter exports it{hint}"
    if metric.startswith("DCGM_") and (ctx.counters is not None or not info.default_export):
        if ctx.present is not None and metric in ctx.present:
            return None
        return "default-export", _not_exported(
            metric, info.kind, info.meaning, info.equivalent, ctx
        )
    if metric == info.name and info.kind == "histogram":
        return (
            "unknown-metric",
            f"{metric} is a histogram: select {metric}_bucket, _sum or _count",
        )
    return None


def _not_exported(
    metric: str, kind: str, meaning: str, equivalent: str | None, ctx: CheckContext
) -> str:
    line = f"`{metric}, {kind if kind in ('gauge', 'counter') else 'gauge'}, {meaning}`"
    if ctx.counters is not None:
        files = ", ".join(ctx.counters.paths)
        message = (
            f"{metric} is not in the dcgm-exporter counters file ({files}), so the exporter "
            f"does not export it and this rule never sees it: add {line} to it"
        )
    else:
        message = (
            f"{metric} is not exported by a default dcgm-exporter install, so this rule never "
            f"sees it: add {line} to dcgm-exporter's counters CSV (and {_DECLARE_COUNTERS})"
        )
    needs = re.findall(r"\bDCGM_\w+", equivalent or "")
    if equivalent and (ctx.counters is None or all(map(ctx.counters.exports, needs))):
        message += f", or use {equivalent}"
    return message


def _rate_of_gauge(call: str, metric: str, ctx: CheckContext) -> str:
    info = lookup(metric, histogram=ctx.histogram)
    what = f" ({info.meaning})" if info is not None else ""
    return (
        f"{call}() of {metric}, a gauge{what}: {call}() is meant for counters; "
        f"a gauge's change is delta() or deriv(), how often it changes is changes()"
    )


def _raw_counter(metric: str, compared: tuple[str, float]) -> str:
    op, threshold = compared
    return (
        f"{metric} is a counter, compared raw (`{op} {threshold:g}`): it only grows and "
        f"restarts from 0 with its exporter, so this tests a total since then; compare "
        f"increase({metric}[5m]) or rate({metric}[5m]) instead"
    )


def _unit_part(name: str) -> str:
    """The part of a recording rule's name that carries its unit: the whole name, or the
    metric of `level:metric:operations`, or nothing when the operations (`rate5m`) change
    the metric's unit."""
    parts = name.split(":")
    if len(parts) == 1:
        return name
    operations = re.split(r"[_:]", ":".join(parts[2:])) if len(parts) > 2 else []
    if any(op not in _UNIT_KEEPING_OPERATIONS for op in operations if op):
        return ""
    return parts[1]


def _unit_suffix(entry: RuleEntry, ctx: CheckContext) -> str | None:
    promised = name_unit(_unit_part(entry.name))
    if promised is None:
        return None
    actual = expression_unit(parse(entry.expr), lambda name: _resolve(name, ctx))
    if actual is None or actual.same(promised):
        return None
    source = f"its expression is in {actual}"
    if actual.source:
        source += f", as {actual.source} is"
    if actual.dimension != promised.dimension:
        return f"{entry.name} promises {promised} by its name, but {source}"
    factor = actual.scale / promised.scale
    fix = f"multiply by {factor:.10g}" if factor >= 1 else f"divide by {1 / factor:.10g}"
    return f"{entry.name} promises {promised} by its name, but {source}: {fix}"


def _range_problem(metric: str, op: str, t: float, ctx: CheckContext) -> str | None:
    """Why `metric op t` can never hold, or always holds, given the metric's range."""
    info = lookup(metric, histogram=ctx.histogram)
    if info is None or (info.lo is None and info.hi is None):
        return None
    lo = -float("inf") if info.lo is None else info.lo
    hi = float("inf") if info.hi is None else info.hi
    never = never_holds(op, t, lo, hi)
    always = always_holds(op, t, lo, hi)
    if not never and not always:
        return None
    span = info.range_name or (f"at least {lo:g}" if info.hi is None else f"{lo:g}–{hi:g}")
    what = f"{info.name} is a {span}" if info.range_name else f"{info.name} is {span}"
    if never:
        hint = ""
        if info.range_name == "ratio 0–1" and 1 < t <= 100:
            hint = f" (did you mean {op} {t / 100:g}?)"
        return f"{what}: `{op} {t:g}` can never fire{hint}"
    return f"{what}: `{op} {t:g}` always holds, so the rule fires for every series"


def _talks_about_memory_usage(entry: RuleEntry) -> bool:
    # CamelCase and snake_case names into words: "GPUOutOfMemory" -> "GPU Out Of Memory".
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", entry.name)
    words = words.replace("_", " ")
    texts = [words, *(entry.rule.annotations.values() if entry.rule else ())]
    return any(_MEMORY_TALK.search(t) for t in texts)
