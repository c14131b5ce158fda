"""Series identity from Prometheus labels: the sorted label key, and which node a series is on.

dcgm-exporter names the node `Hostname`; other exporters use `hostname`, and a target
without either is known only by its `instance`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gputop.core.models import GpuSample

__all__ = [
    "MIG_LABEL",
    "NODE_LABELS",
    "LabelKey",
    "label_key",
    "matches_gpu",
    "matches_sample",
    "node_of",
]

#: A series' identity: its labels as sorted (name, value) pairs.
LabelKey = tuple[tuple[str, str], ...]

#: Labels that name a series' node, most specific first.
NODE_LABELS: tuple[str, ...] = ("Hostname", "hostname", "instance")


def label_key(labels: Mapping[str, str], drop: Iterable[str] = ("__name__",)) -> LabelKey:
    """The labels as a hashable key, without the `drop` names."""
    dropped = set(drop)
    return tuple(sorted((k, str(v)) for k, v in labels.items() if k not in dropped))


def node_of(labels: Mapping[str, str], *, instance: bool = True) -> str | None:
    """The node a series is on; with `instance=False`, only an explicit host label counts."""
    for name in NODE_LABELS if instance else NODE_LABELS[:2]:
        value = labels.get(name)
        if value:
            return value
    return None


#: The label dcgm-exporter gives a MIG instance's series (its GPU instance id).
MIG_LABEL = "GPU_I_ID"


def matches_gpu(
    labels: Mapping[str, str], *, uuid: str, index: int, host: str, gi: int | None = None
) -> bool:
    """Whether a series is about this GPU: by UUID when the series has one, else by its
    `gpu` index on the same node (a series without a host label matches any node). A MIG
    instance (`gi`, with its parent's `uuid`) matches only its own instance's series, and a
    whole GPU none of its instances'."""
    series_gi = labels.get(MIG_LABEL) or None
    if series_gi != (None if gi is None else str(gi)):
        return False
    series_uuid = labels.get("UUID")
    if series_uuid:
        return series_uuid == uuid
    if labels.get("gpu") != str(index):
        return False
    node = node_of(labels, instance=False)
    return node is None or node == host


def matches_sample(labels: Mapping[str, str], gpu: GpuSample) -> bool:
    """`matches_gpu` for a GPU sample: a MIG instance by its parent's UUID and its GI."""
    mig = gpu.mig
    return matches_gpu(
        labels,
        uuid=gpu.uuid if mig is None else mig.parent_uuid,
        index=gpu.index,
        host=gpu.host,
        gi=None if mig is None else mig.gi,
    )
