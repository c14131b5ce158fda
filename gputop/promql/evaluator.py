"""A small PromQL evaluator over the local MetricStore, for the subset that maps to NVML.

Supported: the DCGM metrics with a store series (and GR_ENGINE_ACTIVE as utilization/100),
label matchers on gpu/UUID/device/modelName/Hostname, arithmetic and comparisons between
vectors and scalars, `and`/`or`/`unless` with Prometheus' label matching, `*_over_time`
over local history, `avg/min/max/sum/count by|without (...)`, and the P50/P95/P99 latency
form `histogram_quantile(Q, sum(rate(<hist>_bucket[5m])) by (le))`. Compiling anything else
raises Unsupported naming it, so a rule outside the subset is reported, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import promql_parser as pp

from gputop.core.catalogue import CATALOGUE, lookup
from gputop.core.labels import LabelKey
from gputop.core.models import GpuSample
from gputop.core.series import RingSeries
from gputop.core.store import LATENCY_KEY, MetricStore
from gputop.promql.analysis import LabelMatcher, parse, selector
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

#: Series labels known locally; a matcher on any other label needs Prometheus.
LOCAL_LABELS = frozenset({"gpu", "UUID", "device", "modelName", "Hostname"})
#: Seconds a sample stays current (Prometheus' default lookback delta).
LOOKBACK_S = 300.0
_NEAR_S = 15.0

Evaluator = Callable[["EvalContext"], Value]

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


class Unsupported(Exception):
    """The expression needs Prometheus; the message names what."""


@dataclass(frozen=True, slots=True)
class EvalContext:
    now: float
    store: MetricStore
    gpus: tuple[tuple[LabelKey, str], ...]  # (series labels, store entity) per GPU


def gpu_labels(gpus: Sequence[GpuSample]) -> tuple[tuple[LabelKey, str], ...]:
    """The dcgm-exporter labels of each GPU, with its store entity."""
    out = []
    for g in gpus:
        labels = {
            "gpu": str(g.index),
            "UUID": g.uuid,
            "device": f"nvidia{g.index}",
            "modelName": g.name,
            "Hostname": g.host,
        }
        out.append((tuple(sorted(labels.items())), g.key))
    return tuple(out)


def compile_query(expr: str | pp.Expr) -> Evaluator:
    """Compile PromQL text or AST into a function of an EvalContext (raises Unsupported)."""
    node = parse(expr) if isinstance(expr, str) else expr
    return _compile(node)


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


# ---- selectors ------------------------------------------------------------------------


def _series_source(node: pp.VectorSelector) -> tuple[str, float, list[LabelMatcher], str]:
    """Store field, scale, matchers and metric name of a selector, or Unsupported."""
    sel = selector(node)
    if node.offset is not None or node.at is not None:
        raise Unsupported(f"offset or @ modifier in {node}")
    info = CATALOGUE.get(sel.metric or "")
    if sel.metric is None or info is None or info.store_field is None:
        raise Unsupported(f"metric {sel.metric or node}")
    for m in sel.matchers:
        if m.name not in LOCAL_LABELS:
            raise Unsupported(f"label matcher {m}")
        if m.op in ("=~", "!~"):
            _check_regex(m)
    return info.store_field, info.store_scale, list(sel.matchers), sel.metric


def _matches(matchers: list[LabelMatcher], labels: Mapping[str, str]) -> bool:
    for m in matchers:
        have = labels.get(m.name, "")
        if m.op == "=" and have != m.value:
            return False
        if m.op == "!=" and have == m.value:
            return False
        if m.op in ("=~", "!~"):
            hit = re.fullmatch(m.value, have) is not None  # PromQL regexes are anchored
            if hit != (m.op == "=~"):
                return False
    return True


def _selected(
    ctx: EvalContext, matchers: list[LabelMatcher], field: str
) -> list[tuple[LabelKey, RingSeries]]:
    out = []
    for labels, entity in ctx.gpus:
        ring = ctx.store.get(entity, field)
        if ring is not None and _matches(matchers, dict(labels)):
            out.append((labels, ring))
    return out


def _instant(node: pp.VectorSelector) -> Evaluator:
    field, scale, matchers, name = _series_source(node)

    def run(ctx: EvalContext) -> Value:
        out: Vector = {}
        for labels, ring in _selected(ctx, matchers, field):
            value = _latest(ring, ctx.now)
            if value is not None:
                out[_with_name(labels, name)] = _scaled(value, scale)
        return out

    return run


def _latest(ring: RingSeries, now: float) -> float | None:
    """The value current at `now`: the newest point within the lookback, if present."""
    last = ring.last_time
    if last is None:
        return None
    if last <= now:
        return ring.last() if now - last <= LOOKBACK_S else None
    for span in (_NEAR_S, LOOKBACK_S):  # a short window first: a past point is usually close
        points = ring.window(now - span, now)
        if points:
            return points[-1][1]
    return None


def _check_regex(m: LabelMatcher) -> None:
    try:
        re.compile(m.value)
    except re.error as exc:
        raise Unsupported(f"regex {m.value!r}: {exc}") from None


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
            _series_source(arg.vector_selector)
    raise Unsupported(f"function {name}()")


def _map_vector(inner: Evaluator, fn: Callable[[float], float]) -> Evaluator:
    def run(ctx: EvalContext) -> Value:
        value = inner(ctx)
        if isinstance(value, float):
            raise EvalError("a function of a vector got a scalar")
        return {drop_name(k): fn(v) for k, v in value.items()}

    return run


def _scaled(value: float, scale: float) -> float:
    """A store value in the metric's unit; rounded so 95 % reads exactly 0.95, not 0.95000…01."""
    return value if scale == 1.0 else round(value * scale, 12)


def _over_time(arg: pp.MatrixSelector, agg: Callable[[list[float]], float]) -> Evaluator:
    field, scale, matchers, _ = _series_source(arg.vector_selector)
    range_s = arg.range.total_seconds()

    def run(ctx: EvalContext) -> Value:
        out: Vector = {}
        for labels, ring in _selected(ctx, matchers, field):
            # A range is left-open: (now - range, now].
            values = [
                _scaled(v, scale)
                for t, v in ring.window(ctx.now - range_s, ctx.now)
                if v is not None and t > ctx.now - range_s
            ]
            if values:
                out[labels] = agg(values)
        return out

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
        value = _latest(ring, ctx.now)
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


def _with_name(labels: LabelKey, name: str) -> LabelKey:
    return tuple(sorted((*labels, ("__name__", name))))
