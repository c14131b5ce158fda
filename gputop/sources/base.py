"""The small interface every local source implements, and the errors sources raise.

Exception tree::

    SourceError                 a reading failed; the source may recover (retry with backoff)
    └── SourceUnavailable       the source cannot work here at all (library or driver missing)
"""

from __future__ import annotations

from typing import Protocol

from gputop.core.models import NodeSnapshot

__all__ = ["LocalSource", "SourceError", "SourceUnavailable"]


class SourceError(Exception):
    """A failed reading, with a one-line reason fit for the screen."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SourceUnavailable(SourceError):
    """The source cannot be used on this machine (no library, no driver, no GPU)."""


class LocalSource(Protocol):
    """A source read synchronously (from a worker thread in the UI)."""

    name: str

    def open(self) -> None:
        """Prepare the source; raises SourceUnavailable when it cannot work here."""
        ...

    def sample(self) -> NodeSnapshot:
        """Read everything once; raises SourceError on failure. Must be thread-safe."""
        ...

    def close(self) -> None: ...
