"""What the screens show of alert rules: plain data worked out from rule statuses, no widgets.

- `ShownRules` paces what reaches the screen: a rule that starts or stops pending or firing,
  or whose alert's fate in Alertmanager changes, shows at once; values, and near/ok, every
  `RULES_SHOWN_S` (a noisy value flapping around a margin would otherwise repaint the rules
  panel and the cards every tick).
- `RuleSparks` holds each rule's history sparkline, shifted once per bucket like the GPUs'.
- `rules_panel_view` words the rows of the rules panel, or the note it shows instead.
- `thresholds` gives the rule lines to draw on a GPU's chart.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from gputop.core.models import GpuSample
from gputop.rules.engine import RulesEngine
from gputop.rules.model import AlertFate, RuleStatus, State
from gputop.rules.text import fate_text, rule_detail, rule_title
from gputop.ui.view import rule_metric, status_matches_gpu

__all__ = [
    "RULES_SHOWN_S",
    "RULE_SPARK_BUCKET_S",
    "RuleRow",
    "RuleSparks",
    "RulesPanelView",
    "ShownRules",
    "bucket_means",
    "rules_panel_view",
    "thresholds",
]

#: How often rule values (not states) refresh on screen.
RULES_SHOWN_S = 5.0
#: A rule's history sparkline: one cell per this many seconds of evaluations.
RULE_SPARK_BUCKET_S = 15.0


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One line of the rules panel, already worded: state, rule (and series), detail, history."""

    state: str  # firing | pending | near | ok | unknown
    title: str
    detail: str
    history: tuple[float | None, ...] = ()
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class RulesPanelView:
    """The rules panel's content: its rows and subtitle, or a note instead of rows."""

    rows: tuple[RuleRow, ...] = ()
    subtitle: str = ""
    note: str | None = None


class ShownRules:
    """The statuses on screen, paced: states at once, values every `period_s`."""

    def __init__(self, period_s: float = RULES_SHOWN_S) -> None:
        self.period_s = period_s
        self._shown: list[RuleStatus] = []
        self._states: list[tuple[str, Mapping[str, str], State, AlertFate | None]] = []
        self._at = -float("inf")

    def update(self, statuses: list[RuleStatus], now: float) -> list[RuleStatus]:
        # an alert's fate in Alertmanager (silenced, missing, ...) also shows at once
        states = [
            (st.name, st.labels, st.state, st.alertmanager)
            for st in statuses
            if st.state in _ACTIVE or (st.alertmanager and st.alertmanager != _NO_FATE)
        ]
        if states != self._states or now - self._at >= self.period_s:
            self._shown, self._states, self._at = statuses, states, now
        return self._shown


_ACTIVE = ("pending", "firing")
_NO_FATE = AlertFate()


def bucket_means(history: Sequence[float], per_cell: float) -> tuple[float, ...]:
    """Mean of each group of `per_cell` consecutive values (evaluations are ~1 s apart)."""
    n = max(1, round(per_cell))
    full = len(history) - len(history) % n
    return tuple(sum(history[i : i + n]) / n for i in range(0, full, n))


class RuleSparks:
    """Each rule series' sparkline, recomputed only when a bucket closes."""

    def __init__(self, bucket_s: float = RULE_SPARK_BUCKET_S) -> None:
        self.bucket_s = bucket_s
        self._epoch = -1
        self._sparks: dict[Hashable, tuple[float, ...]] = {}

    def get(self, statuses: Sequence[RuleStatus], now: float) -> dict[Hashable, tuple[float, ...]]:
        epoch = int(now // self.bucket_s)
        if epoch != self._epoch:
            self._epoch = epoch
            self._sparks = {st.key: bucket_means(st.history, self.bucket_s) for st in statuses}
        return self._sparks


def rule_row(status: RuleStatus, spark: tuple[float, ...], now: float = 0.0) -> RuleRow:
    """A rule's row. What Alertmanager did with its alert: where it was routed, after the
    series; why it will not page (silenced, inhibited, missing), instead of the detail."""
    title, detail = rule_title(status), rule_detail(status)
    fate = fate_text(status, now)
    if fate and status.alertmanager is not None and status.alertmanager.state == "active":
        title = f"{title}  {fate}"
    elif fate:
        detail = fate
    if status.state == "unknown":  # an unknown rule's reason can be long: the wide column
        return RuleRow(status.state, f"{title} — {detail}", "", spark, status.threshold)
    return RuleRow(status.state, title, detail, spark, status.threshold)


def rules_panel_view(
    engine: RulesEngine | None,
    statuses: Sequence[RuleStatus],
    sparks: dict[Hashable, tuple[float, ...]],
    *,
    remote: bool,
    now: float = 0.0,
) -> RulesPanelView:
    """The rows of the rules panel, worst first, or why there are none."""
    if engine is None:
        return RulesPanelView(note="no rules")
    if engine.error is not None:
        return RulesPanelView(note=f"Prometheus rules unavailable: {engine.error}")
    if not statuses:
        waiting = engine.rules or remote
        return RulesPanelView(note="waiting for the first evaluation" if waiting else "no rules")
    rows = tuple(rule_row(st, sparks.get(st.key, ()), now) for st in statuses)
    # near comes and goes with noisy values: the border (a whole repaint) counts only these
    counts = {state: sum(1 for st in statuses if st.state == state) for state in _ACTIVE[::-1]}
    summary = " ".join(f"{n} {state}" for state, n in counts.items() if n) or "none firing"
    where = "Prometheus" if remote else engine.origin
    return RulesPanelView(rows=rows, subtitle=f"{summary} · {where}")


def thresholds(
    statuses: Sequence[RuleStatus], gpu: GpuSample | None, metric_key: str
) -> list[tuple[str, float]]:
    """(rule, threshold) lines to draw on a GPU's chart of `metric_key`, lowest first."""
    out: dict[str, float] = {}
    for st in statuses:
        mapped = rule_metric(st.query)
        if mapped is None or st.threshold is None or mapped[0] != metric_key:
            continue
        if st.labels and gpu is not None and not status_matches_gpu(st.labels, gpu):
            continue
        out[st.name] = st.threshold / mapped[1]
    return sorted(out.items(), key=lambda item: item[1])
