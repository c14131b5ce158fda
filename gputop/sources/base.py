"""The small interface every local source implements, and the errors sources raise.

Exception tree::

    SourceError                 a reading failed; the source may recover (retry with backoff)
    └── SourceUnavailable       the source cannot work here at all (library or driver missing)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from gputop.core.models import GpuSample, LatencySample, NodeSnapshot, SourceState
from gputop.core.untrusted import one_line

__all__ = ["LocalSource", "RemoteSource", "SourceError", "SourceUnavailable"]


class SourceError(Exception):
    """A failed reading, with a one-line reason fit for the screen: whitespace collapsed,
    control characters visible, at most `MAX_REASON_CHARS` long (a server's words are part of
    many reasons, and they are shown in the header, on cards, in banners and toasts)."""

    def __init__(self, reason: str) -> None:
        reason = one_line(reason)
        super().__init__(reason)
        self.reason = reason


class SourceUnavailable(SourceError):
    """The source cannot be used on this machine (no library, no driver, no GPU)."""


class LocalSource(Protocol):
    """A source read synchronously (from a worker thread in the UI)."""

    name: str
    host: str  # the node it reads

    def open(self) -> None:
        """Prepare the source; raises SourceUnavailable when it cannot work here."""
        ...

    def sample(self) -> NodeSnapshot:
        """Read everything once; raises SourceError on failure. Must be thread-safe."""
        ...

    def close(self) -> None: ...


class RemoteSource(Protocol):
    """A source refreshed asynchronously (Prometheus): GPUs, latency and labels it has seen.

    `refresh` never raises: a failure becomes `state` (with `retry_at`, when the next try is
    due), and what was known stays known.
    """

    @property
    def state(self) -> SourceState: ...

    async def refresh(self) -> None: ...

    def retry_now(self) -> None:
        """After a failure: try again at the next `refresh`, without waiting for the backoff."""
        ...

    def gpus(self) -> Sequence[GpuSample]:
        """Every GPU it sees, local ones included (matched by UUID)."""
        ...

    def latency(self) -> LatencySample | None: ...

    def labels(self, key: str) -> Mapping[str, str]:
        """The labels of a GPU's series (pod, namespace ...), by GPU key."""
        ...
