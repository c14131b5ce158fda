"""Analysis of alert expressions with promql-parser: what is compared with which threshold.

An alert expression of the form `<query> <op> <number>` (also `<number> <op> <query>`, in
parentheses, or inside `and`/`unless`) is split into its compared query, operator and
threshold, so the query can be asked on its own and its value compared with the threshold.
Anything else has no threshold: its state is still shown, with no margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import promql_parser as pp

__all__ = [
    "COMPARISON_OPS",
    "Analysis",
    "Comparison",
    "LabelMatcher",
    "PromQLSyntaxError",
    "Selector",
    "analyse",
    "children",
    "compare",
    "parse",
    "selector",
]

#: Comparison operators and the one that reads the same with its sides swapped.
COMPARISON_OPS: dict[str, str] = {
    ">": "<",
    "<": ">",
    ">=": "<=",
    "<=": ">=",
    "==": "==",
    "!=": "!=",
}
# The parser's MatchOp is not hashable: a list of pairs, not a dict.
_MATCH_OPS = (
    (pp.MatchOp.Equal, "="),
    (pp.MatchOp.NotEqual, "!="),
    (pp.MatchOp.Re, "=~"),
    (pp.MatchOp.NotRe, "!~"),
)
# Functions and aggregations whose result keeps the unit (and range) of their input.
_UNIT_KEEPING_CALLS = frozenset(
    {
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "last_over_time",
        "quantile_over_time",
        "abs",
        "clamp",
        "clamp_min",
        "clamp_max",
        "round",
        "ceil",
        "floor",
        "sort",
        "sort_desc",
        "label_replace",
        "label_join",
    }
)
_UNIT_KEEPING_AGGREGATIONS = frozenset({"avg", "min", "max", "quantile", "topk", "bottomk"})


class PromQLSyntaxError(ValueError):
    """The expression does not parse; the message is the parser's."""


@dataclass(frozen=True, slots=True)
class LabelMatcher:
    name: str
    op: str  # =, !=, =~, !~
    value: str

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value!r}".replace("'", '"')


@dataclass(frozen=True, slots=True)
class Selector:
    """One series selector of the expression: a metric name (None when only matched by
    `__name__` regex) and its label matchers (without the name)."""

    metric: str | None
    matchers: tuple[LabelMatcher, ...]
    range_s: float | None = None  # set for a range selector `x[5m]`


@dataclass(frozen=True, slots=True)
class Comparison:
    """`query op threshold`, always with the query on the left."""

    query: str
    op: str
    threshold: float
    return_bool: bool = False
    #: The one metric whose unit the query keeps (`x`, `avg_over_time(x[5m])`, `max(x)`),
    #: None when arithmetic or several metrics make the unit unknown.
    unit_metric: str | None = None

    def holds(self, value: float) -> bool:
        """Whether `value op threshold` is true."""
        return compare(self.op, value, self.threshold)

    def __str__(self) -> str:
        modifier = " bool" if self.return_bool else ""
        return f"{self.query} {self.op}{modifier} {_format_number(self.threshold)}"


@dataclass(frozen=True, slots=True)
class Analysis:
    """What an alert expression compares and what it selects.

    `comparisons` holds the primary comparison first (the left side of `and`/`unless`);
    `gated` says an `and`/`unless` clause further filters the series the comparison keeps.
    """

    expr: str
    comparisons: tuple[Comparison, ...]
    selectors: tuple[Selector, ...]
    gated: bool = False

    @property
    def comparison(self) -> Comparison | None:
        return self.comparisons[0] if self.comparisons else None

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metric names selected, in order of first appearance, without repeats."""
        return tuple(dict.fromkeys(s.metric for s in self.selectors if s.metric))

    @property
    def matchers(self) -> tuple[LabelMatcher, ...]:
        return tuple(dict.fromkeys(m for s in self.selectors for m in s.matchers))


def compare(op: str, left: float, right: float) -> bool:
    if math.isnan(left) or math.isnan(right):
        return op == "!="
    if op == ">":
        return left > right
    if op == "<":
        return left < right
    if op == ">=":
        return left >= right
    if op == "<=":
        return left <= right
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    raise ValueError(f"not a comparison operator: {op}")


def parse(text: str) -> pp.Expr:
    """Parse PromQL, raising PromQLSyntaxError with the parser's message."""
    if not text.strip():
        raise PromQLSyntaxError("empty expression")
    try:
        return pp.parse(text)
    except (ValueError, TypeError) as exc:  # the parser reports every syntax error this way
        raise PromQLSyntaxError(str(exc) or "invalid expression") from None


def analyse(text: str) -> Analysis:
    """Split an alert expression into its comparisons; see the module docstring."""
    expr = parse(text)
    comparisons, gated = _comparisons(expr)
    return Analysis(
        expr=text.strip(),
        comparisons=tuple(comparisons),
        selectors=tuple(_selectors(expr)),
        gated=gated,
    )


def _comparisons(expr: pp.Expr) -> tuple[list[Comparison], bool]:
    """The comparisons an alert fires on, and whether a set operation gates them."""
    expr = _unwrap(expr)
    if not isinstance(expr, pp.BinaryExpr):
        return [], False
    op = str(expr.op)
    if op == "and":
        left, _ = _comparisons(expr.lhs)
        if not left:
            return [], False
        right, _ = _comparisons(expr.rhs)
        return left + right, True
    if op == "unless":
        left, _ = _comparisons(expr.lhs)
        return left, bool(left)
    single = _comparison(expr)
    return ([single], False) if single is not None else ([], False)


def _comparison(expr: pp.BinaryExpr) -> Comparison | None:
    op = str(expr.op)
    if op not in COMPARISON_OPS:
        return None
    modifier = expr.modifier
    return_bool = bool(modifier is not None and modifier.return_bool)
    rhs, lhs = _number(expr.rhs), _number(expr.lhs)
    if rhs is not None and lhs is None:
        query, threshold = expr.lhs, rhs
    elif lhs is not None and rhs is None:
        query, threshold, op = expr.rhs, lhs, COMPARISON_OPS[op]
    else:
        return None
    return Comparison(
        query=str(_unwrap(query)),
        op=op,
        threshold=threshold,
        return_bool=return_bool,
        unit_metric=_unit_metric(query),
    )


def _unwrap(expr: pp.Expr) -> pp.Expr:
    while isinstance(expr, pp.ParenExpr):
        expr = expr.expr
    return expr


def _number(expr: pp.Expr) -> float | None:
    expr = _unwrap(expr)
    if isinstance(expr, pp.NumberLiteral):
        return float(expr.val)
    if isinstance(expr, pp.UnaryExpr):
        inner = _number(expr.expr)
        return None if inner is None else -inner
    return None


def _unit_metric(expr: pp.Expr) -> str | None:
    expr = _unwrap(expr)
    if isinstance(expr, pp.VectorSelector):
        return selector(expr).metric
    if isinstance(expr, pp.MatrixSelector):
        return selector(expr.vector_selector).metric
    if isinstance(expr, pp.Call) and expr.func.name in _UNIT_KEEPING_CALLS:
        vectors = [a for a in expr.args if not isinstance(a, pp.NumberLiteral | pp.StringLiteral)]
        return _unit_metric(vectors[0]) if len(vectors) == 1 else None
    if isinstance(expr, pp.AggregateExpr) and str(expr.op) in _UNIT_KEEPING_AGGREGATIONS:
        return _unit_metric(expr.expr)
    return None


def children(expr: pp.Expr) -> list[pp.Expr]:
    """The direct sub-expressions of a node (a range selector's vector is not one)."""
    if isinstance(expr, pp.BinaryExpr):
        return [expr.lhs, expr.rhs]
    if isinstance(expr, pp.ParenExpr | pp.UnaryExpr | pp.SubqueryExpr):
        return [expr.expr]
    if isinstance(expr, pp.AggregateExpr):
        param = [expr.param] if isinstance(expr.param, pp.Expr) else []
        return [*param, expr.expr]
    if isinstance(expr, pp.Call):
        return [a for a in expr.args if isinstance(a, pp.Expr)]
    return []


def _selectors(expr: pp.Expr) -> list[Selector]:
    if isinstance(expr, pp.MatrixSelector):
        base = selector(expr.vector_selector)
        return [Selector(base.metric, base.matchers, expr.range.total_seconds())]
    if isinstance(expr, pp.VectorSelector):
        return [selector(expr)]
    return [s for child in children(expr) for s in _selectors(child)]


def selector(node: pp.VectorSelector) -> Selector:
    """The metric name and label matchers of a vector selector node."""
    name = node.name
    matchers: list[LabelMatcher] = []
    for m in node.matchers.matchers:
        op = next(text for kind, text in _MATCH_OPS if m.op == kind)
        if m.name == "__name__" and op == "=" and name is None:
            name = m.value
            continue
        matchers.append(LabelMatcher(m.name, op, m.value))
    return Selector(name, tuple(matchers))


def _format_number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
