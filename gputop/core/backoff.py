"""Retry timing for failing sources: exponential backoff with a cap."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Backoff"]


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
