"""What the rules engine carries from one evaluation to the next, so the screen stays truthful:
the rows of GPUs that were lost. (Near's hysteresis is read from each series' recent values,
in `gputop.rules.near`, so a one-shot run judges it as the dashboard does.)

A GPU that falls off the bus stops producing series, and its rules would silently leave the
list. Instead every series last seen on a lost GPU stays listed as unknown, "GPU lost".
Locally evaluated alerts on a lost GPU are made unknown too (they run on readings that
stopped); Prometheus' own firing and pending states are kept as Prometheus reports them, since
gputop never disagrees with Prometheus about what fires.

Memory is bounded: only the series of the last evaluation, and those of GPUs lost now, are kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from gputop.core.labels import LabelKey, matches_sample
from gputop.core.models import GpuSample
from gputop.rules.model import RuleStatus

__all__ = ["GPU_LOST", "StatusKeeper"]

#: The reason of a rule row whose GPU is lost.
GPU_LOST = "GPU lost"

Key = tuple[str, LabelKey]


class StatusKeeper:
    """Keeps the rows of lost GPUs; call `settle` after each evaluation with the GPUs lost at
    that time."""

    def __init__(self) -> None:
        self._known: dict[Key, RuleStatus] = {}

    def settle(
        self, statuses: Iterable[RuleStatus], lost: Sequence[GpuSample] = ()
    ) -> list[RuleStatus]:
        out: list[RuleStatus] = []
        seen: set[Key] = set()
        for status in statuses:
            seen.add(status.key)
            out.append(_as_lost(status) if _lost_gpu(status, lost) is not None else status)
        for key, status in self._known.items():
            if key not in seen and _lost_gpu(status, lost) is not None:
                out.append(_as_lost(status))
                seen.add(key)
        self._known = {s.key: s for s in out}
        return out


def _lost_gpu(status: RuleStatus, lost: Sequence[GpuSample]) -> GpuSample | None:
    if not lost or not status.labels:
        return None
    for gpu in lost:
        if matches_sample(status.labels, gpu):
            return gpu
    return None


def _as_lost(status: RuleStatus) -> RuleStatus:
    if status.source == "prometheus" and status.state in ("firing", "pending"):
        return status  # Prometheus' own alert state: shown as it says
    if status.state == "unknown" and status.reason == GPU_LOST:
        return status
    return dataclasses.replace(
        status, state="unknown", reason=GPU_LOST, fires_in_s=None, eta_s=None, value=None
    )
