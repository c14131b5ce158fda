"""A fake Prometheus for the range panels: `FakeProm` answers range queries, instant queries and
the freshness probe from formulas through an `httpx.MockTransport`, with the lags, dead targets
and late points real engines have; `make()` builds a `PrometheusSource` on it."""

from __future__ import annotations

import math
import re
from typing import Any

import httpx

from gputop.core.clock import FakeClock
from gputop.core.store import MetricStore
from gputop.sources.prometheus import PrometheusClient
from gputop.sources.prometheus.feed import PrometheusSource

__all__ = ["T0", "FakeProm", "make"]

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a multiple of every step used here


class FakeProm:
    """Answers /api/v1/query_range for the dcgm metrics and the latency queries, and the
    freshness probe. A sample exists every second up to `clock` - `lag_s` (and before
    `dead_since`); like VictoriaMetrics, a range reaching past that horizon gets copies of the
    last visible value there, and the engine's own now (`time()`) is `lag_s` behind."""

    def __init__(self, hosts: int = 1, gpus: int = 8, *, hostname_label: str = "Hostname"):
        self.gpus = [(f"node-{h}", i) for h in range(hosts) for i in range(gpus)]
        self.hostname_label = hostname_label
        self.requests: list[httpx.Request] = []
        self.fail_with: httpx.Response | Exception | None = None
        self.silent: set[tuple[str, int]] = set()  # GPUs that stopped reporting
        self.silent_since = math.inf
        self.with_uuid = True
        self.broken = "\0"  # queries starting with this answer 503
        self.clock = FakeClock(T0)  # make() shares the source's clock
        self.lag_s = 0.0  # data becomes visible this long after its time
        self.dead_since = math.inf  # the scrape target died: no samples from then on
        self.stale_markers = True  # a dead target's series end (else their last sample stays)
        self.late: set[float] = set()  # times whose temperatures arrive late (missing at first)
        self.interval_s = 1.0  # the scrape interval of every node
        self.latency_until = math.inf  # the histogram's newest sample, when it stopped
        self.dead_hosts: dict[str, float] = {}  # nodes whose exporter stopped, since when

    def instance(self, host: str) -> str:
        return f"{host}:9400"

    def horizon(self, host: str | None = None) -> float | None:
        """The newest raw sample the engine shows (of one node's target)."""
        dead = min(self.dead_since, self.dead_hosts.get(host, math.inf) if host else math.inf)
        visible = math.floor((self.clock.now() - self.lag_s) / self.interval_s) * self.interval_s
        if visible < dead:
            return float(visible)
        if self.stale_markers:
            return None
        return math.ceil(dead / self.interval_s) * self.interval_s - self.interval_s

    def probe(self, query: str) -> httpx.Response:
        engine_now = self.clock.now() - self.lag_s
        vector: list[dict[str, Any]] = [
            {"metric": {"gputop_probe": "now"}, "value": [engine_now, repr(engine_now)]}
        ]
        for host in dict.fromkeys(h for h, _ in self.gpus):
            newest = self.horizon(host)
            if newest is None:
                continue
            for group, t in (("gpu", newest), ("latency", min(newest, self.latency_until))):
                labels = {"gputop_probe": group, "instance": self.instance(host)}
                vector.append({"metric": labels, "value": [engine_now, repr(t)]})
        doc = {"status": "success", "data": {"resultType": "vector", "result": vector}}
        return httpx.Response(200, json=doc)

    def raw(self, query: str) -> httpx.Response:
        """An instant query of `metric{..., instance=~"a|b"}[Ns]`: raw samples, one series
        per GPU of those nodes."""
        window = float(re.search(r"\[(\d+)s\]$", query)[1])  # type: ignore[index]
        wanted = re.search(r'instance=~"([^"]*)"', query)[1].replace("\\\\", "")  # type: ignore[index]
        result = []
        for host, gpu in self.gpus:
            newest = self.horizon(host)
            if newest is None or self.instance(host) not in wanted.split("|"):
                continue
            if query.startswith("t2v"):
                newest = min(newest, self.latency_until)
            times = []
            t = newest
            while t > self.clock.now() - self.lag_s - window:
                times.append(t)
                t -= self.interval_s
            labels = {"instance": self.instance(host), "gpu": str(gpu)}
            result.append({"metric": labels, "values": [[t, "1"] for t in reversed(times)]})
        doc = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return httpx.Response(200, json=doc)

    def raws(self) -> int:
        return sum(r.url.params.get("query", "").endswith("s]") for r in self.requests)

    def visible(self, t: float, metric: str, host: str = "") -> bool:
        late = t in self.late and metric == "DCGM_FI_DEV_GPU_TEMP"
        return t < min(self.dead_since, self.dead_hosts.get(host, math.inf)) and not late

    def value(self, metric: str, host: str, gpu: int, t: float) -> str:
        if metric == "DCGM_FI_DEV_FB_USED":
            return str(20_000 + 1000 * gpu)
        if metric == "DCGM_FI_DEV_FB_FREE":
            return str(81_920 - 20_000 - 1000 * gpu)
        if metric == "DCGM_FI_DEV_GPU_TEMP":
            return str(50 + gpu + int(t) % 7)
        return str(float(gpu) + (int(t) % 13) / 10)

    def labels(self, host: str, gpu: int, metric: str) -> dict[str, str]:
        labels = {
            "__name__": metric,
            "instance": self.instance(host),
            self.hostname_label: host,
            "gpu": str(gpu),
            "modelName": "NVIDIA H100 80GB HBM3",
            "pod": f"serve-{host}-{gpu}",
            "namespace": "t2v",
        }
        if self.with_uuid:
            labels["UUID"] = f"GPU-{host}-{gpu}"
        return labels

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.fail_with, Exception):
            raise self.fail_with
        if self.fail_with is not None:
            return self.fail_with
        p = request.url.params
        if request.url.path.endswith("/values"):  # the label API: no inference server here
            return httpx.Response(200, json={"status": "success", "data": []})
        if p["query"].startswith(self.broken):
            return httpx.Response(503, text="busy")
        query = p["query"]
        if "gputop_probe" in query:
            return self.probe(query)
        if query.endswith("s]"):
            return self.raw(query)
        wanted = re.findall(r'Hostname="([^"]*)"', query)
        gpus = [(h, i) for h, i in self.gpus if not wanted or h in wanted]
        if request.url.path.endswith("/query"):  # instant: the full labels of every GPU
            vector = [
                {"metric": self.labels(h, i, query.split("{")[0]), "value": [0, "1"]}
                for h, i in gpus
            ]
            doc = {"status": "success", "data": {"resultType": "vector", "result": vector}}
            return httpx.Response(200, json=doc)
        start, end, step = float(p["start"]), float(p["end"]), float(p["step"])
        times = [start + k * step for k in range(int((end - start) / step) + 1)]
        shown = self.clock.now() - self.lag_s  # points after this are copies, as in VM
        result: list[dict[str, Any]] = []
        keep: set[str] | None = None
        slim = re.fullmatch(r"max by \(([^)]*)\) \((.*)\)", query)
        if slim:
            keep = {name.strip() for name in slim.group(1).split(",")}
            query = slim.group(2)
        if query.startswith("DCGM_"):
            metric = query.split("{")[0]
            for host, gpu in gpus:
                ts = [t for t in times if (host, gpu) not in self.silent or t < self.silent_since]
                ts = [t for t in ts if self.visible(t, metric, host)]
                labels = self.labels(host, gpu, metric)
                if keep is not None:
                    labels = {k: v for k, v in labels.items() if k in keep}
                values = []
                for t in ts:
                    at = t if t <= shown else max((x for x in ts if x <= shown), default=None)
                    if at is not None:
                        values.append([t, self.value(metric, host, gpu, at)])
                if values:
                    result.append({"metric": labels, "values": values})
        elif times and times[0] > shown:
            pass  # a latency window wholly past the horizon: VictoriaMetrics answers nothing
        elif query.startswith("histogram_quantile(0.95"):
            # no job finished in the first minute of every ten: NaN
            values = [[t, "NaN" if t % 600 < 60 else str(200 + t % 100)] for t in times]
            result.append({"metric": {}, "values": values})
        elif query.startswith("histogram_quantile"):
            result.append({"metric": {}, "values": [[t, "150"] for t in times]})
        else:
            result.append({"metric": {}, "values": [[t, "2.5"] for t in times]})
        doc = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return httpx.Response(200, json=doc)

    def probes(self) -> int:
        return sum("gputop_probe" in r.url.params.get("query", "") for r in self.requests)

    def ranges(self) -> list[tuple[str, float, float, float]]:
        return [
            (
                r.url.params["query"],
                float(r.url.params["start"]),
                float(r.url.params["end"]),
                float(r.url.params["step"]),
            )
            for r in self.requests
            if r.url.path.endswith("/query_range")
        ]


def make(
    fake: FakeProm, clock: FakeClock, store: MetricStore | None = None, **kw: Any
) -> tuple[PrometheusSource, MetricStore]:
    store = store or MetricStore()
    fake.clock = clock
    client = PrometheusClient("http://prom.test:9090", transport=httpx.MockTransport(fake.handler))
    return PrometheusSource(client, store, clock, **kw), store
