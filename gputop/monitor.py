"""The monitor: owns the sources, the store and the rules, and is driven the same way by
`--once`, the dashboard and the tests.

The local source (NVML or the demo node) is read with `read_local()`, which blocks and may run
on a worker thread; its result is applied with `ingest()` on the owner's thread, so the store
is only ever written from one thread. Remote sources are async (`refresh_remote()`).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from gputop.core.backoff import Backoff
from gputop.core.clock import Clock
from gputop.core.models import (
    GpuSample,
    LatencySample,
    NodeSnapshot,
    ProcessSample,
    SourceState,
    SourceStatus,
)
from gputop.core.store import MetricStore
from gputop.sources.base import LocalSource, SourceError, SourceUnavailable

__all__ = ["LOCAL_SOURCES", "LocalFailure", "Monitor"]

#: Names under `sources` in --json, in order.
LOCAL_SOURCES = ("nvml", "demo")


@dataclass(frozen=True, slots=True)
class LocalFailure:
    """What `read_local` returns instead of a snapshot when the source failed."""

    error: SourceError
    time: float


class Monitor:
    def __init__(
        self,
        *,
        clock: Clock,
        local: LocalSource | None,
        store: MetricStore | None = None,
        remote: object | None = None,
        host: str | None = None,
    ) -> None:
        self.clock = clock
        self.local = local
        self.remote = remote  # a PrometheusSource, when configured
        self.store = store if store is not None else MetricStore()
        self.host = host or (local and getattr(local, "host", None)) or socket.gethostname()
        self.latest: NodeSnapshot | None = None
        self._lost_first_seen: dict[str, float] = {}
        self._backoff = Backoff(base=1.0, factor=2.0, cap=30.0)
        self._retry_at: float | None = None
        self._lock = threading.Lock()
        self._states: dict[str, SourceState] = {
            name: SourceState(SourceStatus.OFF) for name in (*LOCAL_SOURCES, "prometheus")
        }

    # ---- local source ---------------------------------------------------------------

    @property
    def local_name(self) -> str | None:
        return None if self.local is None else self.local.name

    def open(self) -> None:
        """Open the local source; a source that cannot work here is marked unavailable."""
        if self.local is None:
            return
        try:
            self.local.open()
        except SourceUnavailable as exc:
            self._set(self.local.name, SourceState(SourceStatus.UNAVAILABLE, exc.reason))
            self.local = None
            return
        self._set(self.local.name, SourceState(SourceStatus.OK))

    def read_local(self) -> NodeSnapshot | LocalFailure | None:
        """Read the local source once (blocking, thread-safe). None: nothing due or no source."""
        source = self.local
        if source is None:
            return None
        now = self.clock.now()
        if self._retry_at is not None and now < self._retry_at:
            return None
        with self._lock:
            try:
                return source.sample()
            except SourceError as exc:
                return LocalFailure(exc, now)

    def ingest(self, result: NodeSnapshot | LocalFailure | None) -> None:
        """Apply a local reading to the store and the source states (owner's thread)."""
        if result is None or self.local is None:
            return
        name = self.local.name
        if isinstance(result, LocalFailure):
            delay = self._backoff.next_delay()
            self._retry_at = result.time + delay
            previous = self._states[name]
            self._set(
                name,
                SourceState(SourceStatus.ERROR, result.error.reason, previous.last_ok, self._retry_at),
            )
            return
        self._backoff.reset()
        self._retry_at = None
        self.latest = result
        for gpu in result.gpus:
            self.store.add_gpu(gpu)
        if result.latency is not None:
            self.store.add_latency(result.latency)
        self._set(name, SourceState(SourceStatus.OK, None, result.time))

    def ingest_many(self, snapshots: Iterable[NodeSnapshot]) -> None:
        for snap in snapshots:
            self.ingest(snap)

    def warm_start(self, seconds: float, interval: float) -> None:
        """Fill the history of a source that can replay its past (the demo node)."""
        history = getattr(self.local, "history", None)
        if history is not None:
            self.ingest_many(history(seconds, max(interval, seconds / 600)))

    def poll(self) -> None:
        """Read and apply the local source once, on this thread."""
        self.ingest(self.read_local())

    # ---- remote sources -------------------------------------------------------------

    async def refresh_remote(self) -> None:
        remote = self.remote
        if remote is None:
            return
        await remote.refresh()  # type: ignore[attr-defined]
        self._set("prometheus", remote.state)  # type: ignore[attr-defined]

    # ---- views ----------------------------------------------------------------------

    def state(self, name: str) -> SourceState:
        return self._states[name]

    def states(self) -> dict[str, SourceState]:
        return dict(self._states)

    def _set(self, name: str, state: SourceState) -> None:
        self._states[name] = state

    def gpus(self) -> list[GpuSample]:
        """Every GPU to show: local ones first, then those only Prometheus sees."""
        local = list(self.latest.gpus) if self.latest else []
        seen = {g.key for g in local}
        remote = [g for g in self._remote_gpus() if g.key not in seen]
        return local + remote

    def _remote_gpus(self) -> tuple[GpuSample, ...]:
        if self.remote is None:
            return ()
        return tuple(self.remote.gpus())  # type: ignore[attr-defined]

    def local_keys(self) -> set[str]:
        return {g.key for g in self.latest.gpus} if self.latest else set()

    def processes(self) -> tuple[ProcessSample, ...]:
        return self.latest.processes if self.latest else ()

    def latency(self) -> LatencySample | None:
        if self.remote is not None:
            remote_latency = self.remote.latency()  # type: ignore[attr-defined]
            if remote_latency is not None:
                return remote_latency
        return self.latest.latency if self.latest else None

    def close(self) -> None:
        if self.local is not None:
            self.local.close()
