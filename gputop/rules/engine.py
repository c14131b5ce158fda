"""The rules engine: the statuses of every alerting rule, from Prometheus or evaluated locally.

- With Prometheus: its own rules and their states (`/api/v1/rules`), with near judged from
  the range of each rule's compared side (never one query per series): its last few values at
  the rule's own evaluations, the last the one the rule was evaluated on; the compared sides of
  a group are asked together, a few requests at a time (`gputop.rules.recent`). A range already
  read for the same evaluation is not asked again; thousands of rules are worked on off the
  event loop.
- Without it: rule files (or the built-in pack) evaluated from the local history, with
  Prometheus' `for` and `keep_firing_for` semantics, their recording rules first.

Either way the statuses pass through a `StatusKeeper` (rows of lost GPUs).
When Prometheus' rules cannot be read, the last statuses stay, with `error` saying why and
`last_ok` since when; retries follow `core.backoff.source_backoff` (1 s doubling to 8 s), so
a Prometheus that comes back is seen within seconds, and `retry_now` skips the wait.

`notes` says what the screen and `--once` should say beside the rules, e.g. that a loaded
file holds no alerting rules (so nothing from it can ever show).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from gputop.core.backoff import source_backoff
from gputop.core.clock import Clock
from gputop.core.models import GpuSample
from gputop.core.store import MetricStore
from gputop.rules.local import LocalEvaluator
from gputop.rules.model import (
    DEFAULT_MARGIN,
    RecordDef,
    RuleDef,
    RuleStatus,
    ValueHistory,
    sort_statuses,
)
from gputop.rules.settle import StatusKeeper
from gputop.sources.base import SourceError

if TYPE_CHECKING:  # Prometheus' rules: loaded with the first read of them
    from gputop.rules.prometheus import QueryValues
    from gputop.sources.prometheus.client import PrometheusClient
    from gputop.sources.prometheus.rulesapi import PromRule, PromRuleGroup

__all__ = [
    "NO_RULES_NOTE",
    "RulesEngine",
    "check_status",
    "with_margins",
]

T = TypeVar("T")

#: What the rules panel says when the rules API lists no alerting rule (short: it is one line).
NO_RULES_NOTE = "no alerting rules: for VictoriaMetrics add vmalert"


def with_margins(rules: Sequence[RuleDef], margins: Mapping[str, float]) -> list[RuleDef]:
    """Rules with per-rule margins (percent, from the config) applied."""
    return [
        dataclasses.replace(r, margin=margins[r.name] / 100.0) if r.name in margins else r
        for r in rules
    ]


class RulesEngine:
    def __init__(
        self,
        rules: Sequence[RuleDef],
        *,
        clock: Clock,
        margin: float = DEFAULT_MARGIN,
        origin: str = "built-in rules",
        records: Sequence[RecordDef] = (),
        notes: Sequence[str] = (),
    ) -> None:
        self.clock = clock
        self.margin = margin
        self.origin = origin
        self.rules = list(rules)
        self.records = tuple(records)
        self.groups: tuple[PromRuleGroup, ...] = ()  # Prometheus' rules, as last read
        self.notes = tuple(notes)
        self.local = LocalEvaluator(self.rules, clock=clock, margin=margin, records=records)
        self.statuses: list[RuleStatus] = []
        self.error: str | None = None  # why Prometheus' rules could not be read
        self.last_ok: float | None = None  # when Prometheus' rules were last read
        self.note: str | None = None  # why there is nothing to show, when it is not an error
        self._history = ValueHistory()
        self._keeper = StatusKeeper()
        # compared query -> the range last read of it, and what it answered
        self._read: dict[str, tuple[tuple[float, float], QueryValues]] = {}
        self._backoff = source_backoff()
        self._retry_at = 0.0  # no request before this: backoff, or the next evaluation

    @property
    def retry_at(self) -> float | None:
        """When Prometheus is asked again after a failure; None while it answers."""
        return self._retry_at if self.error is not None else None

    def retry_now(self) -> None:
        """Ask Prometheus at the next refresh, without waiting for the backoff."""
        self._retry_at = 0.0

    @property
    def due(self) -> float:
        """When Prometheus' rules are to be read next (after a failure: the backoff's)."""
        return self._retry_at

    @property
    def period_s(self) -> float:
        """How long one read of Prometheus' rules may take before it is late."""
        return _MAX_REFRESH_S

    def evaluate_local(self, store: MetricStore, gpus: Sequence[GpuSample]) -> None:
        lost = [g for g in gpus if g.state == "lost"]
        self.statuses = sort_statuses(self._keeper.settle(self.local.evaluate(store, gpus), lost))

    async def refresh_prometheus(
        self,
        client: PrometheusClient,
        lost: Sequence[GpuSample] = (),
        *,
        rules_client: PrometheusClient | None = None,
        lag_s: float = 0.0,
    ) -> None:
        """Prometheus' rules and states (from `rules_client` when the ruler is elsewhere, e.g.
        vmalert not proxied by VictoriaMetrics), plus the recent range of each compared side.

        On failure the last statuses stay (see `error`, `last_ok`); `lost` are the GPUs lost
        now, whose rows stay listed; `lag_s`: how late the engine shows its data."""
        from gputop.rules.prometheus import QueryError, alerting_rules, compared_windows
        from gputop.rules.recent import read_recent

        now = self.clock.now()
        if now < self._retry_at:
            return
        try:
            groups = await (rules_client or client).rules()
            alerting = await _off_loop(alerting_rules, groups, big=_many(groups))
            windows = await _off_loop(
                compared_windows, alerting, now=now, lag_s=lag_s, big=len(alerting) > _MANY
            )
            values: dict[str, QueryValues] = {}
            unread: dict[str, tuple[float, float]] = {}
            for query, window in windows.items():
                held = self._read.get(query)
                if held is not None and held[0] == window:
                    values[query] = held[1]  # the same evaluation: nothing new to read
                else:
                    unread[query] = window
            # many rules' queries in few requests, a few at a time (see `rules.recent`)
            for query, found in (await read_recent(client, unread)).items():
                values[query] = found
                if not isinstance(found, QueryError):
                    self._read[query] = (unread[query], found)
            self._read = {q: r for q, r in self._read.items() if q in windows}
        except SourceError as exc:
            self.error = exc.reason
            self._retry_at = now + self._backoff.next_delay()
            return
        try:
            # thousands of rules take a while to word: off the event loop (the history is
            # only ever touched here, one refresh at a time)
            series = sum(len(v) for v in values.values() if not isinstance(v, QueryError))
            statuses = await _off_loop(
                self._settled,
                alerting,
                values,
                now=now,
                lost=lost,
                big=len(alerting) + series > _MANY,
            )
        except Exception as exc:  # rules no evaluation expects: Prometheus' answer is at fault
            self.error = f"rules that cannot be shown ({type(exc).__name__})"
            self._retry_at = now + self._backoff.next_delay()
            return
        self._backoff.reset()
        self.groups = tuple(groups)
        self._retry_at = _next_read(groups, now)
        self.error = None
        self.last_ok = now
        self.origin = "Prometheus"
        # VictoriaMetrics answers /api/v1/rules empty unless vmalert is behind it
        self.note = None if alerting else NO_RULES_NOTE
        self.statuses = statuses

    def _settled(
        self,
        alerting: list[PromRule],
        values: Mapping[str, QueryValues],
        *,
        now: float,
        lost: Sequence[GpuSample],
    ) -> list[RuleStatus]:
        from gputop.rules.prometheus import statuses_from_prometheus

        statuses = statuses_from_prometheus(
            alerting, values, now=now, margin=self.margin, history=self._history
        )
        return sort_statuses(self._keeper.settle(statuses, lost))


#: More rules (or rule series) than this are worked on off the event loop.
_MANY = 200


def _many(groups: Sequence[PromRuleGroup]) -> bool:
    return sum(len(g.rules) for g in groups) > _MANY


async def _off_loop(func: Callable[..., T], *args: Any, big: bool, **kwargs: Any) -> T:
    """`func(*args, **kwargs)`, on a worker thread when the work is `big`."""
    if not big:
        return func(*args, **kwargs)
    return await asyncio.to_thread(func, *args, **kwargs)


#: Prometheus' evaluation of a group takes a moment: its result is asked this long after.
_AFTER_EVALUATION_S = 0.5


def _next_read(groups: Sequence[PromRuleGroup], now: float) -> float:
    """When to ask the rules again: within `_refresh_period`, and just after the soonest
    evaluation due, so what is shown is never an evaluation behind (a one-shot run reads the
    newest one too). A big rule set, whose groups evaluate at all moments, is read once per
    its shortest evaluation interval (at least every `_MAX_BIG_REFRESH_S`): each read is
    thousands of rules to parse and word, and a pending row's countdown moves on screen
    between reads anyway."""
    due = [
        rule.last_evaluation + group.interval_s + _AFTER_EVALUATION_S
        for group in groups
        if group.interval_s > 0
        for rule in group.rules
        if rule.last_evaluation is not None
    ]
    if len(due) > _MANY:
        intervals = [g.interval_s for g in groups if g.interval_s > 0]
        shortest = min(intervals, default=_MAX_REFRESH_S)
        return now + min(_MAX_BIG_REFRESH_S, max(_MAX_REFRESH_S, shortest))
    return max(now + 1.0, min(now + _refresh_period(groups), min(due, default=math.inf)))


#: Prometheus' rules are read at least this often.
_MAX_REFRESH_S = 5.0
#: A big rule set's at least this often.
_MAX_BIG_REFRESH_S = 60.0


def _refresh_period(groups: Sequence[PromRuleGroup]) -> float:
    """Prometheus changes rule states only at its evaluation interval: ask no more often
    (at most every 5 s, so a countdown on screen keeps moving)."""
    intervals = [g.interval_s for g in groups if g.interval_s > 0]
    return min(_MAX_REFRESH_S, max(1.0, min(intervals, default=_MAX_REFRESH_S)))


def check_status(
    statuses: Sequence[RuleStatus], *, sources_failing: bool, lost_gpus: int = 0
) -> int:
    """Monitoring-plugin exit status: 2 firing or a GPU lost, 3 unknown or unreachable,
    1 near or pending, 0 ok.

    A rule that is unknown only because it needs Prometheus (none is configured) does not
    make the check unknown; it is listed in the JSON with its reason.
    """
    states = {s.state for s in statuses}
    if "firing" in states or lost_gpus:
        return 2
    unknown = any(
        s.state == "unknown" and not (s.reason or "").startswith("needs Prometheus")
        for s in statuses
    )
    if sources_failing or unknown:
        return 3
    if states & {"pending", "near"}:
        return 1
    return 0
