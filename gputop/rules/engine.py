"""The rules engine: the statuses of every alerting rule, from Prometheus or evaluated locally.

- With Prometheus: its own rules and their states (`/api/v1/rules`), with margins from one
  batched instant query per rule's compared side (never one per series).
- Without it: rule files (or the built-in pack) evaluated from the local history, with
  Prometheus' `for` and `keep_firing_for` semantics, their recording rules first.

Either way the statuses pass through a `StatusKeeper` (near hysteresis, rows of lost GPUs).
When Prometheus' rules cannot be read, the last statuses stay, with `error` saying why and
`last_ok` since when; retries follow `core.backoff.source_backoff` (1 s doubling to 8 s), so
a Prometheus that comes back is seen within seconds, and `retry_now` skips the wait.

`notes` says what the screen and `--once` should say beside the rules, e.g. that a loaded
file holds no alerting rules (so nothing from it can ever show).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from gputop.core.backoff import source_backoff
from gputop.core.clock import Clock
from gputop.core.labels import LabelKey, label_key
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
from gputop.rules.prometheus import (
    PromRuleGroup,
    QueryError,
    alerting_rules,
    compared_queries,
    statuses_from_prometheus,
)
from gputop.rules.settle import StatusKeeper
from gputop.sources.base import SourceError

if TYPE_CHECKING:
    from gputop.sources.prometheus import PrometheusClient

__all__ = ["NO_RULES_NOTE", "RulesEngine", "check_status", "with_margins"]

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
        self._keeper = StatusKeeper(margin=margin)
        self._backoff = source_backoff()
        self._retry_at = 0.0  # no request before this: backoff, or the next evaluation

    @property
    def retry_at(self) -> float | None:
        """When Prometheus is asked again after a failure; None while it answers."""
        return self._retry_at if self.error is not None else None

    def retry_now(self) -> None:
        """Ask Prometheus at the next refresh, without waiting for the backoff."""
        self._retry_at = 0.0

    def evaluate_local(self, store: MetricStore, gpus: Sequence[GpuSample]) -> None:
        lost = [g for g in gpus if g.state == "lost"]
        self.statuses = sort_statuses(self._keeper.settle(self.local.evaluate(store, gpus), lost))

    async def refresh_prometheus(
        self,
        client: PrometheusClient,
        lost: Sequence[GpuSample] = (),
        *,
        rules_client: PrometheusClient | None = None,
    ) -> None:
        """Prometheus' rules and states (from `rules_client` when the ruler is elsewhere, e.g.
        vmalert not proxied by VictoriaMetrics), plus one instant query per compared side.

        On failure the last statuses stay (see `error`, `last_ok`); `lost` are the GPUs lost
        now, whose rows stay listed."""
        now = self.clock.now()
        if now < self._retry_at:
            return
        try:
            groups = await (rules_client or client).rules()
            values: dict[str, Mapping[LabelKey, float] | QueryError] = {}
            for query in compared_queries(alerting_rules(groups)):
                try:
                    samples = await client.query(query)
                except SourceError as exc:
                    values[query] = QueryError(exc.reason)
                    continue
                values[query] = {
                    label_key(s.labels, drop=()): s.value for s in samples if s.value is not None
                }
        except SourceError as exc:
            self.error = exc.reason
            self._retry_at = now + self._backoff.next_delay()
            return
        self._backoff.reset()
        self.groups = tuple(groups)
        self._retry_at = now + _refresh_period(groups)
        self.error = None
        self.last_ok = now
        self.origin = "Prometheus"
        # VictoriaMetrics answers /api/v1/rules empty unless vmalert is behind it
        self.note = None if alerting_rules(groups) else NO_RULES_NOTE
        statuses = statuses_from_prometheus(
            groups,
            values,
            now=now,
            margin=self.margin,
            history=self._history,
        )
        self.statuses = sort_statuses(self._keeper.settle(statuses, lost))


def _refresh_period(groups: Sequence[PromRuleGroup]) -> float:
    """Prometheus changes rule states only at its evaluation interval: ask no more often
    (at most every 5 s, so a countdown on screen keeps moving)."""
    intervals = [g.interval_s for g in groups if g.interval_s > 0]
    return min(5.0, max(1.0, min(intervals, default=5.0)))


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
