"""The Monitor class: the sources, the store and the rules it owns, read and refreshed (see
`gputop.monitor`)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from gputop.core.backoff import source_backoff
from gputop.core.clock import Clock
from gputop.core.models import (
    GpuSample,
    LostSince,
    NodeSnapshot,
    ProcessSample,
    SourceState,
    SourceStatus,
)
from gputop.core.store import MetricStore
from gputop.monitor.actions import MonitorActions
from gputop.monitor.jobs import StatusJobs
from gputop.monitor.lateness import Lateness
from gputop.monitor.serving import ServingReadings
from gputop.rules.model import RuleStatus, sort_statuses
from gputop.sources.base import (
    LocalFailure,
    LocalReading,
    LocalSource,
    RemoteSource,
    SourceError,
    SourceUnavailable,
)

if TYPE_CHECKING:
    from gputop.rules.backtest.setup import Setup
    from gputop.rules.engine import RulesEngine
    from gputop.rules.fate import Fates
    from gputop.sources.alertmanager import AlertmanagerSource
    from gputop.sources.prometheus.client import PrometheusClient

__all__ = [
    "LOCAL_SOURCES",
    "OVERVIEW_MAX",
    "Monitor",
]

#: With no local GPU, the overview shows at most this many of Prometheus' GPUs.
OVERVIEW_MAX = 16
#: Names under `sources` in --json, in order.
LOCAL_SOURCES = ("nvml", "demo")


class Monitor(MonitorActions, ServingReadings):
    def __init__(
        self,
        *,
        clock: Clock,
        local: LocalSource | None,
        store: MetricStore | None = None,
        remote: RemoteSource | None = None,
        client: PrometheusClient | None = None,
        rules: RulesEngine | None = None,
        local_rules: RulesEngine | None = None,
        alertmanager: AlertmanagerSource | None = None,
        host: str | None = None,
    ) -> None:
        self.clock = clock
        self.local = local
        self.remote = remote  # Prometheus, when configured
        self.client = client  # its client, also used for Prometheus' own rules
        self.rules_client: PrometheusClient | None = None  # rules from elsewhere (rules_url)
        self.rules = rules  # Prometheus' rules when configured, else local evaluation
        self.local_rules = local_rules  # rule files evaluated locally beside Prometheus
        self.alertmanager = alertmanager  # where fired alerts go, when configured
        self.store = store if store is not None else MetricStore()
        self.latency_histogram: str | None = None  # what Prometheus is asked for latency
        self.host = host or (local.host if local is not None else socket.gethostname())
        self.latest: NodeSnapshot | None = None
        self._backoff = source_backoff()
        self._retry_at: float | None = None
        self._closed = False  # the local source is still to be opened (see `open`)
        self._lost_since = LostSince()
        self._lock = threading.Lock()
        self.interval = 1.0  # the dashboard's refresh interval (Prometheus' panels)
        self._lateness = Lateness()  # gputop's own, apart from the data's
        self._states: dict[str, SourceState] = {
            name: SourceState(SourceStatus.OFF)
            for name in (*LOCAL_SOURCES, "prometheus", "alertmanager")
        }
        self._fates: Fates | None = None  # rule_statuses() with fates, kept
        self._jobs = StatusJobs()  # rule_statuses() with the jobs on their GPUs, kept

    # ---- local source ---------------------------------------------------------------

    @property
    def local_name(self) -> str | None:
        return None if self.local is None else self.local.name

    def open(self, *, keep_trying: bool = False) -> None:
        """Open the local source; a source that cannot work here is marked unavailable and
        dropped, or, with `keep_trying` (a kiosk with nothing else to show), opened again
        with backoff until it works."""
        if self.local is None:
            return
        try:
            self.local.open()
        except SourceUnavailable as exc:
            self._set(self.local.name, SourceState(SourceStatus.UNAVAILABLE, exc.reason))
            if keep_trying:
                self._closed = True
                self._retry_at = self.clock.now() + self._backoff.next_delay()
            else:
                self.local = None
            return
        self._set(self.local.name, SourceState(SourceStatus.OK))

    def read_local(self) -> LocalReading:
        """Read the local source once (blocking, thread-safe). None: nothing due or no source."""
        source = self.local
        if source is None:
            return None
        now = self.clock.now()
        if self._retry_at is not None and now < self._retry_at:
            return None
        with self._lock:
            try:
                if self._closed:
                    source.open()
                    self._closed = False
                return source.sample()
            except SourceError as exc:
                return LocalFailure(exc, now)

    def ingest(self, result: LocalReading, *, evaluate: bool = True) -> None:
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
                    SourceStatus.ERROR,
                    result.error.reason,
                    previous.last_ok,
                    self._retry_at,
                    newest=previous.newest,
                ),
            )
            return
        self._backoff.reset()
        self._retry_at = None
        self.latest = result
        self._lost_since.note(result.gpus, result.time)
        for gpu in result.gpus:
            self.store.add_gpu(gpu)
        if result.latency is not None:
            self.store.add_latency(result.latency)
        self._set(name, SourceState(SourceStatus.OK, None, result.time, newest=result.time))
        if evaluate:
            self.evaluate_rules()

    def evaluate_rules(self) -> None:
        """Evaluate the local rules on the latest reading (done at each reading's arrival)."""
        gpus = self.latest.gpus if self.latest else ()
        for engine in (self.local_rules, None if self.remote is not None else self.rules):
            if engine is not None:
                engine.evaluate_local(self.store, gpus)

    def rule_statuses(self) -> list[RuleStatus]:
        """Every rule's status, worst first; with Alertmanager, each with its alert's fate."""
        engines = [e for e in (self.rules, self.local_rules) if e is not None]
        if len(engines) == 1:
            statuses = engines[0].statuses
        else:
            statuses = sort_statuses(s for e in engines for s in e.statuses)
        statuses = self._jobs.of(
            statuses,
            self.clock.now(),
            version=getattr(self.remote, "jobs_version", None),
            remote=self._remote_gpus,
            local=self.latest.gpus if self.latest else (),
        )
        return self._with_fates(statuses)

    def _with_fates(self, statuses: list[RuleStatus]) -> list[RuleStatus]:
        if self.alertmanager is None:
            return statuses
        if self._fates is None:
            from gputop.rules.fate import Fates

            self._fates = Fates()
        am = self.alertmanager
        return self._fates.get(
            statuses,
            am.view,
            version=am.version,
            now=self.clock.now(),
            fresh=am.state.ok,
            margin_s=am.missing_margin_s,
        )

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
        """Prometheus' panels, then its rules, then Alertmanager (the dashboard runs each
        on its own, so a slow one holds up none of the others)."""
        await self.refresh_panels()
        await self.refresh_rules()
        await self.refresh_alertmanager()

    async def refresh_panels(self) -> None:
        """Prometheus' range panels (and the GPUs it sees)."""
        remote = self.remote
        if remote is None:
            return
        now = self.clock.now()
        with self._lateness.running("panels", now, self.interval):
            await remote.refresh()
        self._set("prometheus", remote.state)
        local = self.local_keys()
        self._lost_since.note([g for g in remote.gpus() if g.key not in local], self.clock.now())
        known = {g.key for g in self.gpus()}
        for key in [k for k in self._lost_since if k not in known]:
            del self._lost_since[key]  # out of Prometheus' range: no longer listed at all

    async def refresh_rules(self) -> None:
        """Prometheus' rules and their states, when due (the engine paces itself)."""
        remote = self.remote
        if remote is None or self.rules is None or self.client is None:
            return
        engine = self.rules
        now = self.clock.now()
        if now < engine.due:
            return
        lost = self.lost_gpus() if self._lost_since else []
        with self._lateness.running("rules", max(now, engine.due), engine.period_s):
            await engine.refresh_prometheus(
                self.client,
                lost,
                rules_client=self.rules_client,
                lag_s=remote.state.lag_s or 0.0,
            )

    async def refresh_alertmanager(self) -> None:
        """Poll Alertmanager when due (it paces itself); now, after a silence changed."""
        am = self.alertmanager
        if am is not None:
            now = self.clock.now()
            if now >= am.due:
                with self._lateness.running("alertmanager", max(now, am.due), am.period_s):
                    await am.refresh()
            self._set("alertmanager", am.state)

    def own_lag_s(self) -> float:
        """How late gputop itself is with its refreshes (the data's own lag is the source's,
        see `state`): a refresh running past its time, or Prometheus' panels' last answer
        more than an interval ago while they answer."""
        return self._lateness.lag_s(self.clock.now(), self._states["prometheus"], self.interval)

    def retry_now(self) -> None:
        """Try every failing source (and Prometheus' rules) at the next poll, not after the
        backoff."""
        self._retry_at = None
        if self.remote is not None:
            self.remote.retry_now()
        if self.alertmanager is not None:
            self.alertmanager.refresh_soon()
        for engine in (self.rules, self.local_rules):
            if engine is not None:
                engine.retry_now()

    # ---- lost GPUs ------------------------------------------------------------------

    def lost_since(self, key: str) -> float | None:
        """When the GPU was first seen lost; None when it is not lost."""
        return self._lost_since.get(key)

    def lost_gpus(self) -> list[GpuSample]:
        """The GPUs lost now, local and remote."""
        return [g for g in self.gpus() if g.state == "lost"]

    def lost_count(self) -> int:
        """How many GPUs are lost now (cheap: for the header on every tick)."""
        return len(self._lost_since)

    async def aclose(self) -> None:
        for client in (self.client, self.rules_client):
            if client is not None:
                await client.aclose()
        if self.alertmanager is not None:
            await self.alertmanager.aclose()

    # ---- views ----------------------------------------------------------------------

    def sources_failing(self) -> bool:
        """Whether a source in use cannot be read, has nothing new (STALE), or Prometheus'
        rules cannot be read."""
        if self.local is not None and self.state(self.local.name).status is SourceStatus.ERROR:
            return True
        if self.remote is not None:
            if not self.state("prometheus").ok:
                return True
            if self.rules is not None and self.rules.error is not None:
                return True
        return self.alertmanager is not None and not self.state("alertmanager").ok

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
        return tuple(self.remote.gpus())

    def local_keys(self) -> set[str]:
        return {g.key for g in self.latest.gpus} if self.latest else set()

    def processes(self) -> tuple[ProcessSample, ...]:
        return self.latest.processes if self.latest else ()

    def processes_now(self) -> tuple[ProcessSample, ...] | None:
        """The GPUs' processes read from the local source now (blocking; not stored), for an
        action that must confirm a process is still there; None when they cannot be read."""
        source = self.local
        if source is None or self._closed:
            return None
        with self._lock:
            try:
                return source.sample().processes
            except SourceError:
                return None

    def backtest_setup(self, start: float, end: float) -> Setup:
        """The rules on screen and the history to replay them over (`rules.backtest`)."""
        from gputop.rules.backtest.setup import dashboard_setup

        return dashboard_setup(
            self.rules,
            self.local_rules,
            self.client,
            self.store,
            self.gpus(),
            start=start,
            end=end,
        )

    def close(self) -> None:
        if self.local is not None:
            self.local.close()
