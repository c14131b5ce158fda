"""A backtest started from the dashboard: which rules, against which engine.

With Prometheus, the rules it evaluates (as last read from `/api/v1/rules`, with their groups'
intervals and offsets) and the rule files evaluated beside it, replayed against its history;
without it, the rules evaluated here (rule files or the built-in pack, their recording rules
first) replayed against this node's own history, copied from the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gputop.core.models import GpuSample
from gputop.core.store import MetricStore
from gputop.rules.backtest.history import Engine
from gputop.rules.backtest.localfeed import LocalEngine
from gputop.rules.backtest.remote import RemoteEngine, rules_of
from gputop.rules.engine import RulesEngine
from gputop.rules.model import RuleDef
from gputop.sources.prometheus import PrometheusClient

__all__ = ["Setup", "dashboard_setup"]


@dataclass(frozen=True, slots=True)
class Setup:
    engine: Engine
    label: str  # where the history comes from, for the report
    rules: tuple[RuleDef, ...]
    offsets: Mapping[str, float] = field(default_factory=dict)
    local: bool = False  # this node's history (see `Options.local`)


def dashboard_setup(
    rules: RulesEngine | None,
    local_rules: RulesEngine | None,
    client: PrometheusClient | None,
    store: MetricStore,
    gpus: Sequence[GpuSample],
    *,
    start: float,
    end: float,
) -> Setup:
    files = list(local_rules.rules) if local_rules is not None else []
    if client is not None:
        loaded = rules_of(rules.groups if rules is not None else ())
        return Setup(RemoteEngine(client), client.url, (*loaded.alerts, *files), loaded.offsets)
    here = list(rules.rules) if rules is not None else []
    records = rules.records if rules is not None else ()
    engine = LocalEngine(store, gpus, records, start=start, end=end)
    return Setup(engine, "this node's history", (*here, *files), local=True)
