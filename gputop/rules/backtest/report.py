"""What a backtest found, and its JSON form (a contract: README, "JSON").

```
{"start": unix, "end": unix, "engine": url,
 "rules": [{"name", "group", "source", "interval_s", "for_s", "keep_firing_for_s",
            "fired", "firing_s", "flaps", "series_fired",
            "near": {"warnings", "followed_by_firing", "firings_warned", "lead_s_median",
                     "horizon_s"} | null,
            "series": [{"labels": {...}, "firing": [{"start", "end"}],
                        "pending_only": [{"start", "end"}], "firing_s", "flaps"}],
            "error": null | "why it could not be replayed",
            "whatif": [{"changed": {...}, "threshold", "for_s", "keep_firing_for_s",
                        "fired", "firing_s", "flaps", "series_fired", "near", "series"}],
            "suggestion": null | {...}}],
 "gaps": [{"start", "end", "rules": [...]}]}
```
Windows are first and last evaluation (unix seconds) in the state; `fired` counts firing
windows that start within the range, `firing_s` the firing evaluations in it times the
interval.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Gap",
    "NearScore",
    "Outcome",
    "Report",
    "RuleResult",
    "SeriesResult",
    "Suggestion",
    "WhatIf",
    "Window",
]


def _t(value: float) -> float | int:
    """A time or duration for JSON: whole seconds as integers, else milliseconds."""
    rounded = round(value, 3)
    return int(rounded) if rounded == int(rounded) else rounded


@dataclass(frozen=True, slots=True)
class Window:
    start: float
    end: float

    def as_json(self) -> dict[str, Any]:
        return {"start": _t(self.start), "end": _t(self.end)}


@dataclass(frozen=True, slots=True)
class NearScore:
    """How the near logic did: warnings judged (followed by firing, or not within the horizon),
    and firings that started in the range, warned or not."""

    warnings: int
    followed_by_firing: int
    firings: int
    firings_warned: int
    leads_s: tuple[float, ...]
    horizon_s: float

    @property
    def precision(self) -> float | None:
        return self.followed_by_firing / self.warnings if self.warnings else None

    @property
    def recall(self) -> float | None:
        return self.firings_warned / self.firings if self.firings else None

    @property
    def lead_s_median(self) -> float | None:
        return statistics.median(self.leads_s) if self.leads_s else None

    def as_json(self) -> dict[str, Any]:
        lead = self.lead_s_median
        return {
            "warnings": self.warnings,
            "followed_by_firing": self.followed_by_firing,
            "firings_warned": self.firings_warned,
            "lead_s_median": None if lead is None else _t(lead),
            "horizon_s": _t(self.horizon_s),
        }


@dataclass(frozen=True, slots=True)
class SeriesResult:
    labels: Mapping[str, str]
    firing: tuple[Window, ...]
    pending_only: tuple[Window, ...]
    firing_s: float
    flaps: int
    fired: int  # firing windows that start in the range

    def as_json(self) -> dict[str, Any]:
        return {
            "labels": dict(self.labels),
            "firing": [w.as_json() for w in self.firing],
            "pending_only": [w.as_json() for w in self.pending_only],
            "firing_s": _t(self.firing_s),
            "flaps": self.flaps,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """One replay of a rule, as written or changed."""

    series: tuple[SeriesResult, ...]
    near: NearScore | None

    @property
    def fired(self) -> int:
        return sum(s.fired for s in self.series)

    @property
    def firing_s(self) -> float:
        return sum(s.firing_s for s in self.series)

    @property
    def flaps(self) -> int:
        return sum(s.flaps for s in self.series)

    @property
    def series_fired(self) -> int:
        return sum(1 for s in self.series if s.firing)

    def as_json(self) -> dict[str, Any]:
        return {
            "fired": self.fired,
            "firing_s": _t(self.firing_s),
            "flaps": self.flaps,
            "series_fired": self.series_fired,
            "near": None if self.near is None else self.near.as_json(),
            "series": [s.as_json() for s in self.series],
        }


@dataclass(frozen=True, slots=True)
class WhatIf:
    """A changed rule replayed beside the original."""

    changed: Mapping[str, float]  # "threshold", "for_s", "keep_firing_for_s"
    threshold: float | None
    for_s: float
    keep_firing_for_s: float
    outcome: Outcome

    def as_json(self) -> dict[str, Any]:
        return {
            "changed": {k: _t(v) for k, v in self.changed.items()},
            "threshold": self.threshold,
            "for_s": _t(self.for_s),
            "keep_firing_for_s": _t(self.keep_firing_for_s),
            **self.outcome.as_json(),
        }


@dataclass(frozen=True, slots=True)
class Suggestion:
    """What `--target` found: the threshold (at the rule's `for`) and the `for` (at its
    threshold) that would have fired at most `allowed` times in the range."""

    target: str  # as given, e.g. "1/7d"
    allowed: float  # fires allowed over the replayed range
    threshold: float | None
    threshold_fired: int | None
    for_s: float | None
    for_fired: int | None
    note: str | None = None  # why a part could not be suggested

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "allowed": round(self.allowed, 3),
            "threshold": self.threshold,
            "threshold_fired": self.threshold_fired,
            "for_s": None if self.for_s is None else _t(self.for_s),
            "for_fired": self.for_fired,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class RuleResult:
    name: str
    group: str | None
    source: str | None  # file:line
    interval_s: float
    for_s: float
    keep_firing_for_s: float
    threshold: float | None = None
    op: str | None = None
    outcome: Outcome | None = None
    error: str | None = None  # why it could not be replayed
    whatif: tuple[WhatIf, ...] = ()
    suggestion: Suggestion | None = None

    @property
    def fired(self) -> int:
        return self.outcome.fired if self.outcome is not None else 0

    def as_json(self) -> dict[str, Any]:
        outcome = self.outcome or Outcome((), None)
        return {
            "name": self.name,
            "group": self.group,
            "source": self.source,
            "interval_s": _t(self.interval_s),
            "for_s": _t(self.for_s),
            "keep_firing_for_s": _t(self.keep_firing_for_s),
            **outcome.as_json(),
            "error": self.error,
            "whatif": [w.as_json() for w in self.whatif],
            "suggestion": None if self.suggestion is None else self.suggestion.as_json(),
        }


@dataclass(frozen=True, slots=True)
class Gap:
    """Evaluations at which the engine had no data for these rules (first and last)."""

    start: float
    end: float
    rules: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"start": _t(self.start), "end": _t(self.end), "rules": list(self.rules)}


@dataclass(slots=True)
class Report:
    start: float
    end: float
    engine: str
    rules: list[RuleResult] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    def over(self, max_fires: int | None) -> list[RuleResult]:
        """The rules that fired more than `max_fires` times (none without a limit)."""
        if max_fires is None:
            return []
        return [r for r in self.rules if r.fired > max_fires]

    @property
    def failed(self) -> list[RuleResult]:
        return [r for r in self.rules if r.error is not None]

    def exit_code(self, max_fires: int | None) -> int:
        """2 a rule could not be replayed, 1 a rule fired more than `max_fires`, else 0."""
        if self.failed:
            return 2
        return 1 if self.over(max_fires) else 0

    def as_json(self) -> dict[str, Any]:
        return {
            "start": _t(self.start),
            "end": _t(self.end),
            "engine": self.engine,
            "rules": [r.as_json() for r in self.rules],
            "gaps": [g.as_json() for g in self.gaps],
        }


def merge_gaps(found: Sequence[tuple[float, float, str]]) -> list[Gap]:
    """Gaps per rule merged into one entry per span, naming every rule it touched."""
    spans: dict[tuple[float, float], list[str]] = {}
    for start, end, rule in found:
        names = spans.setdefault((start, end), [])
        if rule not in names:
            names.append(rule)
    return [Gap(s, e, tuple(names)) for (s, e), names in sorted(spans.items())]
