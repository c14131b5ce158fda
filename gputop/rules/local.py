"""Alert rules evaluated without Prometheus, from the MetricStore and the latest GPU samples.

Each `evaluate` is one evaluation at the clock's time, with Prometheus' semantics: a series
whose condition holds becomes pending, fires once it has held for `for`, stays firing for
`keep_firing_for` after the condition clears, then resolves. The recording rules of the
loaded files are evaluated first, in file order, so alerting rules built on the series they
record work as on Prometheus. Rules outside the local subset (see `promql.evaluator`) are
`unknown` with the reason "needs Prometheus: <what>"; an alert on a recorded series whose
recording rule needs Prometheus says which.

Like Prometheus, a rule is evaluated only at its group's evaluation interval (when the rule
file gives one), at the times of the interval's grid (the first time at once, when the store
holds nothing yet at the grid's last mark): a value that dips below the threshold
for a second between two evaluations does not reset a pending alert. The compared value
shown (and judged near) is the one read at that same evaluation, so a state and its value
never contradict each other; the compared values of the evaluations before it are its
recent series (near is judged from it: `gputop.rules.near`), filled from the stored history
at the first evaluation, at the same grid times, so a one-shot run with the same history
says what the dashboard says.
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
from gputop.promql.recorded import RecordedSeries
from gputop.rules.model import (
    DEFAULT_MARGIN,
    AlertState,
    RecordDef,
    RuleDef,
    RuleStatus,
    ValueHistory,
    analysis_of,
    series_status,
    sort_statuses,
    unknown_status,
)
from gputop.rules.near import TREND_MIN_HORIZON_S, TREND_POINTS

__all__ = ["NEEDS_PROMETHEUS", "LocalEvaluator"]

#: Prefix of the reason of every rule outside the local subset.
NEEDS_PROMETHEUS = "needs Prometheus: "
_BACKFILL_POINTS = 30  # at most: enough for a trend and a sparkline, cheap at the start


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
    next_step: float = -math.inf  # when it is evaluated next (the group's interval)
    values: dict[LabelKey, float] = field(default_factory=dict)  # compared, at the last one
    at: float = -math.inf  # the time of the last evaluation
    recorded: float = -math.inf  # the last mark of its grid whose compared values are kept


@dataclass(slots=True)
class _Record:
    record: RecordDef
    expr: Evaluator | None = None
    problem: str | None = None  # why it cannot be evaluated locally


class LocalEvaluator:
    """Evaluates rules locally; call `evaluate` at each evaluation time."""

    def __init__(
        self,
        rules: Sequence[RuleDef],
        *,
        clock: Clock,
        margin: float = DEFAULT_MARGIN,
        history: ValueHistory | None = None,
        records: Sequence[RecordDef] = (),
    ) -> None:
        self.clock = clock
        self.margin = margin
        self.history = history if history is not None else ValueHistory()
        names = frozenset(r.name for r in records)
        self.recorded = RecordedSeries(_longest_range(rules, records, names))
        self._records = [_prepare_record(r, names) for r in records]
        broken = {r.record.name: r.problem for r in self._records if r.problem is not None}
        self._rules = [_prepare(rule, names, broken) for rule in rules]

    @property
    def rules(self) -> list[RuleDef]:
        return [r.rule for r in self._rules]

    def unsupported(self) -> dict[str, str]:
        """Rule name → why it needs Prometheus, for the rules outside the local subset."""
        return {r.rule.name: r.problem for r in self._rules if r.problem is not None}

    def evaluate(self, store: MetricStore, gpus: Sequence[GpuSample]) -> list[RuleStatus]:
        """One evaluation of every rule at the clock's time; statuses worst first."""
        now = self.clock.now()
        ctx = EvalContext(
            now=now,
            store=store,
            gpus=gpu_labels(gpus),
            readings={g.key: g for g in gpus if g.state == "ok"},
            recorded=self.recorded,
        )
        for record in self._records:
            _record(record, ctx, self.recorded)
        out: list[RuleStatus] = []
        for entry in self._rules:
            out.extend(self._evaluate_rule(entry, ctx))
        self.history.prune(now)
        return sort_statuses(out)

    def _evaluate_rule(self, entry: _Rule, ctx: EvalContext) -> list[RuleStatus]:
        rule = entry.rule
        if entry.problem is not None or entry.expr is None or entry.analysis is None:
            return [unknown_status(rule, entry.problem or "cannot evaluate", source="local")]
        if ctx.now >= entry.next_step:
            interval = rule.interval_s
            # on the interval's grid, as Prometheus schedules a group, and evaluated there
            at = math.floor(ctx.now / interval) * interval if interval else ctx.now
            step = ctx if at == ctx.now else _at(ctx, at)
            try:
                if entry.at == -math.inf and at < ctx.now and _fresh_start(entry, ctx, step):
                    at, step = ctx.now, ctx  # no past to evaluate on: now, the grid from then
                result = _vector(entry.expr(step), rule)
                compared = _vector(entry.compared(step), rule) if entry.compared else {}
            except Unsupported as exc:
                return [unknown_status(rule, NEEDS_PROMETHEUS + str(exc), source="local")]
            except (EvalError, ArithmeticError, ValueError) as exc:
                return [unknown_status(rule, f"cannot evaluate: {exc}", source="local")]
            _step(entry, result, rule, at)
            entry.values = {_identity(k): v for k, v in compared.items()}
            entry.at = at
            if interval:  # the grid's next mark
                entry.next_step = (math.floor(at / interval) + 1) * interval
            if entry.compared is not None:
                self._record(entry, step)
        idents = list(entry.values) + [i for i in entry.active if i not in entry.values]
        out: list[RuleStatus] = []
        for ident in idents:
            alert = entry.active.get(ident)
            value: float | None = entry.values.get(ident, alert.value if alert else None)
            points = self.history.points((rule.group, rule.name, ident))
            if value is not None and (not points or points[-1][0] < entry.at):
                points.append((entry.at, value))  # between two marks of the grid
            out.append(
                series_status(
                    rule,
                    alert.state if alert else "inactive",
                    now=ctx.now,
                    value=value,
                    labels=dict(ident),
                    active_at=alert.active_at if alert else None,
                    margin=self.margin,
                    points=points,
                    step_s=rule.interval_s or self.history.spacing_s,
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

    def _record(self, entry: _Rule, ctx: EvalContext) -> None:
        """Keep the compared values at the marks of the evaluation grid (its interval, or
        every `spacing_s` for a rule evaluated at every reading): a rule's recent series. The
        first time, the marks before are filled from the store's past, so trends and
        sparklines work from the first evaluation, as for a one-shot run."""
        rule = entry.rule
        grid = rule.interval_s or self.history.spacing_s
        mark = math.floor(ctx.now / grid) * grid
        if not entry.backfilled:
            entry.backfilled = True
            span = max(rule.for_s, TREND_MIN_HORIZON_S, (TREND_POINTS + 1) * grid)
            for k in range(min(_BACKFILL_POINTS, math.ceil(span / grid)), 0, -1):
                self._record_at(entry, ctx, mark - k * grid)
        if mark > entry.recorded:
            self._record_at(entry, ctx, mark)

    def _record_at(self, entry: _Rule, ctx: EvalContext, t: float) -> None:
        assert entry.compared is not None
        try:
            values = _vector(entry.compared(ctx if t == ctx.now else _at(ctx, t)), entry.rule)
        except (Unsupported, EvalError, ArithmeticError, ValueError):
            return
        entry.recorded = t
        for key, value in values.items():
            self.history.record((entry.rule.group, entry.rule.name, _identity(key)), t, value)


def _fresh_start(entry: _Rule, now: EvalContext, mark: EvalContext) -> bool:
    """Whether the store holds nothing yet at the grid's last mark that it holds now (a start
    without a past to replay, as NVML's): the first evaluation is then made now."""
    if entry.compared is None:
        return False
    return not _vector(entry.compared(mark), entry.rule) and bool(
        _vector(entry.compared(now), entry.rule)
    )


def _at(ctx: EvalContext, t: float) -> EvalContext:
    """The same evaluation context at another time."""
    return EvalContext(t, ctx.store, ctx.gpus, ctx.readings, ctx.recorded)


def _prepare(rule: RuleDef, recorded: frozenset[str], broken: dict[str, str]) -> _Rule:
    try:
        analysis = rule.analysis
    except PromQLSyntaxError as exc:
        return _Rule(rule, problem=f"syntax error: {exc}")
    for metric in analysis.metrics:
        if metric in broken:
            why = broken[metric].removeprefix(NEEDS_PROMETHEUS)
            return _Rule(
                rule,
                analysis=analysis,
                problem=f"{NEEDS_PROMETHEUS}{why} (in the recording rule {metric})",
            )
    comparison = analysis.comparison
    try:
        expr = compile_query(rule.expr, recorded=recorded)
        compared = (
            compile_query(comparison.query, recorded=recorded) if comparison is not None else None
        )
    except Unsupported as exc:
        return _Rule(rule, analysis=analysis, problem=NEEDS_PROMETHEUS + str(exc))
    return _Rule(rule, analysis=analysis, expr=expr, compared=compared)


def _prepare_record(record: RecordDef, recorded: frozenset[str]) -> _Record:
    try:
        return _Record(record, expr=compile_query(record.expr, recorded=recorded))
    except PromQLSyntaxError as exc:
        return _Record(record, problem=f"syntax error: {exc}")
    except Unsupported as exc:
        return _Record(record, problem=NEEDS_PROMETHEUS + str(exc))


def _record(record: _Record, ctx: EvalContext, into: RecordedSeries) -> None:
    """One evaluation of a recording rule: its result, renamed and relabelled, recorded."""
    if record.expr is None:
        return
    try:
        value = record.expr(ctx)
    except (Unsupported, EvalError, ArithmeticError, ValueError):
        return  # nothing recorded this time, as when Prometheus' evaluation fails
    vector = {(): value} if isinstance(value, float) else value
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for key, v in vector.items():
        labels = {k: val for k, val in key if k != "__name__"}
        labels.update(record.record.labels)
        out[tuple(sorted(labels.items()))] = v
    into.record(record.record.name, ctx.now, out)


def _longest_range(
    rules: Sequence[RuleDef], records: Sequence[RecordDef], recorded: frozenset[str]
) -> float:
    """The longest range any rule reads of a recorded series: how much history to keep."""
    longest = 0.0
    for expr in [r.expr for r in rules] + [r.expr for r in records]:
        try:
            selectors = analysis_of(expr).selectors
        except PromQLSyntaxError:
            continue
        for sel in selectors:
            if sel.metric in recorded and sel.range_s:
                longest = max(longest, sel.range_s)
    return longest


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
