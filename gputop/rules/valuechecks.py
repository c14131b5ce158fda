"""The checks of what a rule's values are: `value-unit`, `constant-scale` and `unreachable`.

- `value-unit`: an annotation printing `{{ $value }}` followed by a unit (`°C`, `%`, `W`,
  `MiB`, ...) that the alert's value is not in. The value is the expression's result: for
  `a > 1 and b > 2` it is `a`'s, for a comparison its compared side's.
- `constant-scale`: a compared value in MiB, percent or MHz against a constant written for
  another scale: `FB_FREE < 1024*1024*1024` (a byte count: 1 PiB in MiB), `x * 100 > 0.9`
  (a 0–1 ratio against a percentage), `SM_CLOCK > 2e9` (hertz against MHz).
- `unreachable`: a comparison of a bounded field's derived value (scaled, shifted, or its
  `deriv()`/`delta()` within a window) that no value in its range can satisfy:
  `deriv(DCGM_FI_DEV_GPU_UTIL[5m]) < -2` asks for a fall of 600 points within 5 minutes of a
  0–100 percentage. Comparisons of the field itself are `metric-range`'s.

Each speaks only when both sides are known: an unknown unit or range is never a finding. The
magnitude checks skip sums and counts, which add up values of many GPUs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import promql_parser as pp

from gputop.core.catalogue import lookup
from gputop.core.units import format_duration
from gputop.promql.analysis import COMPARISON_OPS, children, parse, selector
from gputop.promql.units import (
    VALUE_KEEPING_CALLS,
    Unit,
    constant,
    expression_unit,
    first_metric,
)
from gputop.rules.entries import Position, RuleEntry

__all__ = ["always_holds", "comparisons", "never_holds", "value_problems"]

Problem = tuple[str, str, Position, str]
Resolver = Callable[[str], "Unit | None"]

# {{ ... $value ... }} and the few characters after it, where a unit would be written.
_TEMPLATE = re.compile(r"\{\{-?([^{}]*?\$value\b[^{}]*?)-?\}\}")
# (pattern, dimension, scale) of the units an annotation may print after the value.
_PRINTED_UNITS: tuple[tuple[str, str, float], ...] = (
    (r"°\s?C|℃|degrees?(?:\s?C(?:elsius)?)?|[Cc]elsius|C", "celsius", 1.0),
    (r"°\s?F|[Ff]ahrenheit|F", "fahrenheit", 1.0),
    (r"%|percent", "ratio", 0.01),
    (r"[Ww]atts?|W", "watts", 1.0),
    (r"TiB", "bytes", 2.0**40),
    (r"GiB", "bytes", 2.0**30),
    (r"MiB", "bytes", 2.0**20),
    (r"KiB", "bytes", 2.0**10),
    (r"TB", "bytes", 1e12),
    (r"GB", "bytes", 1e9),
    (r"MB", "bytes", 1e6),
    (r"[kK]B", "bytes", 1e3),
    (r"[Bb]ytes|B", "bytes", 1.0),
    (r"GHz", "hertz", 1e9),
    (r"MHz", "hertz", 1e6),
    (r"[kK]Hz", "hertz", 1e3),
    (r"Hz", "hertz", 1.0),
    (r"mJ", "joules", 1e-3),
    (r"kJ", "joules", 1e3),
    (r"[Jj]oules|J", "joules", 1.0),
    (r"ns", "seconds", 1e-9),
    (r"µs|us", "seconds", 1e-6),
    (r"ms", "seconds", 1e-3),
    (r"seconds?|secs?|s", "seconds", 1.0),
    (r"minutes?|mins?", "seconds", 60.0),
    (r"hours?", "seconds", 3600.0),
)
_PRINTED = [
    (re.compile(rf"\s?(?:{pattern})(?![A-Za-z0-9/])"), dimension, scale)
    for pattern, dimension, scale in _PRINTED_UNITS
]
_PHYSICAL = frozenset({"celsius", "watts", "bytes", "hertz", "joules", "seconds", "ratio"})
_UNIT_WORDS = {"fahrenheit": "°F"}
# Aggregations and calls whose result adds values of many series or samples up.
_ADDING_AGGREGATIONS = frozenset({"sum", "count", "count_values", "group", "stddev", "stdvar"})
_ADDING_CALLS = frozenset({"sum_over_time", "count_over_time", "increase", "rate", "irate"})
_SLOPES = frozenset({"deriv", "delta", "idelta"})
# The most a single GPU's value can be: more memory than 1 TiB, a clock above 100 GHz.
_MOST = {"bytes": 2.0**40, "hertz": 1e11}


def value_problems(entry: RuleEntry, resolve: Resolver, histogram: str) -> list[Problem]:
    tree = parse(entry.expr)
    out = _printed_units(entry, tree, resolve)
    for side, op, threshold in comparisons(tree):
        out += _scale(entry, side, op, threshold, resolve)
        out += _reach(entry, side, op, threshold, histogram)
    return out


# ---- value-unit --------------------------------------------------------------------------


def _printed_units(entry: RuleEntry, tree: pp.Expr, resolve: Resolver) -> list[Problem]:
    if entry.rule is None:
        return []
    value = expression_unit(tree, resolve)
    if value is None or value.dimension not in _PHYSICAL or _is_flag(value):
        return []
    out: list[Problem] = []
    for name, text in entry.rule.annotations.items():
        for match in _TEMPLATE.finditer(text):
            printed = _printed(match.group(1), text[match.end() : match.end() + 16])
            if printed is None:
                continue
            written, dimension, scale = printed
            if not _differs(value, dimension, scale):
                continue
            at = text.index("$value", match.start())
            where = entry.annotation_position(name, at) or entry.position
            out.append(
                ("value-unit", f"{name}:{match.start()}", where, _unit_message(value, written))
            )
    return out


def _is_flag(value: Unit) -> bool:
    """A 0-or-1 value (`up`, ROW_REMAP_FAILURE): a ratio only by name; no unit to print."""
    info = lookup(value.source) if value.source else None
    return info is not None and info.unit == "bool"


def _printed(body: str, after: str) -> tuple[str, str, float] | None:
    """(as written, dimension, scale) of what a template prints the value as."""
    if "humanizePercentage" in body:
        return "humanizePercentage", "ratio", 1.0
    if "humanizeDuration" in body:
        return "humanizeDuration", "seconds", 1.0
    if "humanizeTimestamp" in body:
        return None
    humanized = "humanize" in body  # it writes the SI prefix itself
    for pattern, dimension, scale in _PRINTED:
        found = pattern.match(after)
        if found:
            written = found.group(0).strip()
            return written, dimension, 1.0 if humanized and dimension != "ratio" else scale
    return None


def _differs(value: Unit, dimension: str, scale: float) -> bool:
    if value.dimension != dimension:
        return True
    if dimension == "ratio":
        return not math.isclose(value.scale, scale)
    return abs(math.log10(value.scale / scale)) >= 1  # MB for MiB is no mistake


def _unit_message(value: Unit, written: str) -> str:
    source = f" (as {value.source} is)" if value.source else ""
    shown = _UNIT_WORDS.get(written, written)
    message = f"this annotation prints the value as {shown}, but the value is in {value}{source}"
    if value.dimension == "ratio" and value.scale == 1.0 and written in ("%", "percent"):
        message += ": print it with humanizePercentage, or multiply the expression by 100"
    elif value.dimension == "ratio" and written == "humanizePercentage":
        message += ": humanizePercentage multiplies by 100 again"
    return message


# ---- comparisons -------------------------------------------------------------------------


def comparisons(tree: pp.Expr) -> list[tuple[pp.Expr, str, float]]:
    """(compared side, operator as read from that side, constant) of every comparison with
    a constant (`1024*1024*1024` and `2^30` count as constants)."""
    out: list[tuple[pp.Expr, str, float]] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, pp.BinaryExpr) and str(node.op) in COMPARISON_OPS:
            lhs, rhs = constant(node.lhs), constant(node.rhs)
            if rhs is not None and lhs is None:
                out.append((node.lhs, str(node.op), rhs))
            elif lhs is not None and rhs is None:
                out.append((node.rhs, COMPARISON_OPS[str(node.op)], lhs))
        stack.extend(children(node))
    return out


def _where(entry: RuleEntry, side: pp.Expr) -> tuple[str, Position]:
    metric = first_metric(side) or ""
    return metric, entry.locate(metric) if metric else entry.expr_position


def _adds_up(node: pp.Expr) -> bool:
    """Whether the value adds up many series or samples (a sum, a count, a rate)."""
    if isinstance(node, pp.AggregateExpr) and str(node.op) in _ADDING_AGGREGATIONS:
        return True
    if isinstance(node, pp.Call) and node.func.name in _ADDING_CALLS:
        return True
    return any(_adds_up(child) for child in children(node))


# ---- constant-scale ----------------------------------------------------------------------


def _scale(
    entry: RuleEntry, side: pp.Expr, op: str, threshold: float, resolve: Resolver
) -> list[Problem]:
    unit = expression_unit(side, resolve)
    if unit is None or _adds_up(side) or threshold <= 0:
        return []
    metric, where = _where(entry, side)
    shown = f"`{op} {_num(threshold)}`"
    if unit.dimension == "ratio" and math.isclose(unit.scale, 0.01) and 0.5 <= threshold < 1:
        message = (
            f"{metric} is in percent (0–100) here, compared with {_num(threshold)} as if it "
            f"were a 0–1 ratio: {shown} means {_num(threshold)} %; did you mean "
            f"{op} {_num(threshold * 100)}?"
        )
        return [("constant-scale", f"{metric}{op}{threshold}", where, message)]
    most = _MOST.get(unit.dimension)
    if most is None or math.isclose(unit.scale, 1.0):
        return []
    value = threshold * unit.scale
    base = "bytes" if unit.dimension == "bytes" else "Hz"
    if value >= most:
        message = (
            f"{metric} is in {unit}, compared with {_num(threshold)}: that is "
            f"{_si(value, base)}, more than any GPU has; the constant looks written in {base}: "
            f"compare with {_num(threshold / unit.scale)}, or multiply {metric} by "
            f"{_num(unit.scale)}"
        )
        return [("constant-scale", f"{metric}{op}{threshold}", where, message)]
    if unit.dimension == "hertz" and threshold < 10 and not threshold.is_integer():
        message = (
            f"{metric} is in {unit}, compared with {_num(threshold)}: that is "
            f"{_si(value, base)}; the constant looks written in GHz: "
            f"compare with {_num(threshold * 1000)}"
        )
        return [("constant-scale", f"{metric}{op}{threshold}", where, message)]
    return []


def _num(value: float) -> str:
    return f"{value:.10g}"


def _si(value: float, base: str) -> str:
    if base == "bytes":
        for name, size in (("PiB", 2.0**50), ("TiB", 2.0**40), ("GiB", 2.0**30)):
            if value >= size:
                return f"{value / size:.3g} {name}"
        return f"{value:g} bytes"
    for name, size in (("THz", 1e12), ("GHz", 1e9), ("MHz", 1e6)):
        if value >= size:
            return f"{value / size:.3g} {name}"
    return f"{value:g} Hz"


# ---- unreachable -------------------------------------------------------------------------

# (lo, hi, what the value is, derived): derived is False for the field's own values.
_Range = tuple[float, float, str, bool]


def _reach(
    entry: RuleEntry, side: pp.Expr, op: str, threshold: float, histogram: str
) -> list[Problem]:
    found = _range(side, histogram)
    if found is None or not found[3]:
        return []  # the field itself: metric-range's
    lo, hi, what, _ = found
    if not never_holds(op, threshold, lo, hi):
        return []
    metric, where = _where(entry, side)
    message = f"{what} is between {lo:.4g} and {hi:.4g}: `{op} {_num(threshold)}` can never hold"
    return [("unreachable", f"{metric}{op}{threshold}", where, message)]


def never_holds(op: str, t: float, lo: float, hi: float) -> bool:
    """Whether `value op t` is false for every value in [lo, hi]."""
    return {
        ">": t >= hi,
        ">=": t > hi,
        "<": t <= lo,
        "<=": t < lo,
        "==": not lo <= t <= hi,
        "!=": False,
    }[op]


def always_holds(op: str, t: float, lo: float, hi: float) -> bool:
    """Whether `value op t` is true for every value in [lo, hi]."""
    return {
        ">": t < lo,
        ">=": t <= lo,
        "<": t > hi,
        "<=": t >= hi,
        "==": False,
        "!=": not lo <= t <= hi,
    }[op]


def _range(node: pp.Expr, histogram: str) -> _Range | None:
    """The values an expression can take when it is a bounded field's, however derived."""
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    if isinstance(node, pp.MatrixSelector):
        node = node.vector_selector
    if isinstance(node, pp.VectorSelector):
        metric = selector(node).metric
        info = lookup(metric, histogram=histogram) if metric else None
        if info is None or info.lo is None or info.hi is None:
            return None
        return info.lo, info.hi, info.name, False
    if isinstance(node, pp.AggregateExpr):
        keeping = str(node.op) in ("avg", "min", "max", "quantile", "topk", "bottomk")
        return _range(node.expr, histogram) if keeping else None
    if isinstance(node, pp.Call):
        return _call_range(node, histogram)
    if isinstance(node, pp.BinaryExpr):
        return _binary_range(node, histogram)
    return None


def _call_range(node: pp.Call, histogram: str) -> _Range | None:
    name = node.func.name
    args = [a for a in node.args if isinstance(a, pp.Expr) and constant(a) is None]
    if len(args) != 1 or isinstance(args[0], pp.StringLiteral):
        return None
    if name in VALUE_KEEPING_CALLS and not name.startswith("clamp") and name != "abs":
        return _range(args[0], histogram)
    if name not in _SLOPES or not isinstance(args[0], pp.MatrixSelector):
        return None
    inner = _range(args[0], histogram)
    if inner is None:
        return None
    lo, hi, what, _ = inner
    window = args[0].range.total_seconds()
    span = 2 * (hi - lo)  # with room for delta()'s extrapolation and deriv()'s fit
    if name == "deriv":
        per_second = span / window
        text = (
            f"the slope of {what} (a field spanning {hi - lo:g}) fitted over "
            f"{format_duration(window)}, per second,"
        )
        return -per_second, per_second, text, True
    text = f"the change of {what} (a field spanning {hi - lo:g}) within {format_duration(window)}"
    return -span, span, text, True


def _binary_range(node: pp.BinaryExpr, histogram: str) -> _Range | None:
    op = str(node.op)
    modifier = node.modifier
    if modifier is not None and modifier.return_bool:
        return None
    lhs_c, rhs_c = constant(node.lhs), constant(node.rhs)
    if op in COMPARISON_OPS or op in ("and", "unless"):
        return _range(node.lhs, histogram) if lhs_c is None else None
    if (lhs_c is None) == (rhs_c is None):
        return None
    inner = _range(node.lhs if rhs_c is not None else node.rhs, histogram)
    if inner is None:
        return None
    lo, hi, what, _ = inner
    c = rhs_c if rhs_c is not None else lhs_c
    assert c is not None
    if op == "*":
        ends = (lo * c, hi * c)
        text = f"{what} × {c:g}"
    elif op == "/" and rhs_c is not None and c:
        ends = (lo / c, hi / c)
        text = f"{what} / {c:g}"
    elif op == "+":
        ends = (lo + c, hi + c)
        text = f"{what} + {c:g}"
    elif op == "-" and rhs_c is not None:
        ends = (lo - c, hi - c)
        text = f"{what} − {c:g}"
    elif op == "-":
        ends = (c - hi, c - lo)
        text = f"{c:g} − {what}"
    else:
        return None
    return min(ends), max(ends), text, True
