"""`absent-join`: a join or grouping on a label that `absent()`'s result cannot have.

`absent(x{job="a"})` returns one series whose only labels are those of its selector's `=`
matchers (`{job="a"}`); of any other argument, a series with no labels at all. So
`up == 0 and on(instance) absent(...)` can match only series without an `instance` label:
written for series that have one, it never fires (`unless` never removes anything, arithmetic
gives nothing), and `sum by (gpu) (absent(...))` never has the `gpu` its alert is routed by.
`or` is left alone (absent's series is added whatever it matches), and so is a side that
surely has no such label (a number, `vector()`, an aggregation without it), where the join
works as a gate.
"""

from __future__ import annotations

import re

import promql_parser as pp

from gputop.promql.analysis import children, parse, selector
from gputop.promql.positions import token_offsets
from gputop.rules.entries import Position, RuleEntry

__all__ = ["absent_joins"]

_ABSENT = frozenset({"absent", "absent_over_time"})
_LABEL_ADDING = frozenset({"label_replace", "label_join"})
_IN_LABEL_LIST = re.compile(r"\b(?:on|by|group_left|group_right)\s*\([^()]*$")
_OUTCOME = {
    "and": "so this never fires",
    "unless": "so `unless` never removes anything",
}

Problem = tuple[str, str, Position, str]


def absent_joins(entry: RuleEntry) -> list[Problem]:
    out: list[Problem] = []
    _walk(parse(entry.expr), entry, out)
    return out


def _walk(node: pp.Expr, entry: RuleEntry, out: list[Problem]) -> None:
    if isinstance(node, pp.BinaryExpr):
        _join(node, entry, out)
    elif isinstance(node, pp.AggregateExpr):
        _grouping(node, entry, out)
    for child in children(node):
        _walk(child, entry, out)


def _join(node: pp.BinaryExpr, entry: RuleEntry, out: list[Problem]) -> None:
    matching = node.modifier.matching if node.modifier is not None else None
    op = str(node.op)
    if matching is None or op == "or" or "Include" not in str(matching.type):
        return  # only on(...) names the labels that must be equal
    for side, other in ((node.lhs, node.rhs), (node.rhs, node.lhs)):
        found = _absent_labels(side)
        if found is None:
            continue
        call, labels = found
        for label in matching.labels:
            if label in labels or _lacks(other, label):
                continue
            outcome = _OUTCOME.get(op, "so this gives no result")
            message = (
                f"on({label}) joins with {call}, whose one series has only the labels its "
                f"selector's `=` matchers give ({_listed(labels)}): it can match no series "
                f"with a {label} label, {outcome}"
            )
            out.append(("absent-join", f"{call}:{label}", _label_at(entry, label), message))


def _grouping(node: pp.AggregateExpr, entry: RuleEntry, out: list[Problem]) -> None:
    modifier = node.modifier
    if modifier is None or "By" not in str(modifier.type):
        return
    found = _absent_labels(node.expr)
    if found is None:
        return
    call, labels = found
    for label in modifier.labels:
        if label not in labels:
            message = (
                f"by ({label}) groups {call}, whose one series has only the labels its "
                f"selector's `=` matchers give ({_listed(labels)}): the result never has "
                f"a {label} label"
            )
            out.append(("absent-join", f"{call}:{label}", _label_at(entry, label), message))


def _absent_labels(node: pp.Expr) -> tuple[str, frozenset[str]] | None:
    """(the call as written, the labels its series can have) when `node` is absent()'s
    result, seen through parentheses, comparisons with a number and label_replace()."""
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    if isinstance(node, pp.BinaryExpr) and _is_number(node.rhs) and not _is_number(node.lhs):
        return _absent_labels(node.lhs)
    if not isinstance(node, pp.Call):
        return None
    name = node.func.name
    if name in _LABEL_ADDING and node.args:
        inner = _absent_labels(node.args[0])
        target = node.args[1] if len(node.args) > 1 else None
        if inner is None or not isinstance(target, pp.StringLiteral):
            return inner
        return inner[0], inner[1] | {str(target.val)}
    if name not in _ABSENT or not node.args:
        return None
    arg = node.args[0]
    if isinstance(arg, pp.MatrixSelector):
        arg = arg.vector_selector
    if not isinstance(arg, pp.VectorSelector):
        return f"{name}(...)", frozenset()
    sel = selector(arg)
    labels = frozenset(m.name for m in sel.matchers if m.op == "=" and m.value)
    return f"{name}({sel.metric or '...'})", labels


def _lacks(node: pp.Expr, label: str) -> bool:
    """Whether the series of `node` surely have no such label."""
    while isinstance(node, pp.ParenExpr):
        node = node.expr
    if _is_number(node):
        return True
    if isinstance(node, pp.Call) and node.func.name in ("vector", "time", "scalar"):
        return True
    if isinstance(node, pp.AggregateExpr):
        modifier = node.modifier
        if modifier is None:
            return True
        return "By" in str(modifier.type) and label not in modifier.labels
    if isinstance(node, pp.BinaryExpr) and _is_number(node.rhs):
        return _lacks(node.lhs, label)
    return False


def _is_number(node: pp.Expr) -> bool:
    while isinstance(node, pp.ParenExpr | pp.UnaryExpr):
        node = node.expr
    return isinstance(node, pp.NumberLiteral)


def _listed(labels: frozenset[str]) -> str:
    return ", ".join(sorted(labels)) if labels else "none"


def _label_at(entry: RuleEntry, label: str) -> Position:
    """Where the label is written in a label list (`on (...)`, `by (...)`)."""
    for offset in token_offsets(entry.expr, label):
        if _IN_LABEL_LIST.search(entry.expr[:offset]):
            return entry.position_at(offset)
    return entry.expr_position
