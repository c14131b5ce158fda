"""The selectors of a rule as the checks see them: in the order they are written, where each
is written, the function each is an argument of, and the comparison each reaches without a
rate in between (`sum(x) > 5` compares x raw; `rate(x[5m]) > 5` does not) — `exact` when
its values reach it unchanged in range too (`max(x) > 5`, not `sum(x) > 5` or `x * 100 > 5`).
"""

from __future__ import annotations

from dataclasses import dataclass

import promql_parser as pp

from gputop.promql.analysis import COMPARISON_OPS, Selector, children, parse, selector
from gputop.promql.positions import SelectorSpan, selector_spans
from gputop.promql.units import VALUE_KEEPING_CALLS, constant
from gputop.rules.entries import Position, RuleEntry

__all__ = ["Site", "site_position", "sites"]

_KEEPING_AGGREGATIONS = frozenset({"avg", "min", "max", "topk", "bottomk", "quantile"})
# What keeps the kind (a counter stays a raw counter) but not the range.
_KIND_KEEPING_AGGREGATIONS = _KEEPING_AGGREGATIONS | {"sum"}

# (op, threshold, exact) of the comparison a selector's values reach.
_Compared = tuple[str, float, bool]


@dataclass(frozen=True, slots=True)
class Site:
    """One selector of a rule: which it is, where it is written, and what surrounds it."""

    index: int
    selector: Selector
    span: SelectorSpan | None
    call: str | None  # the function it is the direct argument of
    compared: tuple[str, float] | None  # (op, threshold) it is compared with, without a rate
    exact: bool = False  # its values reach that comparison unchanged in range
    in_absent: bool = False  # inside absent() or absent_over_time(): meant to select nothing


def sites(entry: RuleEntry) -> list[Site]:
    """The selectors of a rule in the order they are written, each with its span."""
    walker = _SiteWalker()
    walker.walk(parse(entry.expr), None, None)
    found = walker.found
    spans = selector_spans(entry.expr)
    aligned = len(spans) == len(found)
    return [
        Site(
            i,
            sel,
            spans[i] if aligned else None,
            call,
            compared[:2] if compared else None,
            bool(compared and compared[2]),
            in_absent,
        )
        for i, (sel, call, compared, in_absent) in enumerate(found)
    ]


class _SiteWalker:
    """Visits selectors in the parser's order (the order they are written), noting the call
    each is an argument of and the comparison it reaches with its value unchanged."""

    def __init__(self) -> None:
        self.found: list[tuple[Selector, str | None, _Compared | None, bool]] = []
        self.absent = 0  # how many absent() calls enclose the node being walked

    def walk(self, node: pp.Expr, call: str | None, compared: _Compared | None) -> None:
        if isinstance(node, pp.MatrixSelector):
            base = selector(node.vector_selector)
            ranged = Selector(base.metric, base.matchers, node.range.total_seconds())
            self.found.append((ranged, call, compared, self.absent > 0))
        elif isinstance(node, pp.VectorSelector):
            self.found.append((selector(node), call, compared, self.absent > 0))
        elif isinstance(node, pp.BinaryExpr):
            self.binary(node, compared)
        elif isinstance(node, pp.Call):
            keep = compared if node.func.name in VALUE_KEEPING_CALLS else None
            absent = node.func.name in ("absent", "absent_over_time")
            self.absent += absent
            for child in children(node):
                self.walk(child, node.func.name, keep)
            self.absent -= absent
        elif isinstance(node, pp.AggregateExpr):
            op = str(node.op)
            keep = compared if op in _KIND_KEEPING_AGGREGATIONS else None
            if keep is not None and op not in _KEEPING_AGGREGATIONS:
                keep = (keep[0], keep[1], False)
            if isinstance(node.param, pp.Expr):
                self.walk(node.param, None, None)
            self.walk(node.expr, None, keep)
        else:
            for child in children(node):
                self.walk(child, None, compared)

    def binary(self, node: pp.BinaryExpr, compared: _Compared | None) -> None:
        op = str(node.op)
        bool_modifier = node.modifier is not None and node.modifier.return_bool
        lhs, rhs = constant(node.lhs), constant(node.rhs)
        one_number = (lhs is None) != (rhs is None)
        if op in COMPARISON_OPS and not bool_modifier and one_number:
            if rhs is not None:
                self.walk(node.lhs, None, (op, rhs, True))
            elif lhs is not None:
                self.walk(node.rhs, None, (COMPARISON_OPS[op], lhs, True))
            return
        if op in ("*", "/", "+", "-") and one_number:
            scaled = (compared[0], compared[1], False) if compared else None
            self.walk(node.lhs, None, scaled if lhs is None else None)
            self.walk(node.rhs, None, scaled if rhs is None else None)
            return
        self.walk(node.lhs, None, compared if op in ("and", "unless") else None)
        self.walk(node.rhs, None, None)


def site_position(entry: RuleEntry, site: Site, label: str | None = None) -> Position:
    """Where a selector is written: its name (or `{`), or one of its label matchers."""
    if site.span is None:
        return entry.locate(site.selector.metric) if site.selector.metric else entry.expr_position
    if label is not None:
        at = site.span.matcher_offset(label)
        if at is not None:
            return entry.position_at(at)
    return entry.position_at(site.span.start)
