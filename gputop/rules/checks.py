"""The checks of `gputop rules check`, each with a stable name that can be turned off.

Every check speaks only where it knows: catalogue checks only for the names the catalogue
covers (dcgm-exporter's and the latency histogram's; a `node_*` name is never "unknown"
here), unit checks only when the unit is known, type checks from the catalogue or, better,
from the server's own metadata. Each finding points at the offending token itself, and each
mistake is reported once per rule.
"""

from __future__ import annotations

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
    in_namespace,
    lookup,
    suggest,
)
from gputop.core.units import format_duration
from gputop.promql.analysis import parse
from gputop.promql.units import Unit, expression_unit, name_unit, unit_of_metric
from gputop.rules.entries import Position, RuleEntry
from gputop.rules.sites import site_position, sites

__all__ = [
    "CHECKS",
    "DEFAULT_EVAL_INTERVAL_S",
    "SYNTAX",
    "CheckContext",
    "Finding",
    "check_entry",
    "metric_kind",
    "record_unit",
]

#: Every warning's check name, with what it finds (README documents each with an example).
CHECKS: dict[str, str] = {
    "unknown-metric": "a dcgm-exporter or latency-histogram name that is not exported",
    "old-metric-name": "a dcgm-exporter 1.x name (dcgm_*) for a field renamed since",
    "default-export": "a DCGM field a default dcgm-exporter install does not export",
    "metric-range": "a comparison the metric's range makes impossible, or always true",
    "memory-usage": "DCGM_FI_DEV_MEM_COPY_UTIL (bus busy time) used as memory usage",
    "rate-of-gauge": "rate(), irate() or increase() of a gauge",
    "raw-counter": "a counter compared with a threshold without rate() or increase()",
    "unit-suffix": "a recording rule whose name promises a unit its expression is not in",
    "for-interval": "a `for:` shorter than two evaluation intervals",
    "no-series": "a selector that selects no series on the Prometheus checked against",
    "ignored-document": "a second YAML document in a rule file, which Prometheus never reads",
    "disable-comment": "a `# gputop: disable=` comment naming no check",
}
#: The name of every error (YAML, structure, PromQL): errors cannot be turned off.
SYNTAX = "syntax"
#: Prometheus' default `evaluation_interval`.
DEFAULT_EVAL_INTERVAL_S = 60.0

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

Severity = Literal["error", "warning"]


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
        cls, position: Position, check: str, message: str, *, rule: str | None = None
    ) -> Finding:
        severity: Severity = "error" if check == SYNTAX else "warning"
        return cls(position.path, position.line, position.col, severity, message, check, rule)


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What the checks know beyond one rule."""

    eval_interval_s: float = DEFAULT_EVAL_INTERVAL_S
    histogram: str = DEFAULT_HISTOGRAM
    #: Series recorded by the checked files, with the unit of each when known.
    recorded: Mapping[str, Unit | None] = field(default_factory=dict)
    #: Metric types as the server's targets declare them (`/api/v1/metadata`).
    types: Mapping[str, str] = field(default_factory=dict)
    #: Metrics the server has series of; None when no server is checked against.
    present: frozenset[str] | None = None


def metric_kind(metric: str, ctx: CheckContext) -> str | None:
    """counter, gauge, ... as the server declares it, else as the catalogue knows it."""
    for suffix in (*HISTOGRAM_SUFFIXES, "_total"):
        stem = metric.removesuffix(suffix)
        if stem != metric and ctx.types.get(stem) in ("histogram", "summary", "counter"):
            return "counter"  # a histogram's or summary's series, an OpenMetrics counter
    if metric in ctx.types:
        return ctx.types[metric]
    info = lookup(metric, histogram=ctx.histogram)
    if info is None:
        return None
    if info.kind == "histogram":
        return "counter" if metric != info.name else "histogram"
    return info.kind


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

    def report(check: str, key: str, where: Position, message: str) -> None:
        if (check, key) not in reported:
            reported.add((check, key))
            out.append(Finding.at(where, check, message, rule=entry.name))

    all_sites = sites(entry)
    for site in all_sites:
        metric = site.selector.metric
        if metric is None or metric in ctx.recorded:
            continue
        where = site_position(entry, site)
        problem = _name_problem(metric, ctx)
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
    interval = entry.group_interval_s or ctx.eval_interval_s
    rule = entry.rule
    if rule is not None and entry.for_position and 0 < rule.for_s < 2 * interval:
        report(
            "for-interval",
            "for",
            entry.for_position,
            f"for: {format_duration(rule.for_s)} is shorter than two evaluation intervals "
            f"({format_duration(interval)} each): one noisy evaluation starts it and the "
            f"next fires it",
        )
    return out


def _name_problem(metric: str, ctx: CheckContext) -> tuple[str, str] | None:
    """(check, message) when the catalogue's namespace holds this name and it is wrong."""
    if metric in OLD_NAMES:
        return (
            "old-metric-name",
            f"{metric} is a dcgm-exporter 1.x name; since 2.0 the metric is {OLD_NAMES[metric]}",
        )
    if metric in LABEL_FIELDS:
        return (
            "unknown-metric",
            f"{metric} is a label dcgm-exporter puts on every series, not a metric: "
            f'select it as a label, e.g. DCGM_FI_DEV_GPU_TEMP{{{metric}="..."}}',
        )
    if metric in NOT_METRICS:
        return "unknown-metric", f"{metric} is {NOT_METRICS[metric]}"
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
    if metric.startswith("DCGM_") and not info.default_export:
        if ctx.present is not None and metric in ctx.present:
            return None
        fix = f"add `{info.name}, {info.kind}, {info.meaning}` to dcgm-exporter's counters CSV"
        if info.equivalent:
            fix += f", or use {info.equivalent}"
        return (
            "default-export",
            f"{metric} is not exported by a default dcgm-exporter install, so this rule "
            f"never sees it: {fix}",
        )
    if metric == info.name and info.kind == "histogram":
        return (
            "unknown-metric",
            f"{metric} is a histogram: select {metric}_bucket, _sum or _count",
        )
    return None


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
    never = {
        ">": t >= hi,
        ">=": t > hi,
        "<": t <= lo,
        "<=": t < lo,
        "==": not lo <= t <= hi,
        "!=": False,
    }[op]
    always = {
        ">": t < lo,
        ">=": t <= lo,
        "<": t > hi,
        "<=": t >= hi,
        "==": False,
        "!=": not lo <= t <= hi,
    }[op]
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
