"""Checks against a live Prometheus: does each selector select series there, which type do
its targets declare for each metric (for `rate-of-gauge` and `raw-counter`), and at which
interval does it evaluate each rule group (for `for-interval`).

One instant query per distinct selector answers everything about it at once: the selector,
the metric alone, the metric with each matcher alone, and the values each matched label has,
joined with `or` and told apart by a `gputop_probe` label. Series count if they were seen in
the last hour, so a series that comes and goes is not called missing. Queries run a few at a
time within one overall deadline; what is left unchecked by then is said, not guessed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gputop.promql.analysis import LabelMatcher, Selector
from gputop.rules.prometheus import PromRuleGroup
from gputop.sources.prometheus import (
    PrometheusClient,
    PromHTTPError,
    PromTimeout,
    PromUnreachable,
)
from gputop.sources.promtypes import PromError

__all__ = [
    "LIVE_DEADLINE_S",
    "LOOKBACK",
    "LiveResult",
    "Probe",
    "SelectorKey",
    "check_live",
    "missing_message",
    "probe_query",
    "selector_key",
    "selector_text",
]

#: All queries of one check finish within this, or are reported unchecked.
LIVE_DEADLINE_S = 30.0
#: A series seen within this window counts as present.
LOOKBACK = "1h"
_CONCURRENCY = 4
_VALUES_SHOWN = 5
_PROBE = "gputop_probe"

SelectorKey = tuple[str | None, tuple[LabelMatcher, ...]]


@dataclass(frozen=True, slots=True)
class Probe:
    """What the server said of one selector."""

    has_series: bool
    metric_exists: bool | None = None  # None: the selector has no metric name
    #: Matchers that alone leave the metric without series, each with the values its
    #: label does have (a few of them).
    empty: tuple[tuple[LabelMatcher, tuple[str, ...]], ...] = ()


@dataclass(slots=True)
class LiveResult:
    url: str
    types: dict[str, str] = field(default_factory=dict)
    #: Each rule group's evaluation interval by name, for names the server uses once.
    group_intervals: dict[str, float] = field(default_factory=dict)
    probes: dict[SelectorKey, Probe] = field(default_factory=dict)
    unchecked: int = 0  # selectors left unchecked: a failed query, or the deadline
    failure: str | None = None  # why the first failed query failed
    error: str | None = None  # why the server could not be used at all

    @property
    def present(self) -> frozenset[str]:
        """Metrics the server has series of."""
        return frozenset(
            key[0]
            for key, probe in self.probes.items()
            if key[0] and (probe.has_series or probe.metric_exists)
        )


def selector_key(sel: Selector) -> SelectorKey:
    return (sel.metric, sel.matchers)


def selector_text(metric: str | None, matchers: Iterable[LabelMatcher]) -> str:
    """PromQL for a selector; values quoted as PromQL (Go) strings."""
    inner = ",".join(f"{m.name}{m.op}{json.dumps(m.value)}" for m in matchers)
    if metric and not inner:
        return metric
    return f"{metric or ''}{{{inner}}}"


def _probe(expr: str, name: str) -> str:
    return f'label_replace({expr}, "{_PROBE}", "{name}", "", "")'


def _seen(selector: str) -> str:
    return f"last_over_time({selector}[{LOOKBACK}])"


def probe_query(metric: str | None, matchers: tuple[LabelMatcher, ...]) -> str:
    """The one query that answers everything about a selector (see the module docstring)."""
    parts = [_probe(f"count({_seen(selector_text(metric, matchers))})", "all")]
    if metric and matchers:
        parts.append(_probe(f"count({_seen(metric)})", "metric"))
        for i, m in enumerate(matchers):
            parts.append(_probe(f"count({_seen(selector_text(metric, [m]))})", f"m{i}"))
            if m.op in ("=", "=~"):
                values = f"topk({_VALUES_SHOWN}, count by ({m.name}) ({_seen(metric)}))"
                parts.append(_probe(values, f"v{i}"))
    return " or ".join(parts)


def _read_probe(
    metric: str | None, matchers: tuple[LabelMatcher, ...], rows: Iterable[Mapping[str, str]]
) -> Probe:
    seen: dict[str, list[Mapping[str, str]]] = {}
    for labels in rows:
        seen.setdefault(labels.get(_PROBE, ""), []).append(labels)
    if "all" in seen:
        return Probe(True, True if metric else None)
    if not metric:
        return Probe(False)
    empty = tuple(
        (m, tuple(sorted(r[m.name] for r in seen.get(f"v{i}", []) if r.get(m.name))))
        for i, m in enumerate(matchers)
        if f"m{i}" not in seen
    )
    return Probe(False, "metric" in seen, empty)  # without matchers, "all" was the metric


async def check_live(
    client: PrometheusClient,
    selectors: Iterable[Selector],
    *,
    deadline_s: float = LIVE_DEADLINE_S,
) -> LiveResult:
    """Metric types and one probe per distinct selector; never raises for the server."""
    result = LiveResult(client.url)
    try:
        result.types = await client.metadata()
    except (PromUnreachable, PromTimeout) as exc:
        result.error = exc.reason
        return result
    except PromError as exc:
        if isinstance(exc, PromHTTPError) and exc.status in (401, 403):
            result.error = exc.reason
            return result
        result.types = {}  # a server without the metadata API: types from the catalogue
    with contextlib.suppress(PromError):  # without rules: intervals from files and flags
        result.group_intervals = _intervals(await client.rules(None))
    keys = list(dict.fromkeys(selector_key(s) for s in selectors))
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def probe(key: SelectorKey) -> None:
        async with gate:
            try:
                samples = await client.query(probe_query(*key))
            except PromError as exc:
                result.failure = result.failure or exc.reason
                return
        result.probes[key] = _read_probe(key[0], key[1], (s.labels for s in samples))

    tasks = [asyncio.ensure_future(probe(key)) for key in keys]
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=deadline_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    result.unchecked = len(keys) - len(result.probes)
    return result


def _intervals(groups: Iterable[PromRuleGroup]) -> dict[str, float]:
    """Group name → interval, leaving out names whose groups disagree."""
    seen: dict[str, set[float]] = {}
    for group in groups:
        if group.interval_s and group.interval_s > 0:
            seen.setdefault(group.name, set()).add(group.interval_s)
    return {name: next(iter(values)) for name, values in seen.items() if len(values) == 1}


def missing_message(
    metric: str | None, sel: Selector, probe: Probe, url: str
) -> tuple[str, str | None]:
    """(message, label whose matcher to point at) for a selector without series."""
    shown = selector_text(metric, sel.matchers)
    if metric is None:
        return f"no series match {shown} on {url} (within {LOOKBACK})", None
    if not probe.metric_exists:
        return f"no series of {metric} on {url} (within {LOOKBACK}): no target exports it", None
    if probe.empty:
        matcher, values = probe.empty[0]
        if values:
            more = ", ".join(json.dumps(v) for v in values[:_VALUES_SHOWN])
            have = f"its series have {matcher.name}={more}"
        else:
            have = f"none of its series has the label {matcher.name}"
        return f"{matcher} leaves no series of {metric} on {url}: {have}", matcher.name
    together = ", ".join(str(m) for m in sel.matchers)
    return f"no series of {metric} match {{{together}}} together on {url}", None
