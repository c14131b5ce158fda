"""PromQL's binary operators on instant vectors and scalars, with its label matching rules.

Vectors are `{labels: value}` with labels as sorted (name, value) pairs, `__name__` included
while an operation keeps it. What follows Prometheus' engine: arithmetic and `bool` drop the
metric name; a filtering comparison keeps the left value; one-to-one matching is on all
labels but the name (or `on`/`ignoring` ones), and a one-to-one result keeps only the `on`
labels (drops the `ignoring` ones); `and`/`or`/`unless` compare those signatures.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

from gputop.core.labels import LabelKey
from gputop.promql.analysis import compare

__all__ = [
    "ARITHMETIC",
    "COMPARISONS",
    "SET_OPS",
    "EvalError",
    "Matching",
    "Value",
    "Vector",
    "binary",
    "drop_name",
]

Vector = dict[LabelKey, float]
Value = float | Vector

ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": lambda a, b: a / b if b else (math.copysign(math.inf, a) if a else math.nan),
    "%": lambda a, b: math.fmod(a, b) if b else math.nan,
    "^": lambda a, b: a**b,
}
COMPARISONS = frozenset({">", "<", ">=", "<=", "==", "!="})
SET_OPS = frozenset({"and", "or", "unless"})


class EvalError(Exception):
    """The expression is supported but cannot be evaluated on this data."""


@dataclass(frozen=True, slots=True)
class Matching:
    """A binary operator's modifiers: `on(...)` (else `ignoring(...)`) and `bool`."""

    on: bool = False
    labels: frozenset[str] = frozenset()
    return_bool: bool = False

    def signature(self, key: LabelKey) -> LabelKey:
        if self.on:
            return tuple((k, v) for k, v in key if k in self.labels)
        return tuple((k, v) for k, v in key if k not in self.labels and k != "__name__")

    def result_key(self, op: str, key: LabelKey) -> LabelKey:
        if op in ARITHMETIC or self.return_bool:
            key = drop_name(key)
        if self.on:
            return tuple((k, v) for k, v in key if k in self.labels)
        return tuple((k, v) for k, v in key if k not in self.labels)


def binary(op: str, a: Value, b: Value, matching: Matching) -> Value:
    """`a op b` for scalars and vectors."""
    if op in SET_OPS:
        if isinstance(a, float) or isinstance(b, float):
            raise EvalError(f"{op} needs vectors on both sides")
        return _set_op(op, a, b, matching)
    if isinstance(a, float):
        if isinstance(b, float):
            result = _apply(op, a, b, matching.return_bool, a)  # scalar comparisons use bool
            return 0.0 if result is None else result
        return _vector_scalar(op, b, a, matching.return_bool, vector_left=False)
    if isinstance(b, float):
        return _vector_scalar(op, a, b, matching.return_bool, vector_left=True)
    return _vector_vector(op, a, b, matching)


def drop_name(key: LabelKey) -> LabelKey:
    return tuple((k, v) for k, v in key if k != "__name__")


def _apply(op: str, a: float, b: float, return_bool: bool, keep: float) -> float | None:
    """Arithmetic result; for a comparison the kept value, 0/1 with bool, None to drop."""
    if op in ARITHMETIC:
        return ARITHMETIC[op](a, b)
    holds = compare(op, a, b)
    if return_bool:
        return 1.0 if holds else 0.0
    return keep if holds else None


def _vector_scalar(
    op: str, vec: Vector, scalar: float, return_bool: bool, *, vector_left: bool
) -> Vector:
    drop = op in ARITHMETIC or return_bool
    out: Vector = {}
    for key, v in vec.items():
        x, y = (v, scalar) if vector_left else (scalar, v)
        result = _apply(op, x, y, return_bool, v)
        if result is not None:
            out[drop_name(key) if drop else key] = result
    return out


def _vector_vector(op: str, a: Vector, b: Vector, matching: Matching) -> Vector:
    right: dict[LabelKey, float] = {}
    for key, v in b.items():
        sig = matching.signature(key)
        if sig in right:
            raise EvalError(f"many-to-many matching: duplicate series for {dict(sig)}")
        right[sig] = v
    out: Vector = {}
    for key, v in a.items():
        other = right.get(matching.signature(key))
        if other is None:
            continue
        result = _apply(op, v, other, matching.return_bool, v)
        if result is None:
            continue
        rkey = matching.result_key(op, key)
        if rkey in out:
            raise EvalError(f"many-to-many matching: duplicate series for {dict(rkey)}")
        out[rkey] = result
    return out


def _set_op(op: str, a: Vector, b: Vector, matching: Matching) -> Vector:
    right = {matching.signature(k) for k in b}
    if op == "and":
        return {k: v for k, v in a.items() if matching.signature(k) in right}
    if op == "unless":
        return {k: v for k, v in a.items() if matching.signature(k) not in right}
    left = {matching.signature(k) for k in a}
    out = dict(a)
    out.update({k: v for k, v in b.items() if matching.signature(k) not in left})
    return out
