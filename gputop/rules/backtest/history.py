"""What an engine answered over a grid of evaluations: the series of each query, and the gaps.

An engine is anything that answers range queries (`Engine`): Prometheus or VictoriaMetrics
through their HTTP API, or the dashboard's own history (`localfeed`). A query over a grid is
cut into range queries of at most `CHUNK_STEPS` points (under the engines' 11,000), run
concurrently within a limit shared by the whole backtest (one that times out or loses its
connection is asked again, twice), and each answer is laid on the grid: one value per
evaluation per label set (NaN where the query returned no such series).

Gaps are the evaluations at which the engine had no data at all. Like pint, the backtest asks
`count(up)`; history that no scrape wrote (back-filled, remote-written) has no `up`, so the
rule's own metrics count too. Where both are absent, the engine knew nothing: the rule
manager would not have evaluated there either.
"""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gputop.core.labels import LabelKey, label_key
from gputop.rules.backtest.grid import CHUNK_STEPS, Grid
from gputop.sources.prometheus import PromTimeout, PromUnreachable
from gputop.sources.prometheus.api import PromSeries

__all__ = ["RETRIES", "Engine", "Fetcher", "History", "Values", "gap_query"]

#: A range query that times out or loses its connection is asked again this many times: a
#: backtest of a week takes minutes, and one dropped connection must not end it.
RETRIES = 2
RETRY_DELAY_S = 1.0

#: Per label set (without `__name__`): the value at each evaluation, NaN where absent.
Values = dict[LabelKey, "array[float]"]


class Engine(Protocol):
    """Something that answers PromQL range queries."""

    async def query_range(
        self, expr: str, start: float, end: float, step: float
    ) -> Sequence[PromSeries]: ...

    def presence_query(self, metrics: Sequence[str]) -> str | None:
        """A query that returns a series wherever the engine had data for these metrics."""
        ...


def gap_query(metrics: Sequence[str]) -> str | None:
    """`count(up)`, or where no scrape wrote the history, a count of the rule's metrics."""
    if not metrics:
        return None
    names = "|".join(sorted(set(metrics)))
    return f'count(up) or count({{__name__=~"{names}"}})'


@dataclass(slots=True)
class History:
    """One grid's answers: each query's values, and where the engine had no data."""

    grid: Grid
    results: dict[str, Values] = field(default_factory=dict)
    gaps: dict[str, bytearray] = field(default_factory=dict)  # by presence query

    def no_gaps(self) -> bytearray:
        return bytearray(self.grid.count)


class Fetcher:
    """Runs a backtest's range queries: at most `limit` at a time, each at most `steps`
    points; `done` is called after each one (progress)."""

    def __init__(
        self,
        engine: Engine,
        *,
        limit: int = 4,
        steps: int = CHUNK_STEPS,
        done: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.steps = steps
        self._slots = asyncio.Semaphore(max(1, limit))
        self._done = done

    def chunks(self, grid: Grid) -> int:
        """How many range queries one query over `grid` takes."""
        return len(list(grid.chunks(self.steps)))

    async def values(self, expr: str, grid: Grid) -> Values:
        """The query's value at each evaluation of the grid, per label set."""
        out: Values = {}

        async def chunk(lo: int, hi: int) -> None:  # laid as it comes: one answer held at a time
            _lay(await self._chunk(expr, grid, lo, hi), grid, out)

        await asyncio.gather(*(chunk(lo, hi) for lo, hi in grid.chunks(self.steps)))
        return out

    async def presence(self, expr: str, grid: Grid) -> bytearray:
        """1 at each evaluation where `expr` returned nothing: a gap."""
        found = await self.values(expr, grid)
        gaps = bytearray(b"\x01") * grid.count
        for values in found.values():
            for i, v in enumerate(values):
                if v == v:
                    gaps[i] = 0
        return gaps

    async def _chunk(self, expr: str, grid: Grid, lo: int, hi: int) -> Sequence[PromSeries]:
        for attempt in range(RETRIES + 1):
            try:
                async with self._slots:
                    answer = await self.engine.query_range(
                        expr, grid.time(lo), grid.time(hi), grid.step_s
                    )
                break
            except (PromUnreachable, PromTimeout):
                if attempt == RETRIES:
                    raise
                await asyncio.sleep(RETRY_DELAY_S * (attempt + 1))
        if self._done is not None:
            self._done()
        return answer


def _lay(series: Iterable[PromSeries], grid: Grid, out: Values) -> None:
    for s in series:
        ident = label_key(s.labels)
        values = out.get(ident)
        if values is None:
            values = out[ident] = array("d", [math.nan]) * grid.count
        for t, v in zip(s.times, s.values, strict=True):
            i = grid.index(t)
            if i is not None:
                values[i] = v
