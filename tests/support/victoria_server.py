"""A real VictoriaMetrics scraping the simulated dcgm-exporter, with vmalert evaluating rules.

VictoriaMetrics (Debian's `victoria-metrics`, 1.79) keeps its defaults, above all
`-search.latencyOffset=30s`: queries see data 30 s late, which is what gputop must live with.
It scrapes with `-promscrape.config` and answers `/api/v1/rules` through vmalert
(`-vmalert.proxyURL`). vmalert reads VictoriaMetrics (`-datasource.url`), writes its alert
state back to it (`-remoteWrite.url`) and notifies a small in-process sink (1.79 has no
`-notifier.blackhole`). History is back-filled through `/api/v1/import/prometheus`.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import (
    free_port,
    log_tail,
    require_binaries,
    spawn,
    stop_process,
    wait_ready,
)

__all__ = [
    "LATENCY_OFFSET_S",
    "VICTORIA_METRICS",
    "VMALERT",
    "AlertSink",
    "VictoriaMetricsServer",
    "millisecond_text",
    "require_victoria_metrics",
]

VICTORIA_METRICS = "/usr/bin/victoria-metrics"
VMALERT = "/usr/bin/vmalert"
#: VictoriaMetrics' default -search.latencyOffset: queries see data this much late.
LATENCY_OFFSET_S = 30.0


def require_victoria_metrics() -> None:
    """Skip the test when VictoriaMetrics or vmalert is missing; under CI that is a failure."""
    require_binaries((VICTORIA_METRICS, VMALERT), "victoria-metrics")


def millisecond_text(openmetrics: str) -> str:
    """OpenMetrics samples (`name{labels} value seconds`) as the Prometheus text format with
    millisecond timestamps, which `/api/v1/import/prometheus` reads; comments dropped."""
    lines = []
    for line in openmetrics.splitlines():
        if not line or line.startswith("#"):
            continue
        head, stamp = line.rsplit(" ", 1)
        lines.append(f"{head} {round(float(stamp) * 1000)}")
    return "\n".join(lines) + "\n"


class AlertSink:
    """Where vmalert sends its alerts: an HTTP server on loopback that accepts anything."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _SinkHandler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _SinkHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@dataclass
class VictoriaMetricsServer:
    """/usr/bin/victoria-metrics on 127.0.0.1:port, data in `workdir`, and, with rule files,
    /usr/bin/vmalert beside it; the same interface as `PrometheusServer`."""

    workdir: Path
    targets: list[str]
    rule_files: list[Path] = field(default_factory=list)
    port: int = 0
    vmalert_port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    vmalert: subprocess.Popen[bytes] | None = None
    sink: AlertSink | None = None
    proxy_rules: bool = True  # answer /api/v1/rules through vmalert (-vmalert.proxyURL)
    kind: str = "victoriametrics"
    lag_s: float = LATENCY_OFFSET_S
    scrape_s: float = 1.0  # the scrape interval

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def vmalert_url(self) -> str:
        return f"http://127.0.0.1:{self.vmalert_port}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "victoria-metrics.log"

    def write_config(self) -> Path:
        config = {
            "global": {
                "scrape_interval": f"{self.scrape_s:g}s",
                "scrape_timeout": f"{min(self.scrape_s, 10.0):g}s",
            },
            "scrape_configs": [
                {"job_name": "dcgm", "static_configs": [{"targets": list(self.targets)}]}
            ],
        }
        path = self.workdir / "scrape.yml"
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        return path

    def start(self, timeout: float = 60.0, *, wait_up: bool = True) -> None:
        """Start (or start again, same ports and data), wait until every target is scraped
        (`wait_up=False`: only until it answers)."""
        config = self.write_config()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fixed = bool(self.port)  # a restart keeps its ports
        for _ in range(3):
            if not fixed:
                self.port, self.vmalert_port = free_port(), free_port()
            cmd = [
                VICTORIA_METRICS,
                f"-storageDataPath={self.data_dir}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-promscrape.config={config}",
                "-loggerLevel=WARN",
            ]
            if self.rule_files and self.proxy_rules:
                cmd.append(f"-vmalert.proxyURL={self.vmalert_url}")
            self.proc = spawn(cmd, cwd=self.workdir, log=self.log_path, marker="prometheus")
            if wait_ready(self.url, self.proc, timeout, self.log_path):
                break
            time.sleep(0.5)  # it exited at once, e.g. its port was taken meanwhile
        else:
            raise RuntimeError(f"VictoriaMetrics did not start: {log_tail(self.log_path)}")
        if wait_up:
            self.wait_targets_up(timeout)
        if self.rule_files and (self.vmalert is None or self.vmalert.poll() is not None):
            self._start_vmalert(timeout)

    def _start_vmalert(self, timeout: float) -> None:
        if self.sink is None:
            self.sink = AlertSink()
        cmd = [
            VMALERT,
            f"-datasource.url={self.url}",
            f"-remoteWrite.url={self.url}",
            f"-notifier.url={self.sink.url}",
            *(f"-rule={p}" for p in self.rule_files),
            "-evaluationInterval=1s",
            f"-httpListenAddr=127.0.0.1:{self.vmalert_port}",
            "-loggerLevel=WARN",
        ]
        log = self.workdir / "vmalert.log"
        self.vmalert = spawn(cmd, cwd=self.workdir, log=log, marker="prometheus")
        if not wait_ready(self.vmalert_url, self.vmalert, timeout, log):
            raise RuntimeError(f"vmalert did not start: {log_tail(log)}")

    def wait_targets_up(self, timeout: float = 60.0) -> None:
        """Wait until every target has been scraped successfully (its query data comes
        `lag_s` later; the targets API says at once)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                doc = httpx.get(f"{self.url}/api/v1/targets", timeout=5.0).json()
                health = {
                    t["labels"]["instance"]: t["health"] for t in doc["data"]["activeTargets"]
                }
                if all(health.get(t) == "up" for t in self.targets):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"targets not up within {timeout:.0f} s: {log_tail(self.log_path)}")

    def backfill(self, openmetrics: str, timeout: float = 30.0) -> None:
        """Import OpenMetrics text (seconds) as Prometheus text (milliseconds), flush, and
        wait until every series imported can be found (on a busy machine VictoriaMetrics
        registers new series a while after it has taken their samples)."""
        text = millisecond_text(openmetrics)
        body = text.encode()
        response = httpx.post(f"{self.url}/api/v1/import/prometheus", content=body, timeout=60.0)
        response.raise_for_status()
        series = {line.rsplit(" ", 2)[0] for line in text.splitlines() if line}
        stamps = [int(line.rsplit(" ", 1)[1]) / 1000 for line in text.splitlines() if line]
        at = repr(min(stamps) + (max(stamps) - min(stamps)) / 2)  # within the history
        names = "|".join(sorted({s.split("{")[0] for s in series}))
        deadline = time.monotonic() + timeout
        while True:
            httpx.get(f"{self.url}/internal/force_flush", timeout=30.0).raise_for_status()
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError, IndexError):
                query = f'count({{__name__=~"{names}"}})'
                found = self.query(query, at=float(at)) if names else []
                if not names or int(found[0]["value"][1]) >= len(series):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"back-filled series not searchable within {timeout:.0f} s")
            time.sleep(0.5)

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query, answered as the API's raw `result` list (`lag_s` late)."""
        params = {"query": expr} if at is None else {"query": expr, "time": repr(at)}
        response = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=5.0)
        response.raise_for_status()
        return list(response.json()["data"]["result"])

    def reload_rules(self) -> None:
        """Make vmalert read its rule files again."""
        assert self.vmalert is not None
        self.vmalert.send_signal(signal.SIGHUP)

    def kill(self) -> None:
        """Kill -9 VictoriaMetrics, as a crash would; the data directory stays."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        try:
            stop_process(self.vmalert)
            stop_process(self.proc)
        finally:
            if self.sink is not None:
                self.sink.close()
                self.sink = None
