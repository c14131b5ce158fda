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
from typing import TYPE_CHECKING

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
from gputop.rules.model import RuleStatus, sort_statuses
from gputop.sources.base import LocalSource, SourceError, SourceUnavailable

if TYPE_CHECKING:
    from gputop.rules.engine import RulesEngine
    from gputop.sources.prometheus import PrometheusClient

__all__ = ["LOCAL_SOURCES", "OVERVIEW_MAX", "LocalFailure", "Monitor"]

#: With no local GPU, the overview shows at most this many of Prometheus' GPUs.
OVERVIEW_MAX = 16
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
        client: PrometheusClient | None = None,
        rules: RulesEngine | None = None,
        local_rules: RulesEngine | None = None,
        host: str | None = None,
    ) -> None:
        self.clock = clock
        self.local = local
        self.remote = remote  # a PrometheusSource, when configured
        self.client = client  # its client, also used for Prometheus' own rules
        self.rules = rules  # Prometheus' rules when configured, else local evaluation
        self.local_rules = local_rules  # rule files evaluated locally beside Prometheus
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

    def ingest(self, result: NodeSnapshot | LocalFailure | None, *, evaluate: bool = True) -> None:
        """Apply a local reading to the store and the source states (owner's thread).

        Local rules are evaluated at the reading's arrival, like Prometheus at each evaluation.
        """
        if result is None or self.local is None:
            return
        name = self.local.name
        if isinstance(result, LocalFailure):
            delay = self._backoff.next_delay()
            self._retry_at = result.time + delay
            previous = self._states[name]
            self._set(
                name,
                SourceState(
                    SourceStatus.ERROR, result.error.reason, previous.last_ok, self._retry_at
                ),
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
        if evaluate:
            self.evaluate_rules()

    def evaluate_rules(self) -> None:
        """Evaluate the local rules on the latest reading (done at each reading's arrival)."""
        gpus = self.latest.gpus if self.latest else ()
        for engine in (self.local_rules, None if self.remote is not None else self.rules):
            if engine is not None:
                engine.evaluate_local(self.store, gpus)

    def rule_statuses(self) -> list[RuleStatus]:
        """Every rule's status, worst first."""
        engines = [e for e in (self.rules, self.local_rules) if e is not None]
        if len(engines) == 1:
            return engines[0].statuses
        return sort_statuses(s for e in engines for s in e.statuses)

    def ingest_many(self, snapshots: Iterable[NodeSnapshot]) -> None:
        """Replay past readings into the history; rules start evaluating from now."""
        for snap in snapshots:
            self.ingest(snap, evaluate=False)

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
        if self.rules is not None and self.client is not None:
            await self.rules.refresh_prometheus(self.client)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    # ---- views ----------------------------------------------------------------------

    def sources_failing(self) -> bool:
        """Whether a source in use cannot be read (or Prometheus' rules cannot)."""
        if self.local is not None and self.state(self.local.name).status is SourceStatus.ERROR:
            return True
        if self.remote is not None:
            if not self.state("prometheus").ok:
                return True
            if self.rules is not None and self.rules.error is not None:
                return True
        return False

    def state(self, name: str) -> SourceState:
        return self._states[name]

    def states(self) -> dict[str, SourceState]:
        return dict(self._states)

    def _set(self, name: str, state: SourceState) -> None:
        self._states[name] = state

    def overview_gpus(self) -> list[GpuSample]:
        """The GPUs of the overview: this node's, or, with none here, the first
        `OVERVIEW_MAX` that Prometheus sees (the fleet screen lists them all)."""
        if self.latest is not None and self.latest.gpus:
            return list(self.latest.gpus)
        return list(self._remote_gpus()[:OVERVIEW_MAX])

    def gpus(self) -> list[GpuSample]:
        """Every GPU known: local ones first, then those only Prometheus sees."""
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

    def latency_source(self) -> str | None:
        """Which source the latency comes from: Prometheus when it has some, else local."""
        if self.remote is not None and self.remote.latency() is not None:  # type: ignore[attr-defined]
            return "prometheus"
        if self.latest is not None and self.latest.latency is not None:
            return self.local_name
        return "prometheus" if self.remote is not None else None

    def latency(self) -> LatencySample | None:
        if self.remote is not None:
            remote_latency = self.remote.latency()  # type: ignore[attr-defined]
            if remote_latency is not None:
                return remote_latency
        return self.latest.latency if self.latest else None

    def close(self) -> None:
        if self.local is not None:
            self.local.close()
