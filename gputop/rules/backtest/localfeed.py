"""The dashboard's own history as an engine for a backtest, where there is no Prometheus.

Range queries are answered by gputop's local PromQL evaluator (`gputop.promql`) at each
evaluation time, on a thread, over a copy of the store's range made on the event loop first
(the dashboard goes on writing the store meanwhile); the recording rules of the
loaded files are evaluated first at each time, in file order, as the live evaluation does.
An expression outside the local subset is refused as the engine would refuse a bad query,
so that rule reads "cannot be replayed: needs Prometheus: ...". Metrics NVML reports only as
a current reading (the memory total, the power limit) have no past here.
"""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import Sequence

from gputop.core.labels import LabelKey
from gputop.core.models import GpuSample
from gputop.core.store import MetricStore
from gputop.promql.evaluator import (
    EvalContext,
    EvalError,
    Evaluator,
    Unsupported,
    compile_query,
    gpu_labels,
)
from gputop.promql.recorded import LOOKBACK_S, RecordedSeries
from gputop.rules.local import NEEDS_PROMETHEUS, _Record, _record
from gputop.rules.model import RecordDef
from gputop.sources.prometheus import PromAPIError
from gputop.sources.prometheus.api import PromSeries

__all__ = ["LocalEngine", "NeedsPrometheus", "snapshot_store"]


async def snapshot_store(store: MetricStore, start: float, end: float) -> MetricStore:
    """The store's history from `start` (less the lookback) to `end`, copied one series at a
    time, giving the event loop (which owns the store) its turn between series."""
    copy = MetricStore(capacity=store.capacity)
    for entity, metric in store.series_keys():
        ring = store.get(entity, metric)
        if ring is not None:
            points = ring.window(start - LOOKBACK_S, end)
            copy.series(entity, metric, ring.capacity).merge(points)
        await asyncio.sleep(0)
    return copy


class NeedsPrometheus(PromAPIError):
    """A query outside the local subset: refused, as an engine refuses a bad query."""

    def __init__(self, what: str) -> None:
        super().__init__("unsupported", what)
        self.reason = f"{NEEDS_PROMETHEUS}{what}"


class LocalEngine:
    """Range queries over a store, evaluated here."""

    def __init__(
        self,
        store: MetricStore,
        gpus: Sequence[GpuSample],
        records: Sequence[RecordDef] = (),
        *,
        start: float,
        end: float,
    ) -> None:
        self.store = store
        self.gpus = gpu_labels([g for g in gpus if g.state == "ok"])
        self.records = tuple(records)
        self._recorded = frozenset(r.name for r in records)
        self._span = (start, end)
        self._copy: MetricStore | None = None
        self._copying = asyncio.Lock()

    async def query_range(
        self, expr: str, start: float, end: float, step: float
    ) -> Sequence[PromSeries]:
        try:
            query = compile_query(expr, recorded=self._recorded)
            records = [
                _Record(r, expr=compile_query(r.expr, recorded=self._recorded))
                for r in self.records
            ]
        except Unsupported as exc:
            raise NeedsPrometheus(str(exc)) from None
        async with self._copying:
            if self._copy is None:
                self._copy = await snapshot_store(self.store, *self._span)
        return await asyncio.to_thread(self._evaluate, self._copy, query, records, start, end, step)

    def presence_query(self, metrics: Sequence[str]) -> str | None:
        known = []
        for metric in metrics:
            try:
                compile_query(metric, recorded=self._recorded)
            except Unsupported:
                continue
            known.append(f"count({metric})")
        return " or ".join(known) or None

    def _evaluate(
        self,
        store: MetricStore,
        query: Evaluator,
        records: Sequence[_Record],
        start: float,
        end: float,
        step: float,
    ) -> list[PromSeries]:
        recorded = RecordedSeries()
        out: dict[LabelKey, tuple[array[float], array[float]]] = {}
        n = round((end - start) / step) + 1
        for i in range(n):
            t = start + i * step
            ctx = EvalContext(t, store, self.gpus, {}, recorded)
            for record in records:
                _record(record, ctx, recorded)  # as the live evaluation records
            try:
                value = query(ctx)
            except (Unsupported, EvalError, ArithmeticError, ValueError):
                continue
            vector = {(): value} if isinstance(value, float) else value
            for labels, v in vector.items():
                times, values = out.setdefault(labels, (array("d"), array("d")))
                times.append(t)
                values.append(v)
        return [PromSeries(dict(k), times, values) for k, (times, values) in out.items()]
