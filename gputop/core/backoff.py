"""Retry timing for failing sources: exponential backoff with a cap.

`source_backoff()` is the one policy every source and Prometheus' rules share: 1 s doubling to
`RETRY_CAP_S`, short enough that a source that comes back is seen within seconds, long enough
that a dead one is not hammered.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RETRY_CAP_S", "Backoff", "source_backoff"]

#: The longest wait between two tries of a failing source.
RETRY_CAP_S = 8.0


@dataclass(slots=True)
class Backoff:
    """Delays of base, base*factor, ... up to cap; `reset` after a success."""

    base: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    failures: int = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * self.factor**self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


def source_backoff() -> Backoff:
    """The backoff of a failing source: 1 s, 2 s, 4 s, then every `RETRY_CAP_S`."""
    return Backoff(base=1.0, factor=2.0, cap=RETRY_CAP_S)
