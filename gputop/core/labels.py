"""Series identity from Prometheus labels: the sorted label key, and which node a series is on.

dcgm-exporter names the node `Hostname`; other exporters use `hostname`, and a target
without either is known only by its `instance`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["NODE_LABELS", "LabelKey", "label_key", "matches_gpu", "node_of"]

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


def matches_gpu(labels: Mapping[str, str], *, uuid: str, index: int, host: str) -> bool:
    """Whether a series is about this GPU: by UUID when the series has one, else by its
    `gpu` index on the same node (a series without a host label matches any node)."""
    series_uuid = labels.get("UUID")
    if series_uuid:
        return series_uuid == uuid
    if labels.get("gpu") != str(index):
        return False
    node = node_of(labels, instance=False)
    return node is None or node == host
