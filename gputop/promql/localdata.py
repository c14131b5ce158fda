"""What the local evaluator's selectors read: the store's history, each GPU's latest reading,
and the series recorded by recording rules evaluated here.

A DCGM metric is read from its store series (`store_field`, with history for `*_over_time`),
else from the GPU's latest reading (`reading`: the memory total and power limit NVML reports,
current value only), else it needs Prometheus. A name recorded by a loaded recording rule is
read from what that rule recorded, with any label matchers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import promql_parser as pp

from gputop.core.catalogue import CATALOGUE
from gputop.core.labels import LabelKey
from gputop.core.models import GpuSample
from gputop.core.series import RingSeries
from gputop.core.store import MetricStore
from gputop.promql.analysis import LabelMatcher, selector
from gputop.promql.recorded import LOOKBACK_S, RecordedSeries
from gputop.promql.vectorops import Value, Vector

__all__ = [
    "LOCAL_LABELS",
    "LOOKBACK_S",
    "EvalContext",
    "Evaluator",
    "Unsupported",
    "check_selector",
    "gpu_labels",
    "instant_selector",
    "latest",
    "range_selector",
]

#: Series labels known locally; a matcher on any other label needs Prometheus.
LOCAL_LABELS = frozenset(
    {"gpu", "UUID", "device", "modelName", "Hostname", "GPU_I_ID", "GPU_I_PROFILE"}
)
_NEAR_S = 15.0


class Unsupported(Exception):
    """The expression needs Prometheus; the message names what."""


@dataclass(frozen=True, slots=True)
class EvalContext:
    now: float
    store: MetricStore
    gpus: tuple[tuple[LabelKey, str], ...]  # (series labels, store entity) per GPU
    readings: Mapping[str, GpuSample] = field(default_factory=dict)  # latest, by entity
    recorded: RecordedSeries | None = None


Evaluator = Callable[[EvalContext], Value]
#: Per series (labels without the name): the values in a range.
RangeReader = Callable[[EvalContext], dict[LabelKey, list[float]]]


def gpu_labels(gpus: Sequence[GpuSample]) -> tuple[tuple[LabelKey, str], ...]:
    """The dcgm-exporter labels of each GPU, with its store entity: a MIG instance's are its
    GPU's, with its GPU instance's id and profile (so rules evaluate per instance)."""
    out = []
    for g in gpus:
        labels = {
            "gpu": str(g.index),
            "UUID": g.uuid if g.mig is None else g.mig.parent_uuid,
            "device": f"nvidia{g.index}",
            "modelName": g.name,
            "Hostname": g.host,
        }
        if g.mig is not None:
            labels["GPU_I_ID"] = str(g.mig.gi)
            labels["GPU_I_PROFILE"] = g.mig.profile or ""
        out.append((tuple(sorted(labels.items())), g.key))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Source:
    """Where a selector's values come from locally."""

    name: str
    matchers: list[LabelMatcher]
    store_field: str | None = None
    scale: float = 1.0
    reading: str | None = None
    recorded: bool = False


def check_selector(node: pp.VectorSelector, recorded: frozenset[str] = frozenset()) -> None:
    """Raise Unsupported if the selector cannot be read locally."""
    _source(node, recorded)


def _source(node: pp.VectorSelector, recorded: frozenset[str]) -> _Source:
    sel = selector(node)
    if node.offset is not None or node.at is not None:
        raise Unsupported(f"offset or @ modifier in {node}")
    if sel.metric is not None and sel.metric in recorded:
        for m in sel.matchers:
            _check_regex(m)
        return _Source(sel.metric, list(sel.matchers), recorded=True)
    info = CATALOGUE.get(sel.metric or "")
    if sel.metric is None or info is None or not info.local:
        raise Unsupported(f"metric {sel.metric or node}")
    for m in sel.matchers:
        if m.name not in LOCAL_LABELS:
            raise Unsupported(f"label matcher {m}")
        _check_regex(m)
    return _Source(sel.metric, list(sel.matchers), info.store_field, info.store_scale, info.reading)


def instant_selector(node: pp.VectorSelector, recorded: frozenset[str]) -> Evaluator:
    source = _source(node, recorded)
    name = source.name

    def run(ctx: EvalContext) -> Value:
        out: Vector = {}
        if source.recorded:
            if ctx.recorded is None:
                return out
            for labels, points in ctx.recorded.series(name).items():
                value = ctx.recorded.latest(points, ctx.now)
                if value is not None and _matches(source.matchers, dict(labels)):
                    out[_with_name(labels, name)] = value
            return out
        for labels, entity in ctx.gpus:
            if not _matches(source.matchers, dict(labels)):
                continue
            value = _current(source, ctx, entity)
            if value is not None:
                out[_with_name(labels, name)] = _scaled(value, source.scale)
        return out

    return run


def range_selector(node: pp.MatrixSelector, recorded: frozenset[str]) -> RangeReader:
    """The values of a range selector per series, for `*_over_time`."""
    source = _source(node.vector_selector, recorded)
    range_s = node.range.total_seconds()
    if not source.recorded and source.store_field is None:
        raise Unsupported(f"{node}: only the current reading of {source.name} is kept locally")

    def run(ctx: EvalContext) -> dict[LabelKey, list[float]]:
        start = ctx.now - range_s
        out: dict[LabelKey, list[float]] = {}
        if source.recorded:
            if ctx.recorded is not None:
                for labels, points in ctx.recorded.series(source.name).items():
                    if _matches(source.matchers, dict(labels)):
                        out[labels] = ctx.recorded.window(points, start, ctx.now)
            return out
        assert source.store_field is not None
        for labels, entity in ctx.gpus:
            ring = ctx.store.get(entity, source.store_field)
            if ring is None or not _matches(source.matchers, dict(labels)):
                continue
            # A range is left-open: (now - range, now].
            out[labels] = [
                _scaled(v, source.scale)
                for t, v in ring.window(start, ctx.now)
                if v is not None and t > start
            ]
        return out

    return run


def _current(source: _Source, ctx: EvalContext, entity: str) -> float | None:
    if source.store_field is not None:
        ring = ctx.store.get(entity, source.store_field)
        return latest(ring, ctx.now) if ring is not None else None
    reading = ctx.readings.get(entity)
    if reading is None or source.reading is None or ctx.now - reading.time > LOOKBACK_S:
        return None
    value = getattr(reading, source.reading)
    return None if value is None else float(value)


def latest(ring: RingSeries, now: float) -> float | None:
    """The value current at `now`: the newest point within the lookback, if present."""
    last = ring.last_time
    if last is None:
        return None
    if last <= now:
        return ring.last() if now - last <= LOOKBACK_S else None
    for span in (_NEAR_S, LOOKBACK_S):  # a short window first: a past point is usually close
        points = ring.window(now - span, now)
        if points:
            return points[-1][1]
    return None


def _matches(matchers: list[LabelMatcher], labels: Mapping[str, str]) -> bool:
    for m in matchers:
        have = labels.get(m.name, "")
        if m.op == "=" and have != m.value:
            return False
        if m.op == "!=" and have == m.value:
            return False
        if m.op in ("=~", "!~"):
            hit = re.fullmatch(m.value, have) is not None  # PromQL regexes are anchored
            if hit != (m.op == "=~"):
                return False
    return True


def _check_regex(m: LabelMatcher) -> None:
    if m.op not in ("=~", "!~"):
        return
    try:
        re.compile(m.value)
    except re.error as exc:
        raise Unsupported(f"regex {m.value!r}: {exc}") from None


def _scaled(value: float, scale: float) -> float:
    """A store value in the metric's unit; rounded so 95 % reads exactly 0.95, not 0.95000…01."""
    return value if scale == 1.0 else round(value * scale, 12)


def _with_name(labels: LabelKey, name: str) -> LabelKey:
    return tuple(sorted((*labels, ("__name__", name))))
