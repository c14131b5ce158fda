"""Results of the Prometheus HTTP API as small frozen values, and the parsing of its JSON.

Values arrive as strings: "NaN" becomes None (missing), "+Inf"/"-Inf" stay float infinities.
Every unexpected shape raises `PromMalformed` (see `gputop.sources.prometheus.errors`).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gputop.sources.httpapi import describe
from gputop.sources.prometheus.errors import PromMalformed

__all__ = [
    "PromSample",
    "PromSeries",
    "PromStats",
    "parse_buildinfo",
    "parse_label_values",
    "parse_labels",
    "parse_matrix",
    "parse_metadata",
    "parse_value",
    "parse_vector",
]


@dataclass(slots=True)
class PromStats:
    """What the requests so far cost: count, body bytes, the last one's duration, and the
    count and bytes per API path ("api/v1/query_range", ...)."""

    requests: int = 0
    bytes: int = 0
    errors: int = 0
    last_duration_s: float | None = None
    path_requests: dict[str, int] = field(default_factory=dict)
    path_bytes: dict[str, int] = field(default_factory=dict)

    def count(self, path: str) -> None:
        self.requests += 1
        self.path_requests[path] = self.path_requests.get(path, 0) + 1

    def add_bytes(self, path: str, n: int) -> None:
        self.bytes += n
        self.path_bytes[path] = self.path_bytes.get(path, 0) + n

    def copy(self) -> PromStats:
        return PromStats(
            self.requests,
            self.bytes,
            self.errors,
            self.last_duration_s,
            dict(self.path_requests),
            dict(self.path_bytes),
        )


@dataclass(frozen=True, slots=True)
class PromSample:
    """One element of an instant vector (a scalar has no labels)."""

    labels: dict[str, str]
    time: float
    value: float | None


@dataclass(frozen=True, slots=True)
class PromSeries:
    """One series of a range query, oldest point first; None marks a NaN value.

    Times and values are kept in two `array('d')` (NaN for a missing value): 16 bytes a
    point instead of a tuple of two floats (about 100), and a 256-GPU fleet's first fetch
    holds some 400k points at once. `points` gives them as (time, value) pairs.
    """

    labels: dict[str, str]
    times: array[float]
    values: array[float]

    @property
    def points(self) -> list[tuple[float, float | None]]:
        return [(t, None if v != v else v) for t, v in zip(self.times, self.values, strict=True)]

    def __len__(self) -> int:
        return len(self.times)


def parse_value(raw: Any) -> float | None:
    """A sample value string: NaN is missing (None); infinities are kept."""
    if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
        raise PromMalformed(f"sample value {describe(raw)} is not a number")
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        raise PromMalformed(f"sample value {describe(raw)} is not a number") from None
    return None if math.isnan(value) else value


def _point(raw: Any) -> tuple[float, float | None]:
    if not isinstance(raw, list) or len(raw) != 2:
        raise PromMalformed("a sample is not a [time, value] pair")
    t = parse_value(raw[0])
    if t is None or not math.isfinite(t):
        raise PromMalformed("a sample has no finite time")
    return t, parse_value(raw[1])


def parse_labels(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
        raise PromMalformed("labels are not a string map")
    return dict(raw)


def _result(data: Any, expected: tuple[str, ...]) -> tuple[str, Any]:
    if not isinstance(data, Mapping):
        raise PromMalformed("no data object")
    kind = data.get("resultType")
    if kind not in expected:
        raise PromMalformed(f"result type {describe(kind)}, expected {' or '.join(expected)}")
    result = data.get("result")
    if kind in ("vector", "matrix") and not isinstance(result, list):
        raise PromMalformed(f"{kind} result is not a list")
    return kind, result


def parse_vector(data: Any) -> tuple[PromSample, ...]:
    """The data of an instant query: a vector or a scalar."""
    kind, result = _result(data, ("vector", "scalar"))
    if kind == "scalar":
        t, v = _point(result)
        return (PromSample({}, t, v),)
    out: list[PromSample] = []
    for item in result:
        if not isinstance(item, Mapping):
            raise PromMalformed("a vector element is not an object")
        if "value" not in item:
            continue  # a native histogram sample: no float value to show
        t, v = _point(item["value"])
        out.append(PromSample(parse_labels(item.get("metric")), t, v))
    return tuple(out)


def parse_matrix(data: Any) -> tuple[PromSeries, ...]:
    """The data of a range query."""
    _, result = _result(data, ("matrix",))
    out: list[PromSeries] = []
    for item in result:
        if not isinstance(item, Mapping):
            raise PromMalformed("a matrix element is not an object")
        values = item.get("values", [])
        if not isinstance(values, list):
            raise PromMalformed("series values are not a list")
        times, vals = array("d"), array("d")
        for raw in values:
            t, v = _point(raw)
            times.append(t)
            vals.append(math.nan if v is None else v)
        out.append(PromSeries(parse_labels(item.get("metric")), times, vals))
    return tuple(out)


def parse_metadata(data: Any) -> dict[str, str]:
    """GET /api/v1/metadata: each metric's type, when its targets agree on one."""
    if not isinstance(data, Mapping):
        raise PromMalformed("metadata is not an object")
    out: dict[str, str] = {}
    for name, entries in data.items():
        if not isinstance(entries, list):
            continue
        declared = [e.get("type") for e in entries if isinstance(e, Mapping)]
        kinds: set[str] = {k for k in declared if isinstance(k, str) and k and k != "unknown"}
        if len(kinds) == 1:
            out[str(name)] = kinds.pop()
    return out


def parse_buildinfo(data: Any) -> dict[str, str]:
    """GET /api/v1/status/buildinfo: its string fields (version, revision, ...)."""
    if not isinstance(data, Mapping):
        raise PromMalformed("build info is not an object")
    return {str(k): v for k, v in data.items() if isinstance(v, str)}


def parse_label_values(data: Any) -> tuple[str, ...]:
    """GET /api/v1/label/<name>/values: the values, strings only."""
    if not isinstance(data, list):
        raise PromMalformed("label values are not a list")
    return tuple(str(v) for v in data if isinstance(v, str))
