"""What the monitor reads of latency and inference servers: Prometheus' when it has them (the
latency histogram, vLLM/SGLang/TGI/Triton servers beside the GPUs), else the local source's
latency, each with its own freshness.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gputop.core.models import LatencySample, NodeSnapshot, ServingSample, SourceState
from gputop.sources.base import RemoteSource

__all__ = ["ServingReadings"]


class ServingReadings:
    """Latency and serving numbers, from the monitor's remote source or its latest reading."""

    remote: RemoteSource | None
    latest: NodeSnapshot | None

    @property
    def local_name(self) -> str | None:
        raise NotImplementedError

    def state(self, name: str) -> SourceState:
        raise NotImplementedError

    def latency_source(self) -> str | None:
        """Which source the latency comes from: Prometheus when it has some, else local."""
        if self.remote is not None and self.remote.latency() is not None:
            return "prometheus"
        if self.latest is not None and self.latest.latency is not None:
            return self.local_name
        return "prometheus" if self.remote is not None else None

    def latency_state(self) -> SourceState | None:
        """How fresh the latency panel is: Prometheus' histogram's own freshness, or the local
        source's state; None with no latency source."""
        source = self.latency_source()
        # a remote source may know its latency's freshness apart from its GPUs'
        own: Callable[[], SourceState] | None = (
            getattr(self.remote, "latency_state", None) if source == "prometheus" else None
        )
        if own is not None:
            return own()
        return None if source is None else self.state(source)

    def serving(self) -> tuple[ServingSample, ...]:
        """Every model of every inference server Prometheus shows (vLLM, SGLang, ...)."""
        # a remote source may know the inference servers behind its GPUs
        read: Callable[[], Sequence[ServingSample]] | None = getattr(self.remote, "serving", None)
        return tuple(read()) if read is not None else ()

    def serving_state(self) -> SourceState | None:
        """How fresh the inference servers' numbers are, from their own targets' samples
        (None: no server found)."""
        own: Callable[[], SourceState | None] | None = getattr(self.remote, "serving_state", None)
        return own() if own is not None else None

    def latency(self) -> LatencySample | None:
        if self.remote is not None:
            remote_latency = self.remote.latency()
            if remote_latency is not None:
                return remote_latency
        return self.latest.latency if self.latest else None
