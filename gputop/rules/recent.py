"""The recent series of many rules' compared queries, in few requests.

Near is judged from the values of each rule's compared query at its rule's last
`RECENT_EVALUATIONS` evaluations (see `gputop.rules.engine`; a backtest reads them alike). A
server with thousands of rules would take thousands of range queries a cycle; instead the
queries that share a window (a rule group's: the same step, evaluated at one time: see
`batches`) are asked together, one range query for up to `BATCH_QUERIES` of them: each tagged
with its own `BATCH_LABEL` value by `label_replace` and joined with `or`, then told apart
again. The requests run `CONCURRENCY` at a time, started no faster than `RATE_PER_S` a
second, so a big rule set costs the server a steady trickle, not a burst.

A batch the server refuses (a query in it that cannot be wrapped, one too long for a proxy) is
asked again one query at a time, so one bad query never costs the others their values; any
other failure is the failure of every query in the batch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from gputop.core.labels import LabelKey, label_key
from gputop.rules.near import TREND_POINTS
from gputop.rules.prometheus import Point, QueryError, QueryValues
from gputop.sources.base import SourceError

if TYPE_CHECKING:
    from gputop.sources.prometheus.api import PromSeries
    from gputop.sources.prometheus.client import PrometheusClient

__all__ = [
    "BATCH_CHARS",
    "BATCH_LABEL",
    "BATCH_QUERIES",
    "CONCURRENCY",
    "RATE_PER_S",
    "RECENT_EVALUATIONS",
    "batched_query",
    "batches",
    "read_recent",
    "recent_points",
    "recent_values",
]

#: How many of a rule's latest evaluations its compared value is read at: the recent series
#: its near is judged from (`rules.near`), the last of them the one evaluated.
RECENT_EVALUATIONS = TREND_POINTS + 1
#: Compared queries asked in one range query, at most.
BATCH_QUERIES = 40
#: A batched query's length, at most (it travels in the URL).
BATCH_CHARS = 6000
#: The label that tells the parts of a batched query apart.
BATCH_LABEL = "gputop_batch"
#: Requests in flight at once.
CONCURRENCY = 4
#: Requests started per second, at most.
RATE_PER_S = 20.0

Window = tuple[float, float]  # (end, step)
#: Windows ending this close are read as one (see `batches`).
_SAME_EVALUATION_S = 1.0


def batched_query(queries: Sequence[str]) -> str:
    """One query answering each of `queries`, its series tagged with their index."""
    return " or ".join(
        f'label_replace(({q}), "{BATCH_LABEL}", "{i}", "", "")' for i, q in enumerate(queries)
    )


def batches(windows: Mapping[str, Window]) -> list[tuple[Window, list[str]]]:
    """The queries grouped by window, each group cut to `BATCH_QUERIES` queries and
    `BATCH_CHARS` characters.

    Windows of one step whose ends lie within `_SAME_EVALUATION_S` (or a tenth of the step)
    of the earliest are one window ending there: the rules of a group are evaluated at one
    time, each `lastEvaluation` a few milliseconds after it as the group goes through them,
    so the earliest is the nearest to the time the rules' queries saw."""
    by_window: dict[Window, list[str]] = {}
    held: Window | None = None
    for query, (end, step) in sorted(windows.items(), key=lambda kv: (kv[1][1], kv[1][0])):
        near = min(_SAME_EVALUATION_S, step / 10)
        if held is None or held[1] != step or end - held[0] > near:
            held = (end, step)
        by_window.setdefault(held, []).append(query)
    out: list[tuple[Window, list[str]]] = []
    for window, queries in by_window.items():
        batch: list[str] = []
        size = 0
        for query in queries:
            cost = len(query) + len(BATCH_LABEL) + 40
            if batch and (len(batch) >= BATCH_QUERIES or size + cost > BATCH_CHARS):
                out.append((window, batch))
                batch, size = [], 0
            batch.append(query)
            size += cost
        if batch:
            out.append((window, batch))
    return out


class _Pace:
    """At most `limit` requests in flight, started no faster than `rate` a second."""

    def __init__(self, limit: int, rate: float) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._gap = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> None:
        await self._slots.acquire()
        async with self._lock:
            wait = self._next - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next = max(self._next, time.monotonic()) + self._gap

    async def __aexit__(self, *exc: object) -> None:
        self._slots.release()


async def read_recent(
    client: PrometheusClient,
    windows: Mapping[str, Window],
    *,
    concurrency: int = CONCURRENCY,
    rate_per_s: float = RATE_PER_S,
) -> dict[str, QueryValues]:
    """Each compared query's recent series (see `recent_values`), or its QueryError."""
    from gputop.sources.prometheus.errors import PromAPIError, PromHTTPError  # with Prometheus

    pace = _Pace(concurrency, rate_per_s)
    out: dict[str, QueryValues] = {}

    async def one(query: str, window: Window) -> None:
        async with pace:
            out[query] = await _recent(client, query, *window)

    async def batch(window: Window, queries: list[str]) -> None:
        if len(queries) == 1:
            await one(queries[0], window)
            return
        end, step = window
        try:
            async with pace:
                answer = await client.query_range(
                    batched_query(queries), end - (RECENT_EVALUATIONS - 1) * step, end, step
                )
        except (PromAPIError, PromHTTPError) as exc:
            if isinstance(exc, PromHTTPError) and (exc.status >= 500 or exc.status in (401, 403)):
                for query in queries:
                    out[query] = QueryError(exc.reason)
                return
            # refused as a whole: each query alone, so a bad one costs only itself
            await asyncio.gather(*(one(q, window) for q in queries))
            return
        except SourceError as exc:
            for query in queries:
                out[query] = QueryError(exc.reason)
            return
        parts: list[list[PromSeries]] = [[] for _ in queries]
        for series in answer:
            tag = series.labels.pop(BATCH_LABEL, "")
            if tag.isdigit() and int(tag) < len(queries):
                parts[int(tag)].append(series)
        for query, found in zip(queries, parts, strict=True):
            out[query] = recent_values(found, end, step)

    await asyncio.gather(*(batch(w, qs) for w, qs in batches(windows)))
    return out


async def _recent(client: PrometheusClient, query: str, end: float, step: float) -> QueryValues:
    try:
        answer = await client.query_range(query, end - (RECENT_EVALUATIONS - 1) * step, end, step)
    except SourceError as exc:
        return QueryError(exc.reason)
    return recent_values(answer, end, step)


def recent_values(
    answer: Sequence[PromSeries], end: float, step: float
) -> dict[LabelKey, list[Point]]:
    """The values of a compared query at its rule's last `RECENT_EVALUATIONS` evaluations,
    per series; only the series present at the last of them (the one evaluated)."""
    out: dict[LabelKey, list[Point]] = {}
    for series in answer:
        points = recent_points(series.points, end, step)
        if points is not None:
            out[label_key(series.labels, drop=())] = points
    return out


def recent_points(
    points: Iterable[tuple[float, float | None]], end: float, step: float
) -> list[Point] | None:
    """One series of a compared query over its rule's last evaluations (ending at `end`, `step`
    apart) as near reads it: its values, when it has one at the last evaluation (within a
    step: an engine may align a range to its step), else None. A backtest reads it alike."""
    kept = [(t, v) for t, v in points if v is not None]
    return kept if kept and kept[-1][0] >= end - step else None
