"""Alert expressions rewritten for a backtest: recorded series the engine has no history of
replaced by their recording rule's expression, and a changed threshold.

promql-parser's tree cannot be edited, so the changed parts are written out again and the
untouched subtrees keep the parser's own text. A recorded series read at an instant becomes
the recording rule's expression in parentheses; read over a range (`rec[5m]`) it becomes a
subquery at the recording rule's group interval (`(expr)[5m:1m]`), which is how the
recording rule would have sampled it. The recording rule's `labels:` are set with
`label_replace`, and the selector's own label matchers become a filter built from
`label_replace` and `and`/`unless`, so `rec{gpu="3"}` keeps what it kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

import promql_parser as pp

from gputop.promql.analysis import (
    COMPARISON_OPS,
    LabelMatcher,
    analyse,
    children,
    parse,
    selector,
)

__all__ = ["RecordSource", "RewriteError", "substitute_records", "with_threshold"]

_MARK = "gputop_backtest_match"  # a label that lives only inside a matcher's filter
_SET_OPS = ("and", "unless")


class RewriteError(ValueError):
    """The expression cannot be rewritten; the message says why."""


@dataclass(frozen=True, slots=True)
class RecordSource:
    """A recording rule to substitute: its expression (already free of recorded series the
    engine lacks), the labels it sets, and its group's evaluation interval."""

    expr: str
    labels: Mapping[str, str]
    interval_s: float


Replace = Callable[[pp.Expr], str | None]


def substitute_records(expr: str, records: Mapping[str, RecordSource]) -> str:
    """`expr` with every selector of a name in `records` replaced by that recording rule's
    expression (raises RewriteError for `offset`/`@` on such a selector)."""

    def replace(node: pp.Expr) -> str | None:
        if isinstance(node, pp.VectorSelector):
            source = _recorded(node, records)
            return None if source is None else f"({_body(node, source)})"
        if isinstance(node, pp.MatrixSelector):
            source = _recorded(node.vector_selector, records)
            if source is None:
                return None
            window = _duration(node.range)
            step = _duration(timedelta(seconds=source.interval_s))
            return f"({_body(node.vector_selector, source)})[{window}:{step}]"
        return None

    text, changed = _render(parse(expr), replace)
    return text if changed else expr


def with_threshold(expr: str, threshold: float) -> str:
    """`expr` with its primary comparison (the one the near logic reads, the left side of any
    `and`/`unless`) compared with `threshold` instead (raises RewriteError without one)."""
    return _primary(parse(expr), threshold)


def _primary(node: pp.Expr, threshold: float) -> str:
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    if isinstance(node, pp.BinaryExpr) and str(node.op) in _SET_OPS:
        return f"({_primary(node.lhs, threshold)}) {node.op}{_modifier(node)} ({_text(node.rhs)})"
    if not (isinstance(node, pp.BinaryExpr) and str(node.op) in COMPARISON_OPS):
        raise RewriteError("the expression is not `<query> <op> <number>`")
    comparison = analyse(_text(node)).comparison
    if comparison is None:
        raise RewriteError("the expression is not `<query> <op> <number>`")
    mark = " bool" if comparison.return_bool else ""
    return f"({comparison.query}) {comparison.op}{mark} {threshold!r}"


def _recorded(node: pp.VectorSelector, records: Mapping[str, RecordSource]) -> RecordSource | None:
    name = selector(node).metric
    source = records.get(name) if name is not None else None
    if source is not None and (node.offset is not None or node.at is not None):
        raise RewriteError(f"{name} is read with offset or @, and the engine has no history of it")
    return source


def _body(node: pp.VectorSelector, source: RecordSource) -> str:
    """The recording rule's expression with its labels set and the selector's matchers
    applied."""
    body = source.expr
    for name, value in sorted(source.labels.items()):
        body = f"label_replace({body}, {_string(name)}, {_string(value)}, '', '')"
    for matcher in selector(node).matchers:
        body = _filter(body, matcher)
    return body


def _filter(body: str, matcher: LabelMatcher) -> str:
    """Keep the series of `body` that the matcher would select."""
    regex = matcher.value if matcher.op in ("=~", "!~") else re.escape(matcher.value)
    marked = f"label_replace({body}, '{_MARK}', '1', {_string(matcher.name)}, {_string(regex)})"
    one = f"label_replace(vector(1), '{_MARK}', '1', '', '')"
    op = "and" if matcher.op in ("=", "=~") else "unless"
    return f"label_replace(({marked}) {op} on ({_MARK}) {one}, '{_MARK}', '', '', '')"


def _render(node: pp.Expr, replace: Replace) -> tuple[str, bool]:
    """The expression's text with `replace` applied; False when nothing was replaced."""
    done = replace(node)
    if done is not None:
        return done, True
    parts = children(node)
    rendered = [_render(child, replace) for child in parts]
    if not any(changed for _, changed in rendered):
        return _text(node), False
    texts = [text for text, _ in rendered]
    if isinstance(node, pp.ParenExpr):
        return f"({texts[0]})", True
    if isinstance(node, pp.UnaryExpr):
        return f"-({texts[0]})", True
    if isinstance(node, pp.BinaryExpr):
        return f"({texts[0]}) {node.op}{_modifier(node)} ({texts[1]})", True
    if isinstance(node, pp.Call):
        return f"{node.func.name}({', '.join(texts)})", True
    if isinstance(node, pp.AggregateExpr):
        modifier = f" {node.modifier}" if node.modifier is not None else ""
        return f"{node.op}{modifier}({', '.join(texts)})", True
    if isinstance(node, pp.SubqueryExpr):
        whole, inner = _text(node), _text(node.expr)
        if not whole.startswith(inner):
            raise RewriteError(f"cannot rewrite the subquery {whole}")
        return f"({texts[0]}){whole[len(inner) :]}", True
    raise RewriteError(f"cannot rewrite {_text(node)}")


def _modifier(node: pp.BinaryExpr) -> str:
    text = str(node.modifier) if node.modifier is not None else ""
    return f" {text}" if text else ""


def _text(node: pp.Expr) -> str:
    return str(node)


def _string(value: str) -> str:
    return json.dumps(value)


def _duration(delta: timedelta) -> str:
    total_ms = round(delta.total_seconds() * 1000)
    return f"{total_ms // 1000}s" if total_ms % 1000 == 0 else f"{total_ms}ms"
