"""What the rules engine carries from one evaluation to the next, so the screen stays truthful
and calm: hysteresis on "near", and the rows of GPUs that were lost.

- **Near hysteresis.** A series becomes near when its value comes within the margin of the
  threshold, and stops being near only once it is `NEAR_EXIT_MARGINS` margins away. A value
  hovering at the edge of the margin therefore does not flip its row between NEAR and OK every
  evaluation. Only plain margins hold: a near that came from a trend, a crossed threshold or a
  gated comparison follows the evaluation as it is.
- **Lost GPUs.** A GPU that falls off the bus stops producing series, and its rules would
  silently leave the list. Instead every series last seen on a lost GPU stays listed as
  unknown, "GPU lost". Locally evaluated alerts on a lost GPU are made unknown too (they run on
  readings that stopped); Prometheus' own firing and pending states are kept as Prometheus
  reports them, since gputop never disagrees with Prometheus about what fires.

Memory is bounded: only the series of the last evaluation, and those of GPUs lost now, are kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from gputop.core.labels import LabelKey, matches_sample
from gputop.core.models import GpuSample
from gputop.rules.model import DEFAULT_MARGIN, RuleStatus

__all__ = ["GPU_LOST", "NEAR_EXIT_MARGINS", "StatusKeeper"]

#: A near series leaves near only once its value is this many margins from the threshold.
NEAR_EXIT_MARGINS = 1.5
#: The reason of a rule row whose GPU is lost.
GPU_LOST = "GPU lost"

Key = tuple[str, LabelKey]


class StatusKeeper:
    """Applies near hysteresis and keeps the rows of lost GPUs; call `settle` after each
    evaluation with the GPUs lost at that time."""

    def __init__(self, *, margin: float = DEFAULT_MARGIN) -> None:
        self.margin = margin
        self._near: set[Key] = set()
        self._known: dict[Key, RuleStatus] = {}

    def settle(
        self, statuses: Iterable[RuleStatus], lost: Sequence[GpuSample] = ()
    ) -> list[RuleStatus]:
        out: list[RuleStatus] = []
        near: set[Key] = set()
        seen: set[Key] = set()
        for status in statuses:
            key = status.key
            seen.add(key)
            gpu = _lost_gpu(status, lost)
            if gpu is not None:
                status = _as_lost(status)
            elif status.state == "ok" and key in self._near and self._still_near(status):
                status = dataclasses.replace(
                    status,
                    state="near",
                    reason=f"within {NEAR_EXIT_MARGINS:g}× the margin: near until it moves away",
                )
            if status.state == "near":
                near.add(key)
            out.append(status)
        for key, status in self._known.items():
            if key not in seen and _lost_gpu(status, lost) is not None:
                out.append(_as_lost(status))
                seen.add(key)
        self._near = near
        self._known = {s.key: s for s in out}
        return out

    def _still_near(self, status: RuleStatus) -> bool:
        value, threshold, op = status.value, status.threshold, status.op
        if value is None or threshold is None or status.reason is not None:
            return False  # plain ok only: not a gated or bool comparison
        margin = self.margin if status.margin is None else status.margin
        band = NEAR_EXIT_MARGINS * margin * abs(threshold)
        if op in (">", ">="):
            return value >= threshold - band
        if op in ("<", "<="):
            return value <= threshold + band
        return False


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
