"""The metric catalogue: what each metric measures, in which unit and range, and which
names belong to it.

The lint uses it for unit sense (a 0–1 ratio compared with 95 never fires), for the names it
may judge (dcgm-exporter's `DCGM_*`, its 1.x `dcgm_*` names and the latency histogram: a
`node_*` or `kube_*` name is none of its business), and for what a default install exports;
the local evaluator uses it to map DCGM metrics onto the store's series and readings.

Two sources: the fields rules are written on, described by hand (`dcgm_fields`: unit, kind,
range, default export), and every other field DCGM defines (`dcgm_field_table`, generated
from `dcgm_fields.h`), read only when a name is not among the first, so the dashboard never
pays for it.
"""

from __future__ import annotations

import dataclasses
import functools

from gputop.core.dcgm_fields import DCGM_METRICS, LABEL_FIELDS, NOT_METRICS, OLD_NAMES, RENAMED
from gputop.core.metric_info import MetricInfo, MetricKind

__all__ = [
    "CATALOGUE",
    "DEFAULT_HISTOGRAM",
    "GPU_LABELS",
    "HISTOGRAM_SUFFIXES",
    "LABEL_FIELDS",
    "NOT_METRICS",
    "OLD_NAMES",
    "RENAMED",
    "DcgmField",
    "MetricInfo",
    "MetricKind",
    "dcgm_field",
    "histogram_of",
    "in_namespace",
    "lookup",
    "suggest",
]

#: Labels dcgm-exporter puts on every per-GPU series (Kubernetes adds namespace/pod/container).
GPU_LABELS: tuple[str, ...] = (
    "gpu",
    "UUID",
    "device",
    "modelName",
    "Hostname",
    "namespace",
    "pod",
    "container",
)
#: Series a Prometheus histogram is exposed as.
HISTOGRAM_SUFFIXES: tuple[str, ...] = ("_bucket", "_sum", "_count")
#: The inference latency histogram unless the config names another.
DEFAULT_HISTOGRAM = "t2v_inference_duration_seconds"

_OTHER: tuple[MetricInfo, ...] = (
    MetricInfo(
        DEFAULT_HISTOGRAM,
        "s",
        "histogram",
        "end-to-end duration of one text-to-video inference job",
        0.0,
        None,
    ),
    MetricInfo("t2v_jobs_completed_total", "jobs", "counter", "inference jobs completed", 0.0),
    MetricInfo("t2v_queue_depth", "jobs", "gauge", "inference jobs waiting for a GPU", 0.0),
    MetricInfo("up", "bool", "gauge", "1 when the target's last scrape succeeded", 0.0, 1.0),
)

#: Every catalogued metric by name, the names DCGM renamed included.
CATALOGUE: dict[str, MetricInfo] = {m.name: m for m in (*DCGM_METRICS, *_OTHER)}
CATALOGUE.update(
    {old: dataclasses.replace(CATALOGUE[new], name=old) for old, new in RENAMED.items()}
)


@dataclasses.dataclass(frozen=True, slots=True)
class DcgmField:
    """One field of `dcgm_fields.h`: its number, current name, value type ("int64",
    "double", "string", "binary", "timestamp", or "" when DCGM's field table lacks it), unit as
    DCGM states it, and its deprecated names."""

    id: int
    name: str
    type: str
    unit: str | None
    old_names: tuple[str, ...]

    @property
    def numeric(self) -> bool:
        """Whether dcgm-exporter can export its value as a number (not text, not a record)."""
        return self.type not in ("string", "binary")


_FIELD_TYPES = {"i": "int64", "d": "double", "s": "string", "b": "binary", "t": "timestamp"}
_UNIT_RANGES: dict[str, tuple[float | None, float | None]] = {"%": (0.0, 100.0)}


@functools.cache
def _dcgm_fields() -> dict[str, DcgmField]:
    from gputop.core.dcgm_field_table import TABLE

    fields: dict[str, DcgmField] = {}
    for line in TABLE.splitlines():
        number, name, kind, unit, old = line.split("|")
        names = () if old == "-" else tuple(old.split(","))
        field = DcgmField(
            int(number), name, _FIELD_TYPES.get(kind, ""), None if unit == "-" else unit, names
        )
        fields.update(dict.fromkeys((name, *names), field))
    return fields


def dcgm_field(name: str) -> DcgmField | None:
    """The field of `dcgm_fields.h` a name (current or deprecated) stands for."""
    return _dcgm_fields().get(name) if name.startswith("DCGM_FI_") else None


def _field_info(name: str, field: DcgmField) -> MetricInfo | None:
    """The entry of a field known only from DCGM's header: the hand-written entry of the same
    field under another of its names, else what the header says."""
    for known in (field.name, *field.old_names):
        info = CATALOGUE.get(known)
        if info is not None:
            # a default install exports the field under the name its counters file uses
            return dataclasses.replace(
                info,
                name=name,
                default_export=False,
                equivalent=known if info.default_export else info.equivalent,
            )
    if not field.numeric:
        return None
    unit = field.unit or "?"
    lo, hi = _UNIT_RANGES.get(unit, (None, None))
    if unit == "ratio" and field.type == "double":
        lo, hi = 0.0, 1.0
    meaning = f"DCGM field {field.id}"
    return MetricInfo(name, unit, "unknown", meaning, lo, hi, default_export=False)


def lookup(name: str, *, histogram: str = DEFAULT_HISTOGRAM) -> MetricInfo | None:
    """The catalogue entry of a metric, also for a histogram's _bucket/_sum/_count series;
    `histogram` is the configured latency histogram, known even when it is not catalogued."""
    info = CATALOGUE.get(name)
    if info is not None:
        return info
    field = dcgm_field(name)
    if field is not None:
        return _field_info(name, field)
    if name == histogram:
        return histogram_of(name)
    for suffix in (*HISTOGRAM_SUFFIXES, "_created"):
        if not name.endswith(suffix):
            continue
        stem = name.removesuffix(suffix)
        base = CATALOGUE.get(stem) or (histogram_of(stem) if stem == histogram else None)
        if base is not None and base.kind == "histogram":
            return base
        # OpenMetrics exposes a counter's creation time as <name without _total>_created.
        counter = CATALOGUE.get(stem + "_total")
        if suffix == "_created" and counter is not None and counter.kind == "counter":
            return counter
    return None


def histogram_of(name: str) -> MetricInfo:
    """The entry of a latency histogram named in the config."""
    known = CATALOGUE.get(name)
    if known is not None and known.kind == "histogram":
        return known
    unit = "s" if name.endswith("_seconds") else "?"
    return MetricInfo(name, unit, "histogram", "the inference latency histogram", 0.0, None)


def in_namespace(name: str, *, histogram: str = DEFAULT_HISTOGRAM) -> bool:
    """Whether the catalogue speaks for every name like this one: dcgm-exporter's (current
    and 1.x) and the latency histogram's family. Others are never called unknown here."""
    if name.startswith(("DCGM_", "dcgm_", histogram)):
        return True
    family = [histogram + s for s in HISTOGRAM_SUFFIXES]
    import difflib  # only for a name not in the catalogue

    return bool(difflib.get_close_matches(name, family, n=1, cutoff=0.9))  # a slip of its name


def suggest(name: str, *, histogram: str = DEFAULT_HISTOGRAM) -> str | None:
    """The catalogued name a near-miss most likely meant, if one is close enough."""
    family = [histogram + s for s in HISTOGRAM_SUFFIXES]
    names = [n for n in CATALOGUE if n.startswith("DCGM_")] + family + list(OLD_NAMES)
    if name.startswith("DCGM_"):
        names += list(_dcgm_fields())
    upper = {n.upper(): n for n in names}
    if name.upper() in upper and upper[name.upper()] != name:
        return upper[name.upper()]  # a case slip: dcgm_fi_dev_gpu_temp
    import difflib  # only for a name not in the catalogue

    found = difflib.get_close_matches(name.upper(), list(upper), n=1, cutoff=0.75)
    return upper[found[0]] if found else None
