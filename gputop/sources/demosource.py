"""The demo node (`demo.DemoNode`) as a local source: each read advances the simulation to the
clock's time; its recent past can be replayed for a warm start.
"""

from __future__ import annotations

import threading

from gputop.core.clock import Clock
from gputop.core.models import NodeSnapshot
from gputop.sources.demo import STEP_S, DemoNode

__all__ = ["DemoSource"]


class DemoSource:
    """The demo node as a local source: reads advance the simulation to the clock's time."""

    name = "demo"

    def __init__(
        self,
        clock: Clock,
        *,
        seed: int = 7,
        gpus: int = 8,
        scenario: str = "mixed",
        host: str = "demo-node",
        warmup_s: float = 0.0,
        mig: int = 0,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.host = host
        self.node = DemoNode(
            clock.now() - warmup_s, seed=seed, gpus=gpus, scenario=scenario, host=host, mig=mig
        )

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def sample(self) -> NodeSnapshot:
        with self._lock:
            self.node.advance_to(self._clock.now())
            return self._snapshot()

    def history(self, seconds: float, interval: float) -> list[NodeSnapshot]:
        """Snapshots of the last `seconds` before now, every `interval` (a warm start)."""
        with self._lock:
            end = self._clock.now()
            t = max(self.node.now, end - seconds)
            out: list[NodeSnapshot] = []
            while t < end:
                self.node.advance_to(t)
                out.append(self._snapshot())
                t += max(interval, STEP_S)
            return out

    def _snapshot(self) -> NodeSnapshot:
        node = self.node
        return NodeSnapshot(
            time=node.now,
            host=node.host,
            source=self.name,
            gpus=node.gpu_samples(),
            processes=node.processes(),
            driver_version="550.54.15",
            cuda_version="12.4",
            latency=node.latency(),
        )
