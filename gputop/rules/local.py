"""Alert rules evaluated without Prometheus, from the MetricStore and the latest GPU samples.

Each `evaluate` is one evaluation at the clock's time, with Prometheus' semantics: a series
whose condition holds becomes pending, fires once it has held for `for`, stays firing for
`keep_firing_for` after the condition clears, then resolves. Rules outside the local subset
(see localquery) are `unknown` with the reason "needs Prometheus: <what>".

Like Prometheus, a rule's alert states move only at its group's evaluation interval (when the
rule file gives one): a value that dips below the threshold for a second between two
evaluations does not reset a pending alert. The compared values (near, sparklines) are read
at every evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from gputop.core.clock import Clock
from gputop.core.labels import LabelKey
from gputop.core.models import GpuSample
from gputop.core.store import MetricStore
from gputop.promql.analysis import Analysis, PromQLSyntaxError
from gputop.promql.evaluator import (
    EvalContext,
    EvalError,
    Evaluator,
    Unsupported,
    Vector,
    compile_query,
    gpu_labels,
)
from gputop.rules.model import (
    DEFAULT_MARGIN,
    TREND_MIN_WINDOW_S,
    AlertState,
    RuleDef,
    RuleStatus,
    ValueHistory,
    series_status,
    sort_statuses,
    unknown_status,
)

__all__ = ["NEEDS_PROMETHEUS", "LocalEvaluator"]

#: Prefix of the reason of every rule outside the local subset.
NEEDS_PROMETHEUS = "needs Prometheus: "
_BACKFILL_POINTS = 30  # enough for a trend, cheap enough for the first evaluation


@dataclass(slots=True)
class _Alert:
    state: AlertState
    active_at: float
    value: float
    keep_firing_since: float | None = None


@dataclass(slots=True)
class _Rule:
    rule: RuleDef
    analysis: Analysis | None = None
    expr: Evaluator | None = None
    compared: Evaluator | None = None
    problem: str | None = None  # why it cannot be evaluated locally
    active: dict[LabelKey, _Alert] = field(default_factory=dict)
    backfilled: bool = False
    next_step: float = -math.inf  # when the alert states move next (the group's interval)


class LocalEvaluator:
    """Evaluates rules locally; call `evaluate` at each evaluation time."""

    def __init__(
        self,
        rules: Sequence[RuleDef],
        *,
        clock: Clock,
        margin: float = DEFAULT_MARGIN,
        history: ValueHistory | None = None,
    ) -> None:
        self.clock = clock
        self.margin = margin
        self.history = history if history is not None else ValueHistory()
        self._rules = [_prepare(rule) for rule in rules]

    @property
    def rules(self) -> list[RuleDef]:
        return [r.rule for r in self._rules]

    def unsupported(self) -> dict[str, str]:
        """Rule name → why it needs Prometheus, for the rules outside the local subset."""
        return {r.rule.name: r.problem for r in self._rules if r.problem is not None}

    def evaluate(self, store: MetricStore, gpus: Sequence[GpuSample]) -> list[RuleStatus]:
        """One evaluation of every rule at the clock's time; statuses worst first."""
        now = self.clock.now()
        ctx = EvalContext(now=now, store=store, gpus=gpu_labels(gpus))
        out: list[RuleStatus] = []
        for entry in self._rules:
            out.extend(self._evaluate_rule(entry, ctx))
        self.history.prune(now)
        return sort_statuses(out)

    def _evaluate_rule(self, entry: _Rule, ctx: EvalContext) -> list[RuleStatus]:
        rule = entry.rule
        if entry.problem is not None or entry.expr is None or entry.analysis is None:
            return [unknown_status(rule, entry.problem or "cannot evaluate", source="local")]
        due = ctx.now >= entry.next_step
        try:
            result = _vector(entry.expr(ctx), rule) if due else {}
            compared = _vector(entry.compared(ctx), rule) if entry.compared else {}
        except Unsupported as exc:
            return [unknown_status(rule, NEEDS_PROMETHEUS + str(exc), source="local")]
        except (EvalError, ArithmeticError, ValueError) as exc:
            return [unknown_status(rule, f"cannot evaluate: {exc}", source="local")]
        if due:
            _step(entry, result, rule, ctx.now)
            interval = rule.interval_s
            if interval:  # on the interval's grid, as Prometheus schedules a group
                entry.next_step = (math.floor(ctx.now / interval) + 1) * interval
        if entry.compared is not None and not entry.backfilled:
            self._backfill(entry, ctx)
        values = {_identity(k): v for k, v in compared.items()}
        idents = list(values) + [i for i in entry.active if i not in values]
        out: list[RuleStatus] = []
        for ident in idents:
            alert = entry.active.get(ident)
            value = values.get(ident, alert.value if alert else None)
            key = (rule.group, rule.name, ident)
            self.history.record(key, ctx.now, value)
            out.append(
                series_status(
                    rule,
                    alert.state if alert else "inactive",
                    now=ctx.now,
                    value=value,
                    labels=dict(ident),
                    active_at=alert.active_at if alert else None,
                    margin=self.margin,
                    points=self.history.points(key),
                    source="local",
                    analysis=entry.analysis,
                )
            )
        if not out:
            if entry.compared is None:
                out.append(
                    series_status(
                        rule, "inactive", now=ctx.now, source="local", analysis=entry.analysis
                    )
                )
            else:
                query = entry.analysis.comparison.query if entry.analysis.comparison else ""
                out.append(unknown_status(rule, f"no local data for {query}", source="local"))
        return out

    def _backfill(self, entry: _Rule, ctx: EvalContext) -> None:
        """Seed the trend history from the store's past, once, so trends work at start-up."""
        entry.backfilled = True
        assert entry.compared is not None
        window = max(entry.rule.for_s, TREND_MIN_WINDOW_S)
        step = max(self.history.spacing_s, window / _BACKFILL_POINTS)
        t = ctx.now - window
        while t < ctx.now:
            past = EvalContext(now=t, store=ctx.store, gpus=ctx.gpus)
            try:
                values = _vector(entry.compared(past), entry.rule)
            except (Unsupported, EvalError, ArithmeticError, ValueError):
                return
            for key, value in values.items():
                self.history.record((entry.rule.group, entry.rule.name, _identity(key)), t, value)
            t += step


def _prepare(rule: RuleDef) -> _Rule:
    try:
        analysis = rule.analysis
    except PromQLSyntaxError as exc:
        return _Rule(rule, problem=f"syntax error: {exc}")
    comparison = analysis.comparison
    try:
        expr = compile_query(rule.expr)
        compared = compile_query(comparison.query) if comparison is not None else None
    except Unsupported as exc:
        return _Rule(rule, analysis=analysis, problem=NEEDS_PROMETHEUS + str(exc))
    return _Rule(rule, analysis=analysis, expr=expr, compared=compared)


def _step(entry: _Rule, result: Vector, rule: RuleDef, now: float) -> None:
    """One evaluation of the alert state machine, as Prometheus' AlertingRule.Eval does it."""
    holding = {_identity(k): v for k, v in result.items()}
    for ident, value in holding.items():
        alert = entry.active.get(ident)
        if alert is not None:
            alert.value = value
            alert.keep_firing_since = None  # the condition holds again
        else:
            entry.active[ident] = _Alert("pending", active_at=now, value=value)
    for ident, alert in list(entry.active.items()):
        if ident not in holding:
            if alert.state == "firing" and rule.keep_firing_for_s > 0:
                if alert.keep_firing_since is None:
                    alert.keep_firing_since = now
                if now - alert.keep_firing_since < rule.keep_firing_for_s:
                    continue
            del entry.active[ident]  # resolved (firing) or reset (pending)
            continue
        if alert.state == "pending" and now - alert.active_at >= rule.for_s:
            alert.state = "firing"


def _vector(value: float | Vector, rule: RuleDef) -> Vector:
    if isinstance(value, float):
        raise EvalError(f"{rule.name}: the expression is a scalar, not a vector")
    return value


def _identity(key: LabelKey) -> LabelKey:
    return tuple((k, v) for k, v in key if k != "__name__")
