"""A small PromQL evaluator over the local MetricStore, for the subset that maps to NVML.

Supported: every DCGM metric NVML reads (see `localdata`: store history, or the latest
reading for the memory total, power limit and fan), series recorded by recording rules
evaluated locally, label matchers on gpu/UUID/device/modelName/Hostname, arithmetic and
comparisons between vectors and scalars, `and`/`or`/`unless` with Prometheus' label
matching, `*_over_time` over local history, `avg/min/max/sum/count by|without (...)`, and
the P50/P95/P99 latency form `histogram_quantile(Q, sum(rate(<hist>_bucket[5m])) by (le))`.
Compiling anything else raises Unsupported naming it, so a rule outside the subset is
reported, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

import promql_parser as pp

from gputop.core.catalogue import lookup
from gputop.core.labels import LabelKey
from gputop.core.store import LATENCY_KEY
from gputop.promql.analysis import parse, selector
from gputop.promql.localdata import (
    LOCAL_LABELS,
    EvalContext,
    Evaluator,
    Unsupported,
    check_selector,
    gpu_labels,
    instant_selector,
    latest,
    range_selector,
)
from gputop.promql.vectorops import (
    ARITHMETIC,
    COMPARISONS,
    SET_OPS,
    EvalError,
    Matching,
    Value,
    Vector,
    binary,
    drop_name,
)

__all__ = [
    "LOCAL_LABELS",
    "EvalContext",
    "EvalError",
    "Evaluator",
    "Unsupported",
    "Vector",
    "compile_query",
    "gpu_labels",
]

# The names recorded by the rules being compiled: set by compile_query for its duration.
_RECORDED: ContextVar[frozenset[str]] = ContextVar("recorded", default=frozenset())

_QUANTILE_FIELDS = {0.5: "p50_s", 0.95: "p95_s", 0.99: "p99_s"}
_OVER_TIME: dict[str, Callable[[list[float]], float]] = {
    "avg_over_time": lambda vs: sum(vs) / len(vs),
    "min_over_time": min,
    "max_over_time": max,
    "sum_over_time": sum,
    "count_over_time": lambda vs: float(len(vs)),
    "last_over_time": lambda vs: vs[-1],
}
_AGGREGATIONS: dict[str, Callable[[list[float]], float]] = {
    "avg": lambda vs: sum(vs) / len(vs),
    "min": min,
    "max": max,
    "sum": sum,
    "count": lambda vs: float(len(vs)),
}


def compile_query(expr: str | pp.Expr, *, recorded: frozenset[str] = frozenset()) -> Evaluator:
    """Compile PromQL text or AST into a function of an EvalContext (raises Unsupported);
    `recorded` names the series recording rules evaluated locally write."""
    node = parse(expr) if isinstance(expr, str) else expr
    token = _RECORDED.set(recorded)
    try:
        return _compile(node)
    finally:
        _RECORDED.reset(token)


def _compile(node: pp.Expr) -> Evaluator:
    if isinstance(node, pp.ParenExpr):
        return _compile(node.expr)
    if isinstance(node, pp.NumberLiteral):
        value = float(node.val)
        return lambda ctx: value
    if isinstance(node, pp.UnaryExpr):
        return _negate(_compile(node.expr))
    if isinstance(node, pp.VectorSelector):
        return _instant(node)
    if isinstance(node, pp.Call):
        return _call(node)
    if isinstance(node, pp.AggregateExpr):
        return _aggregate(node)
    if isinstance(node, pp.BinaryExpr):
        return _binary(node)
    if isinstance(node, pp.MatrixSelector):
        raise Unsupported(f"range selector {node} outside *_over_time")
    if isinstance(node, pp.SubqueryExpr):
        raise Unsupported(f"subquery {node}")
    raise Unsupported(str(node))


def _negate(inner: Evaluator) -> Evaluator:
    def run(ctx: EvalContext) -> Value:
        value = inner(ctx)
        if isinstance(value, float):
            return -value
        return {drop_name(k): -v for k, v in value.items()}

    return run


def _instant(node: pp.VectorSelector) -> Evaluator:
    return instant_selector(node, _RECORDED.get())


# ---- functions --------------------------------------------------------------------------


def _call(node: pp.Call) -> Evaluator:
    name = node.func.name
    if name == "histogram_quantile":
        return _latency_quantile(node)
    if name in _OVER_TIME:
        arg = node.args[0]
        if not isinstance(arg, pp.MatrixSelector):
            raise Unsupported(f"{name} over a subquery")
        return _over_time(arg, _OVER_TIME[name])
    if name in ("abs", "clamp_min", "clamp_max"):
        inner = _compile(node.args[0])
        limit = node.args[1] if name != "abs" else None
        if limit is not None and not isinstance(limit, pp.NumberLiteral):
            raise Unsupported(f"{name}() with a computed bound")
        bound = float(limit.val) if limit is not None else 0.0
        fn: Callable[[float], float] = {
            "abs": abs,
            "clamp_min": lambda v: max(v, bound),
            "clamp_max": lambda v: min(v, bound),
        }[name]
        return _map_vector(inner, fn)
    for arg in node.args:  # name an unsupported metric before the function itself
        if isinstance(arg, pp.MatrixSelector):
            check_selector(arg.vector_selector, _RECORDED.get())
    raise Unsupported(f"function {name}()")


def _map_vector(inner: Evaluator, fn: Callable[[float], float]) -> Evaluator:
    def run(ctx: EvalContext) -> Value:
        value = inner(ctx)
        if isinstance(value, float):
            raise EvalError("a function of a vector got a scalar")
        return {drop_name(k): fn(v) for k, v in value.items()}

    return run


def _over_time(arg: pp.MatrixSelector, agg: Callable[[list[float]], float]) -> Evaluator:
    values = range_selector(arg, _RECORDED.get())

    def run(ctx: EvalContext) -> Value:
        return {labels: agg(vs) for labels, vs in values(ctx).items() if vs}

    return run


def _latency_quantile(node: pp.Call) -> Evaluator:
    """`histogram_quantile(Q, sum(rate(<hist>_bucket[5m])) by (le))`, read from local P-values."""
    form = "histogram_quantile(Q, sum(rate(<histogram>_bucket[5m])) by (le))"
    q, agg = node.args[0], node.args[1]
    field = _QUANTILE_FIELDS.get(float(q.val)) if isinstance(q, pp.NumberLiteral) else None
    if field is None:
        raise Unsupported(f"{node} (local latency has only Q = 0.5, 0.95, 0.99)")
    matrix = _rate_by_le(agg)
    if matrix is None:
        raise Unsupported(f"{node} (locally only the form {form})")
    sel = selector(matrix.vector_selector)
    info = lookup(sel.metric or "")
    if (
        info is None
        or info.kind != "histogram"
        or sel.metric != info.name + "_bucket"
        or sel.matchers
        or matrix.vector_selector.offset is not None
    ):
        raise Unsupported(f"{node} (locally only the form {form} of a known histogram)")

    def run(ctx: EvalContext) -> Value:
        ring = ctx.store.get(LATENCY_KEY, field)
        if ring is None:
            raise Unsupported(f"{sel.metric}: no local latency data")
        value = latest(ring, ctx.now)
        return {} if value is None else {(): value}

    return run


def _rate_by_le(agg: pp.Expr) -> pp.MatrixSelector | None:
    """The `x_bucket[5m]` of `sum(rate(x_bucket[5m])) by (le)`, None for any other shape."""
    if not (
        isinstance(agg, pp.AggregateExpr)
        and str(agg.op) == "sum"
        and agg.modifier is not None
        and agg.modifier.type == pp.AggModifierType.By
        and list(agg.modifier.labels) == ["le"]
        and isinstance(agg.expr, pp.Call)
        and agg.expr.func.name == "rate"
    ):
        return None
    matrix = agg.expr.args[0]
    if isinstance(matrix, pp.MatrixSelector) and matrix.range.total_seconds() == 300:
        return matrix
    return None


# ---- aggregation ------------------------------------------------------------------------


def _aggregate(node: pp.AggregateExpr) -> Evaluator:
    op = str(node.op)
    agg = _AGGREGATIONS.get(op)
    if agg is None or node.param is not None:
        raise Unsupported(f"aggregation {op}")
    inner = _compile(node.expr)
    modifier = node.modifier
    names = frozenset(modifier.labels) if modifier is not None else frozenset()
    by = modifier is None or modifier.type == pp.AggModifierType.By

    def group(key: LabelKey) -> LabelKey:
        if by:
            return tuple((k, v) for k, v in key if k in names)
        return tuple((k, v) for k, v in key if k not in names and k != "__name__")

    def run(ctx: EvalContext) -> Value:
        value = inner(ctx)
        if isinstance(value, float):
            raise EvalError(f"{op} of a scalar")
        groups: dict[LabelKey, list[float]] = {}
        for key, v in value.items():
            groups.setdefault(group(key), []).append(v)
        return {k: agg(vs) for k, vs in groups.items()}

    return run


# ---- binary operators -------------------------------------------------------------------


def _binary(node: pp.BinaryExpr) -> Evaluator:
    op = str(node.op)
    lhs, rhs = _compile(node.lhs), _compile(node.rhs)
    modifier = node.modifier
    if modifier is not None and modifier.card in (
        pp.VectorMatchCardinality.ManyToOne,
        pp.VectorMatchCardinality.OneToMany,
    ):
        raise Unsupported(f"group_left/group_right in {node}")
    if op not in ARITHMETIC and op not in COMPARISONS and op not in SET_OPS:
        raise Unsupported(f"operator {op}")
    labels = modifier.matching if modifier is not None else None
    matching = Matching(
        on=labels is not None and labels.type == pp.LabelModifierType.Include,
        labels=frozenset(labels.labels) if labels is not None else frozenset(),
        return_bool=bool(modifier is not None and modifier.return_bool),
    )
    return lambda ctx: binary(op, lhs(ctx), rhs(ctx), matching)
