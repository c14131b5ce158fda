"""What the catalogue knows of one metric, apart from the tables that fill it.

Its own module so the tables (`dcgm_fields`) and the lookups (`catalogue`) both import it
without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["MetricInfo", "MetricKind"]

#: "unknown": a field DCGM defines whose Prometheus type only a counters file declares.
MetricKind = Literal["gauge", "counter", "histogram", "unknown"]


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """One metric: unit, kind, the range its values can take, what it means.

    `store_field` names the MetricStore series it maps to locally; `store_scale` converts the
    store's value into the metric's unit (e.g. a percentage into a 0–1 ratio). `reading`
    names the GpuSample field that holds its current value when no history is kept (the
    memory total, the power limit). `default_export` says whether a default dcgm-exporter
    install exports it; `equivalent` is what to write instead when it does not.
    """

    name: str
    unit: str
    kind: MetricKind
    meaning: str
    lo: float | None = None
    hi: float | None = None
    store_field: str | None = None
    store_scale: float = 1.0
    reading: str | None = None
    default_export: bool = True
    equivalent: str | None = None

    @property
    def range_name(self) -> str | None:
        """ "ratio 0–1" or "percent 0–100" for bounded metrics, else None."""
        if self.lo == 0.0 and self.hi == 1.0:
            return "ratio 0–1"
        if self.lo == 0.0 and self.hi == 100.0:
            return "percent 0–100"
        return None

    @property
    def local(self) -> bool:
        """Whether the local evaluator can read it (history or current reading)."""
        return self.store_field is not None or self.reading is not None
