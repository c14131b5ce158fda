"""What the screens show of alert rules: plain data worked out from rule statuses, no widgets.

- `ShownRules` paces what reaches the screen: a rule that starts or stops pending or firing,
  or whose alert's fate in Alertmanager changes, shows at once; values, and near/ok, every
  `RULES_SHOWN_S` (a noisy value flapping around a margin would otherwise repaint the rules
  panel and the cards every tick).
- `RuleSparks` holds each rule's history sparkline, shifted once per bucket like the GPUs'.
- `panel_order` puts the worst first with a stable order within a state, and
  `rules_panel_view` words the rows of the rules panel (countdowns from the clock), the line
  that says the states are stale, or the note it shows instead.
- `rows_needed` is how many lines the panel needs so no firing or pending row is ever hidden.
- `chart_thresholds` gives the rule lines to draw on a GPU's chart, and those off its scale.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, overload

from gputop.core.labels import node_of
from gputop.core.models import GpuSample
from gputop.core.units import format_duration, format_since
from gputop.core.untrusted import visible
from gputop.rules.model import AlertFate, RuleStatus, State
from gputop.rules.text import (
    fate_stale_text,
    fate_text,
    rule_detail,
    rule_detail_short,
    rule_job,
    rule_title,
)
from gputop.ui.views.readings import status_matches_gpu

if TYPE_CHECKING:
    from gputop.rules.engine import RulesEngine  # the engine pulls the evaluator in

__all__ = [
    "COUNTDOWN_S",
    "RULES_SHOWN_S",
    "RULE_SPARK_BUCKET_S",
    "RowCache",
    "RuleRow",
    "RuleSparks",
    "RulesPanelView",
    "ShownRules",
    "bucket_means",
    "gpu_statuses",
    "panel_order",
    "rows_needed",
    "rule_row",
    "rules_panel_view",
    "stale_line",
]

#: How often rule values (not states) refresh on screen.
RULES_SHOWN_S = 5.0
#: A rule's history sparkline: one cell per this many seconds of evaluations.
RULE_SPARK_BUCKET_S = 15.0
#: A pending countdown more than a minute from firing moves in steps of this many seconds.
COUNTDOWN_S = 5.0

_RANK = {"firing": 0, "pending": 1, "near": 2, "unknown": 3, "ok": 4}
_SEVERITY = {"critical": 0, "page": 0, "error": 1, "warning": 2, "info": 3}


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One line of the rules panel, already worded: state, rule (and series), detail, history.

    `name` is the rule alone (cut in its middle first when space is short), `short` the
    detail's short form ("88>85 in 1m30s"), `status` what the row is about.
    """

    state: str  # firing | pending | near | ok | unknown
    title: str
    detail: str
    history: tuple[float | None, ...] = ()
    threshold: float | None = None
    name: str = ""
    short: str = ""
    key: Hashable = None
    status: RuleStatus | None = field(default=None, compare=False)
    job: str = ""  # who is on its GPU, in `title` after the series and " → "


@dataclass(frozen=True, slots=True)
class RulesPanelView:
    """The rules panel's content: its rows and subtitle, or a note instead of rows; `stale`
    is the line above the rows when they are the last known states of a failing source."""

    rows: Sequence[RuleRow] = ()
    subtitle: str = ""
    note: str | None = None
    stale: str | None = None


class ShownRules:
    """The statuses on screen, paced: states (and rows that come or go) at once, values every
    `period_s`."""

    def __init__(self, period_s: float = RULES_SHOWN_S) -> None:
        self.period_s = period_s
        self._shown: list[RuleStatus] = []
        self._states: list[tuple[str, Mapping[str, str], State, AlertFate | None]] = []
        self._at = -float("inf")
        self._given: list[RuleStatus] | None = None  # the last statuses compared

    def update(self, statuses: list[RuleStatus], now: float) -> list[RuleStatus]:
        if statuses is self._given and now - self._at < self.period_s:
            return self._shown  # asked again within a tick: nothing new to compare
        self._given = statuses
        # an alert's fate in Alertmanager (silenced, missing, ...) also shows at once
        states = [
            (st.name, st.labels, st.state, st.alertmanager)
            for st in statuses
            if st.state in _ACTIVE or (st.alertmanager and st.alertmanager != _NO_FATE)
        ]
        # rows that come or go (the first evaluation's) show at once, like states
        rows = len(statuses) != len(self._shown)
        if rows or states != self._states or now - self._at >= self.period_s:
            self._shown, self._states, self._at = statuses, states, now
        return self._shown


_ACTIVE = ("pending", "firing")
_NO_FATE = AlertFate()


def bucket_means(history: Sequence[float], per_cell: float) -> tuple[float, ...]:
    """Mean of each group of `per_cell` consecutive values."""
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
            self._sparks = {
                st.key: bucket_means(st.history, self.bucket_s / (st.history_step_s or 1.0))
                for st in statuses
            }
        return self._sparks


# ---- order and wording ------------------------------------------------------------------------


def _series_order(labels: Mapping[str, str]) -> tuple[object, ...]:
    """Node, then GPU index as a number (GPU 2 before GPU 10), then the other labels."""
    gpu = labels.get("gpu", "")
    index = int(gpu) if gpu.isdigit() else math.inf
    return (node_of(labels) or "", index, sorted(labels.items()))


def _order_key(st: RuleStatus) -> tuple[object, ...]:
    if st.state == "firing":
        first: tuple[object, ...] = (_SEVERITY.get(st.severity or "", 4),)
    elif st.state == "pending":
        fires_at = st.fires_at  # fixed while it stays pending: rows do not trade places
        first = (math.inf if fires_at is None else fires_at,)
    else:
        first = ()
    return (_RANK[st.state], *first, st.name, _series_order(st.labels))


def panel_order(statuses: Sequence[RuleStatus]) -> list[RuleStatus]:
    """Firing first, then pending (soonest to fire first), near, unknown, ok; within a state
    by rule name, node and GPU index, so a row keeps its place while its value moves."""
    return sorted(statuses, key=_order_key)


def rule_row(
    status: RuleStatus, spark: tuple[float | None, ...], now: float | None = None
) -> RuleRow:
    """A rule's row. What Alertmanager did with its alert: where it was routed, after the
    series; why it will not page (silenced, inhibited, missing), instead of the detail; and
    while Alertmanager cannot be read, that its fate is not known now, instead of the detail.
    The job on its GPU follows the series (" → inference/t2v-worker-1"). Its words hold rule
    names, labels, job names and reasons from outside: their controls are made visible."""
    title, detail, short = visible(rule_title(status)), visible(rule_detail(status, now)), ""
    job = visible(rule_job(status))
    if job:
        title = f"{title} → {job}"
    at = time.time() if now is None else now
    fate, am = visible(fate_text(status, at)), status.alertmanager
    name = visible(status.name)
    if status.state == "unknown":
        pass  # its reason says what matters: why it cannot be evaluated
    elif am is not None and am.failing:  # not known now: said in the detail, at every width
        if fate:
            detail, short = fate, visible(fate_stale_text(status, at, short=True))
    elif fate and am is not None and am.state == "active":
        title = f"{title}  {fate}"  # where it went, after the job
    elif fate:
        detail = short = fate
    if status.state == "unknown":  # an unknown rule's reason can be long: the wide column
        return RuleRow(
            status.state, f"{title} — {detail}", "", spark, status.threshold, name, "",
            status.key, status,
        )  # fmt: skip
    return RuleRow(
        status.state,
        title,
        detail,
        spark,
        status.threshold,
        name,
        short or visible(rule_detail_short(status, now)),
        status.key,
        status,
        job,
    )


class RowCache:
    """The worded rows of the last statuses, in panel order: sorted again only when the
    statuses (or their sparklines) change, and each row worded when it is first looked at
    (a rule set of thousands words the rows on screen, not the thousands). Between changes
    only pending rows are worded again, for their countdowns: every second in the last minute
    before firing, else every `COUNTDOWN_S` (the countdown then moves in steps of that,
    always down; a row repainted each second for a countdown minutes away would cost terminal
    bytes for nothing)."""

    def __init__(self) -> None:
        self._given: tuple[object, object] | None = None
        self._ordered: list[RuleStatus] = []
        self._sparks: dict[Hashable, tuple[float, ...]] = {}
        self._worded: dict[int, tuple[RuleRow, float]] = {}  # row -> (row, when worded)
        self._keys: list[object] | None = None  # each row's key, once asked
        self._counts: dict[str, int] = {}

    def rows(
        self,
        statuses: Sequence[RuleStatus],
        sparks: dict[Hashable, tuple[float, ...]],
        now: float | None,
    ) -> WordedRows:
        if self._given is None or self._given[0] is not statuses or self._given[1] is not sparks:
            self._given = (statuses, sparks)
            self._ordered = panel_order(statuses)
            self._sparks = sparks
            self._worded = {}
            self._keys = None
            self._counts = {}
            for st in statuses:
                self._counts[st.state] = self._counts.get(st.state, 0) + 1
        return WordedRows(self, now)

    def counts(self) -> dict[str, int]:
        """How many rows of each state."""
        return self._counts

    def keys(self) -> list[object]:
        """Each row's key (its rule and series), in order."""
        if self._keys is None:
            self._keys = [st.key for st in self._ordered]
        return self._keys

    def _row(self, i: int, now: float | None) -> RuleRow:
        held = self._worded.get(i)
        status = self._ordered[i]
        if held is not None:
            row, worded = held
            if status.state != "pending" or now is None:
                return row
            fires_at = status.fires_at
            soon = fires_at is not None and fires_at - now < 60.0
            if not soon and now - worded < COUNTDOWN_S:
                return row
        row = rule_row(status, self._sparks.get(status.key, ()), now)
        self._worded[i] = (row, -math.inf if now is None else now)
        return row


class WordedRows(Sequence[RuleRow]):
    """The rules panel's rows, in panel order, each worded when first looked at (see
    `RowCache`); their states and keys without wording any."""

    def __init__(self, cache: RowCache, now: float | None) -> None:
        self._cache = cache
        self._now = now

    def __len__(self) -> int:
        return len(self._cache._ordered)

    @overload
    def __getitem__(self, i: int) -> RuleRow: ...

    @overload
    def __getitem__(self, i: slice) -> list[RuleRow]: ...

    def __getitem__(self, i: int | slice) -> RuleRow | list[RuleRow]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._cache._row(i, self._now)

    @property
    def states(self) -> list[str]:
        """Each row's state, in order."""
        return [st.state for st in self._cache._ordered]

    def index(self, key: object, start: int = 0, stop: int | None = None) -> int:
        """The row about `key` (a status's key); ValueError when there is none."""
        keys = self._cache.keys()
        return keys.index(key, start, len(keys) if stop is None else stop)


def row_states(rows: Sequence[RuleRow]) -> list[str]:
    """Each row's state (without wording rows that are worded when looked at)."""
    return rows.states if isinstance(rows, WordedRows) else [r.state for r in rows]


def row_index(rows: Sequence[RuleRow], key: object) -> int | None:
    """The row about `key`, None when there is none."""
    if isinstance(rows, WordedRows):
        try:
            return rows.index(key)
        except ValueError:
            return None
    return next((i for i, r in enumerate(rows) if r.key == key), None)


def stale_line(engine: RulesEngine, now: float) -> str | None:
    """When Prometheus' rules cannot be read but states are known: how old they are, why,
    and when the next try is due."""
    if engine.error is None or not engine.statuses:
        return None
    since = "" if engine.last_ok is None else f" since {format_since(engine.last_ok, now)}"
    retry = engine.retry_at
    due = "" if retry is None else f" · retry in {format_duration(max(0.0, round(retry - now)))}"
    return visible(f"STALE{since}: {engine.error}{due} · r: retry now")


def rules_panel_view(
    engine: RulesEngine | None,
    statuses: Sequence[RuleStatus],
    sparks: dict[Hashable, tuple[float, ...]],
    *,
    remote: bool,
    now: float | None = None,
    cache: RowCache | None = None,
) -> RulesPanelView:
    """The rows of the rules panel, worst first, or why there are none (`cache`: keep the
    worded rows between calls)."""
    if engine is None:
        return RulesPanelView(note="no rules")
    if not statuses:
        if engine.error is not None:
            return RulesPanelView(note=visible(f"Prometheus rules unavailable: {engine.error}"))
        if engine.note is not None:  # the engine says why it has nothing (no ruler behind it)
            return RulesPanelView(note=engine.note)
        waiting = engine.rules or remote
        return RulesPanelView(note="waiting for the first evaluation" if waiting else "no rules")
    cache = cache or RowCache()
    rows = cache.rows(statuses, sparks, now)
    # near comes and goes with noisy values: the border (a whole repaint) counts only these
    counts = {state: cache.counts().get(state, 0) for state in _ACTIVE[::-1]}
    summary = " ".join(f"{n} {state}" for state, n in counts.items() if n) or "none firing"
    where = "Prometheus" if remote else engine.origin
    stale = stale_line(engine, now) if now is not None else None
    return RulesPanelView(rows=rows, subtitle=f"{summary} · {where}", stale=stale)


def rows_needed(
    statuses: Sequence[RuleStatus], *, stale: bool = False, scrolling: bool = False
) -> int:
    """Lines the rules panel needs so that every firing and pending row is on screen, with the
    line counting what does not fit (and the stale line, when there is one); `scrolling` (the
    panel has the focus): also a row under the cursor between the counts above and below."""
    active = sum(1 for st in statuses if st.state in _ACTIVE)
    rest = len(statuses) - active
    return active + ((3 if scrolling else 1) if rest else 0) + (1 if stale else 0)


# ---- rules of one GPU (their thresholds on its charts: `views.thresholds`) --------------------


def gpu_statuses(statuses: Sequence[RuleStatus], gpu: GpuSample) -> list[RuleStatus]:
    """The statuses of rules about this GPU, worst first."""
    return panel_order([st for st in statuses if st.labels and status_matches_gpu(st.labels, gpu)])
