"""The unit of a PromQL expression, when it can be known: for recording rules whose name
promises one (`_bytes`, `_seconds`, `_hertz`, `_celsius`, `_watts`, `_ratio`, `_percent`).

A unit is a dimension and a scale to the base unit: MiB is bytes × 1048576, MHz is hertz ×
1e6, a percentage is a ratio × 0.01. Selectors take the catalogue's unit, else the unit their
name ends with (Prometheus' naming convention). Multiplying by a number rescales
(`FB_USED * 1048576` is bytes), a quotient of one dimension is a ratio, `rate()` of seconds is
a ratio. Anything else is unknown, and an unknown unit is never reported: the check must not
cry wolf.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import promql_parser as pp

from gputop.core.catalogue import lookup
from gputop.promql.analysis import children, selector

__all__ = [
    "SUFFIX_UNITS",
    "VALUE_KEEPING_CALLS",
    "Unit",
    "constant",
    "expression_unit",
    "first_metric",
    "name_unit",
    "unit_of_metric",
]


@dataclass(frozen=True, slots=True)
class Unit:
    """`dimension` ("bytes", "seconds", "ratio", ... or an opaque one such as "count"),
    `scale` to its base unit, and `source`: the metric it was read from, if any."""

    dimension: str
    scale: float = 1.0
    source: str | None = None

    def same(self, other: Unit) -> bool:
        return self.dimension == other.dimension and math.isclose(self.scale, other.scale)

    def __str__(self) -> str:
        named = _NAMES.get((self.dimension, _rounded(self.scale)))
        if named is not None:
            return named
        return self.dimension if self.scale == 1 else f"{self.dimension} × {self.scale:g}"


#: The units a metric name may end with, as Prometheus' naming conventions spell them.
SUFFIX_UNITS: dict[str, Unit] = {
    "_bytes": Unit("bytes"),
    "_seconds": Unit("seconds"),
    "_hertz": Unit("hertz"),
    "_celsius": Unit("celsius"),
    "_watts": Unit("watts"),
    "_joules": Unit("joules"),
    "_ratio": Unit("ratio"),
    "_percent": Unit("ratio", 0.01),
}
# The catalogue's unit names; the others ("count", "code", "B/s") stand for themselves.
_CATALOGUE_UNITS: dict[str, tuple[str, float]] = {
    "%": ("ratio", 0.01),
    "ratio": ("ratio", 1.0),
    "bool": ("ratio", 1.0),
    "B": ("bytes", 1.0),
    "MiB": ("bytes", 1048576.0),
    "MHz": ("hertz", 1e6),
    "°C": ("celsius", 1.0),
    "W": ("watts", 1.0),
    "mJ": ("joules", 1e-3),
    "ns": ("seconds", 1e-9),
    "s": ("seconds", 1.0),
}
_NAMES: dict[tuple[str, float], str] = {
    ("bytes", 1.0): "bytes",
    ("bytes", 1024.0): "KiB",
    ("bytes", 1048576.0): "MiB",
    ("bytes", 1073741824.0): "GiB",
    ("hertz", 1.0): "Hz",
    ("hertz", 1e6): "MHz",
    ("ratio", 1.0): "a 0–1 ratio",
    ("ratio", 0.01): "percent",
    ("seconds", 1.0): "seconds",
    ("seconds", 1e-3): "ms",
    ("seconds", 1e-6): "µs",
    ("seconds", 1e-9): "ns",
    ("joules", 1.0): "J",
    ("joules", 1e-3): "mJ",
    ("watts", 1.0): "W",
    ("celsius", 1.0): "°C",
}
#: Functions whose result has the values of their argument, in kind and in range (a
#: `max_over_time` of a temperature is a temperature that can reach the same numbers).
VALUE_KEEPING_CALLS = frozenset(
    {
        "abs",
        "ceil",
        "floor",
        "round",
        "clamp",
        "clamp_min",
        "clamp_max",
        "sort",
        "sort_desc",
        "label_replace",
        "label_join",
        "last_over_time",
        "max_over_time",
        "min_over_time",
        "avg_over_time",
        "quantile_over_time",
    }
)
# ... and those that keep the unit, not the range
_KEEPING_CALLS = VALUE_KEEPING_CALLS | {"sum_over_time", "increase", "delta", "vector", "scalar"}
_PER_SECOND_CALLS = frozenset({"rate", "irate", "deriv"})
_KEEPING_AGGREGATIONS = frozenset(
    {"sum", "avg", "min", "max", "topk", "bottomk", "quantile", "stddev", "limitk"}
)

Resolver = Callable[[str], "Unit | None"]


def _rounded(scale: float) -> float:
    return float(f"{scale:.12g}")


def name_unit(name: str) -> Unit | None:
    """The unit a metric name promises by its suffix (`_total` set aside)."""
    stem = name.removesuffix("_total")
    for suffix, unit in SUFFIX_UNITS.items():
        if stem.endswith(suffix):
            return unit
    return None


def unit_of_metric(name: str, *, histogram: str | None = None) -> Unit | None:
    """A selected metric's unit: the catalogue's, else its name's."""
    info = lookup(name, histogram=histogram) if histogram else lookup(name)
    if info is not None and info.unit != "?":
        dimension, scale = _CATALOGUE_UNITS.get(info.unit, (info.unit, 1.0))
        return Unit(dimension, scale, info.name)
    unit = name_unit(name.removesuffix("_bucket").removesuffix("_sum"))
    return replace(unit, source=name) if unit is not None else None


def expression_unit(expr: pp.Expr, resolve: Resolver) -> Unit | None:
    """The expression's unit, or None when it cannot be known."""
    result = _infer(expr, resolve)
    return result if isinstance(result, Unit) else None


def _infer(node: pp.Expr, resolve: Resolver) -> Unit | float | None:
    """A Unit, a plain number (a literal: it only rescales), or None (unknown)."""
    if isinstance(node, pp.NumberLiteral):
        return float(node.val)
    if isinstance(node, pp.ParenExpr):
        return _infer(node.expr, resolve)
    if isinstance(node, pp.UnaryExpr):
        inner = _infer(node.expr, resolve)
        return -inner if isinstance(inner, float) else inner
    if isinstance(node, pp.VectorSelector):
        name = selector(node).metric
        return resolve(name) if name else None
    if isinstance(node, pp.MatrixSelector):
        return _infer(node.vector_selector, resolve)
    if isinstance(node, pp.SubqueryExpr):
        return _infer(node.expr, resolve)
    if isinstance(node, pp.Call):
        return _call(node, resolve)
    if isinstance(node, pp.AggregateExpr):
        if str(node.op) in _KEEPING_AGGREGATIONS:
            return _infer(node.expr, resolve)
        return None
    if isinstance(node, pp.BinaryExpr):
        return _binary(node, resolve)
    return None


def _call(node: pp.Call, resolve: Resolver) -> Unit | float | None:
    name = node.func.name
    args = [a for a in node.args if isinstance(a, pp.Expr) and not _is_literal(a)]
    if name == "histogram_quantile" and args:
        bucket = first_metric(args[0])
        return resolve(bucket.removesuffix("_bucket")) if bucket else None
    if name in ("time", "timestamp"):
        return Unit("seconds")
    if len(args) != 1:
        return None
    inner = _infer(args[0], resolve)
    if name in _KEEPING_CALLS:
        return inner
    if name in _PER_SECOND_CALLS and isinstance(inner, Unit) and inner.dimension == "seconds":
        return Unit("ratio", inner.scale)  # seconds per second
    return None


def _binary(node: pp.BinaryExpr, resolve: Resolver) -> Unit | float | None:
    op = str(node.op)
    modifier = node.modifier
    if modifier is not None and modifier.return_bool:
        return None  # 0 or 1
    lhs, rhs = _infer(node.lhs, resolve), _infer(node.rhs, resolve)
    if op in ("==", "!=", ">", "<", ">=", "<=", "and", "unless"):
        return lhs if not isinstance(lhs, float) else rhs  # a filter keeps its side's value
    if op == "or":
        return lhs if isinstance(lhs, Unit) and isinstance(rhs, Unit) and lhs.same(rhs) else None
    if isinstance(lhs, float) and isinstance(rhs, float):
        return None  # constant arithmetic: never a unit worth naming
    if op == "*":
        return _product(lhs, rhs)
    if op == "/":
        return _quotient(lhs, rhs)
    if op in ("+", "-"):
        if isinstance(lhs, Unit) and isinstance(rhs, Unit):
            return lhs if lhs.same(rhs) else None
        return lhs if isinstance(lhs, Unit) else rhs
    return None


def _product(lhs: Unit | float | None, rhs: Unit | float | None) -> Unit | None:
    # A value multiplied by n is n times larger in the same base: its scale is n times less.
    if isinstance(lhs, Unit) and isinstance(rhs, float) and rhs != 0:
        return Unit(lhs.dimension, lhs.scale / rhs, lhs.source)
    if isinstance(rhs, Unit) and isinstance(lhs, float) and lhs != 0:
        return Unit(rhs.dimension, rhs.scale / lhs, rhs.source)
    if isinstance(lhs, Unit) and isinstance(rhs, Unit):
        if lhs.dimension == "ratio":
            return Unit(rhs.dimension, rhs.scale * lhs.scale, rhs.source)
        if rhs.dimension == "ratio":
            return Unit(lhs.dimension, lhs.scale * rhs.scale, lhs.source)
    return None


def _quotient(lhs: Unit | float | None, rhs: Unit | float | None) -> Unit | None:
    if isinstance(lhs, Unit) and isinstance(rhs, float):
        return Unit(lhs.dimension, lhs.scale * rhs, lhs.source)
    if isinstance(lhs, Unit) and isinstance(rhs, Unit):
        if lhs.dimension == rhs.dimension:
            return Unit("ratio", lhs.scale / rhs.scale)
        if rhs.dimension == "ratio":
            return Unit(lhs.dimension, lhs.scale / rhs.scale, lhs.source)
    return None


def _is_literal(node: pp.Expr) -> bool:
    return isinstance(node, pp.NumberLiteral | pp.StringLiteral)


def first_metric(node: pp.Expr) -> str | None:
    """The metric of the first selector written in an expression."""
    if isinstance(node, pp.VectorSelector):
        return selector(node).metric
    if isinstance(node, pp.MatrixSelector):
        return selector(node.vector_selector).metric
    for child in children(node):
        found = first_metric(child)
        if found:
            return found
    return None


def constant(node: pp.Expr) -> float | None:
    """The value of an expression of number literals (`1024*1024*1024`, `2^30`, `-5`)."""
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    if isinstance(node, pp.NumberLiteral):
        return float(node.val)
    if isinstance(node, pp.UnaryExpr):
        inner = constant(node.expr)
        return None if inner is None else -inner
    if not isinstance(node, pp.BinaryExpr):
        return None
    a, b = constant(node.lhs), constant(node.rhs)
    if a is None or b is None:
        return None
    op = str(node.op)
    try:
        if op == "^":
            return float(a**b)
        return {"*": a * b, "/": a / b if b else None, "+": a + b, "-": a - b}.get(op)
    except OverflowError:
        return None
