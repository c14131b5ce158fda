"""A real Prometheus-compatible engine scraping the simulated dcgm-exporter, for tests and
benchmarks: Prometheus 2.42, or VictoriaMetrics 1.79 with vmalert (`victoria_server`).

Plain functions (`start_sim_exporter`, `start_prometheus`, `start_stack`) work anywhere; the
fixtures `prometheus_factory` (per test) and `module_prometheus_factory` (per module) stop
everything they started; `make(engine="victoriametrics")` starts VictoriaMetrics instead, and
`ENGINES` names both for tests parametrized over them. Without an engine's binaries the
fixtures skip, or fail under CI.
"""

from __future__ import annotations

import contextlib
import json
import math
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from gputop.sources.simexporter import make_nodes, openmetrics_history
from tests.support.processes import (
    free_port,
    log_tail,
    require_binaries,
    spawn,
    stop_process,
    wait_ready,
)
from tests.support.victoria_server import VictoriaMetricsServer, require_victoria_metrics

__all__ = [
    "BACKFILL_LEAD_S",
    "ENGINES",
    "JOB",
    "PROMETHEUS",
    "PROMTOOL",
    "Engine",
    "PromStack",
    "PrometheusServer",
    "SimExporterProcess",
    "engine_stack",
    "free_port",
    "module_prometheus_factory",
    "prometheus_factory",
    "require_engine",
    "require_prometheus",
    "start_prometheus",
    "start_sim_exporter",
    "start_stack",
    "until_searchable",
]

#: The engines the real-server tests run against.
ENGINES = ("prometheus", "victoriametrics")

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
JOB = "dcgm"  # the scrape job of the sim exporter
_REPO = Path(__file__).resolve().parents[2]


def require_prometheus() -> None:
    """Skip the test when Prometheus is not installed; under CI that is a failure."""
    require_binaries((PROMETHEUS, PROMTOOL), "prometheus")


def require_engine(engine: str) -> None:
    """Skip (or, under CI, fail) the test when the engine's binaries are missing."""
    if engine == "victoriametrics":
        require_victoria_metrics()
    elif engine == "prometheus":
        require_prometheus()
    else:
        raise ValueError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")


@dataclass
class SimExporterProcess:
    """`gputop.commands.sim_exporter` running as a subprocess."""

    proc: subprocess.Popen[str]
    targets: list[str]  # host:port of each node
    hosts: list[str]
    start: float  # the simulation's start time

    def stop(self) -> None:
        stop_process(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()


def start_sim_exporter(
    *,
    nodes: int = 1,
    gpus: int = 8,
    scenario: str = "mixed",
    seed: int = 7,
    start: float | None = None,
    timeout: float = 20.0,
    mig: int = 0,
    slurm: int = 0,
    vllm: bool = False,
) -> SimExporterProcess:
    """Start the exporter on free loopback ports; returns once every node is listening.
    `mig`, `slurm`, `vllm`: its options of the same names."""
    start = math.floor(time.time() - 600) if start is None else start
    cmd = [sys.executable, "-m", "gputop.commands.sim_exporter", "--nodes", str(nodes)]
    cmd += ["--gpus", str(gpus), "--port", "0", "--scenario", scenario, "--seed", str(seed)]
    cmd += ["--start", repr(float(start)), "--mig", str(mig), "--slurm", str(slurm)]
    cmd += ["--vllm"] if vllm else []
    proc = subprocess.Popen(
        cmd, cwd=_REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    targets: list[str] = []
    hosts: list[str] = []
    deadline = time.monotonic() + timeout
    while len(targets) < nodes:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            stop_process(proc)
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"sim exporter did not start: {err.strip()[-500:]}")
        words = line.split()  # serving sim-node-00 on http://127.0.0.1:PORT/metrics
        hosts.append(words[1])
        targets.append(words[3].removeprefix("http://").removesuffix("/metrics"))
    return SimExporterProcess(proc, targets, hosts, start)


@dataclass
class PrometheusServer:
    """One /usr/bin/prometheus on 127.0.0.1:port with its data in `workdir`."""

    workdir: Path
    targets: list[str]
    rule_files: list[Path] = field(default_factory=list)
    alertmanagers: list[str] = field(default_factory=list)  # host:port Prometheus sends to
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    kind: str = "prometheus"
    lag_s: float = 0.0  # queries see data this late
    scrape_s: float = 1.0  # the scrape interval

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reload_rules(self) -> None:
        """Make Prometheus read its rule files again."""
        httpx.post(f"{self.url}/-/reload", timeout=10.0).raise_for_status()

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def write_config(self) -> Path:
        config = {
            "global": {
                "scrape_interval": _duration(self.scrape_s),
                "scrape_timeout": _duration(min(self.scrape_s, 10.0)),
                "evaluation_interval": "1s",
            },
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [
                {"job_name": JOB, "static_configs": [{"targets": list(self.targets)}]}
            ],
        }
        if self.alertmanagers:
            targets = {"targets": list(self.alertmanagers)}
            config["alerting"] = {"alertmanagers": [{"static_configs": [targets]}]}
        path = self.workdir / "prometheus.yml"
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        return path

    def start(self, timeout: float = 60.0, *, wait_up: bool = True) -> None:
        """Start (or start again, same port and data) and wait until every target is up
        (`wait_up=False`: only until it answers)."""
        config = self.write_config()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fixed = bool(self.port)  # a restart keeps its port
        for _ in range(3):
            if not fixed:
                self.port = free_port()
            cmd = [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
                # an alert dropped before Alertmanager was discovered is sent again within a
                # second, not a minute
                *(["--rules.alert.resend-delay=1s"] if self.alertmanagers else []),
            ]
            self.proc = spawn(cmd, cwd=self.workdir, log=self.log_path, marker="prometheus")
            if wait_ready(self.url, self.proc, timeout, self.log_path):
                if wait_up:
                    self.wait_targets_up(timeout)
                return
            time.sleep(0.5)  # it exited at once, e.g. its port was taken meanwhile
        raise RuntimeError(f"Prometheus did not start: {log_tail(self.log_path)}")

    def wait_targets_up(self, timeout: float = 60.0) -> None:
        """Wait until every target has been scraped successfully (`up == 1`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                result = self.query("up")
                up = {s["metric"].get("instance"): s["value"][1] for s in result}
                if all(up.get(t) == "1" for t in self.targets):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"targets not up within {timeout:.0f} s: {log_tail(self.log_path)}")

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query, answered as the API's raw `result` list."""
        params = {"query": expr} if at is None else {"query": expr, "time": repr(at)}
        response = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=5.0)
        response.raise_for_status()
        return list(response.json()["data"]["result"])

    def kill(self) -> None:
        """Kill -9, as a crash would; the data directory stays."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        stop_process(self.proc)


def start_prometheus(
    workdir: Path,
    targets: Sequence[str],
    *,
    rule_files: Sequence[Path] = (),
    alertmanagers: Sequence[str] = (),
    backfill: str | None = None,
    timeout: float = 60.0,
    scrape_s: float = 1.0,
    wait_up: bool = True,
) -> PrometheusServer:
    """Prometheus on a free port scraping `targets` every `scrape_s` (a second), with optional
    rules, the Alertmanagers (host:port) it sends alerts to, and OpenMetrics `backfill` turned
    into TSDB blocks before it starts (it refuses scrapes older than the newest back-filled
    sample, so the live scrapes follow the back-fill)."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = PrometheusServer(
        workdir, list(targets), [Path(p) for p in rule_files], list(alertmanagers)
    )
    server.scrape_s = scrape_s
    if backfill:
        source = workdir / "backfill.om"
        source.write_text(backfill)
        done = subprocess.run(
            [
                PROMTOOL,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(source),
                str(server.data_dir),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        source.unlink()
        if done.returncode != 0:
            raise RuntimeError(f"promtool backfill failed: {done.stderr.strip()[-500:]}")
    server.start(timeout, wait_up=wait_up)
    return server


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


Engine = PrometheusServer | VictoriaMetricsServer


@dataclass
class PromStack:
    """The sim exporter and the engine scraping it."""

    engine: Engine
    exporter: SimExporterProcess
    nodes: int
    gpus: int

    @property
    def url(self) -> str:
        return self.engine.url

    @property
    def hosts(self) -> list[str]:
        return self.exporter.hosts

    def stop(self) -> None:
        try:
            self.engine.stop()
        finally:
            self.exporter.stop()


#: Prometheus' back-fill reaches this far past the moment it is written: Prometheus starts
#: within it and refuses the scrapes before its end, so the first live scrape follows the
#: last back-filled sample by at most one interval: no hole.
BACKFILL_LEAD_S = 5.0


def until_searchable(
    server: Engine,
    end: float,
    window_s: float,
    step_s: float,
    *,
    series: int | None = None,
    least: int | None = None,
    timeout: float = 60.0,
) -> None:
    """Until the engine answers a range over the back-filled data in full (GPU temperatures,
    `window_s` up to `end` or what it shows yet, `least` points a series, default all but
    one; `series` of them when given): on a busy machine VictoriaMetrics can answer such a
    range short or empty for a while after the series can be found, which gputop would
    rightly read as GPUs that went silent. The tests then ask what gputop sees of history any
    long-running engine has."""
    deadline = time.monotonic() + timeout
    want = math.floor(window_s / step_s) - 1 if least is None else least
    while True:
        last = min(end, time.time() - server.lag_s)  # what it shows at all yet
        params = {
            "query": "DCGM_FI_DEV_GPU_TEMP",
            "start": repr(last - window_s),
            "end": repr(last),
            "step": f"{step_s:g}",
            "nocache": "1",
        }
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError, TypeError):
            answer = httpx.get(f"{server.url}/api/v1/query_range", params=params, timeout=10.0)
            result = answer.json()["data"]["result"]
            counted = series is None or len(result) == series
            if result and counted and all(len(r["values"]) >= want for r in result):
                return
        assert time.monotonic() < deadline, "the back-filled history never came in full"
        time.sleep(0.5)


def start_stack(
    workdir: Path,
    *,
    engine: str = "prometheus",
    nodes: int = 1,
    gpus: int = 8,
    scenario: str = "mixed",
    seed: int = 7,
    history_s: float = 0.0,
    rule_files: Sequence[Path] = (),
    alertmanagers: Sequence[str] = (),
    proxy_rules: bool = True,
    scrape_s: float = 1.0,
    wait_up: bool = True,
    history_until: float | None = None,
    mig: int = 0,
    slurm: int = 0,
    vllm: bool = False,
) -> PromStack:
    """Exporter + engine scraping it every `scrape_s`; `history_s` seconds of the same
    simulation are back-filled at the same spacing, so range panels and rate() windows have
    data from the first query, and the live scrapes follow the back-fill without a hole.
    `proxy_rules=False`: VictoriaMetrics does not answer `/api/v1/rules` for vmalert.
    `wait_up=False`: return once the engine answers, before its targets' first scrape (which
    can be a whole slow interval away). `history_until`: the back-fill ends then, and the
    exporter is stopped before the engine starts (an exporter that died then). `mig`,
    `slurm`, `vllm`: the exporter's options (MIG instances, Slurm jobs, a vLLM server).

    The simulation starts 600 s before the engine's view of now (VictoriaMetrics' is 30 s
    late), so a scenario's events are where the rule tests expect them; VictoriaMetrics gets
    at least twice its lag of history, or it would show nothing for its first 30 s.
    """
    lag = VictoriaMetricsServer.lag_s if engine == "victoriametrics" else 0.0
    if engine == "victoriametrics":
        history_s = max(history_s, 2 * lag)
    now = math.floor(time.time())
    until = now if history_until is None else min(now, math.floor(history_until))
    start = now - max(600.0 + lag, now - until + history_s + 1)  # before the first back-fill
    exporter = start_sim_exporter(
        nodes=nodes,
        gpus=gpus,
        scenario=scenario,
        seed=seed,
        start=start,
        mig=mig,
        slurm=slurm,
        vllm=vllm,
    )
    labels = [{"instance": t, "job": JOB} for t in exporter.targets]

    def history(end: float) -> str:
        """The same simulation, as the same series a scrape makes, up to `end`."""
        sims = make_nodes(
            nodes, gpus, scenario=scenario, seed=seed, start=start, mig=mig, slurm=slurm,
            vllm=vllm,
        )  # fmt: skip
        first = end - math.floor(history_s / scrape_s) * scrape_s  # the last one at `end`
        return openmetrics_history(sims, first, end, scrape_s, target_labels=labels)

    if history_until is not None:
        exporter.stop()
    try:
        server: Engine
        if engine == "victoriametrics":
            workdir.mkdir(parents=True, exist_ok=True)
            rules = [Path(p) for p in rule_files]
            server = VictoriaMetricsServer(
                workdir, exporter.targets, rules, proxy_rules=proxy_rules, scrape_s=scrape_s
            )
            scraping_from = time.time()  # it scrapes from its start: back-fill up to then
            server.start(wait_up=wait_up)
            if history_s > 0:
                end = scraping_from - 0.5 if history_until is None else history_until
                server.backfill(history(math.floor(end)))
                until_searchable(server, math.floor(end), min(history_s, 300.0), scrape_s)
        else:
            end = math.floor(time.time() + BACKFILL_LEAD_S if history_until is None else until)
            server = start_prometheus(
                workdir,
                exporter.targets,
                rule_files=rule_files,
                alertmanagers=alertmanagers,
                backfill=history(end) if history_s > 0 else None,
                scrape_s=scrape_s,
                wait_up=wait_up,
            )
    except BaseException:
        exporter.stop()
        raise
    return PromStack(server, exporter, nodes, gpus)


@contextlib.contextmanager
def engine_stack(engine: str, workdir: Path, **options: Any) -> Iterator[PromStack]:
    """A stack for one test or fixture, stopped when the block ends."""
    require_engine(engine)
    stack = start_stack(workdir, engine=engine, **options)
    try:
        yield stack
    finally:
        stack.stop()


@contextlib.contextmanager
def _stacks(base: Path) -> Iterator[Callable[..., PromStack]]:
    started: list[PromStack] = []

    def make(**options: Any) -> PromStack:
        require_engine(options.get("engine", "prometheus"))
        stack = start_stack(base / f"prom{len(started)}", **options)
        started.append(stack)
        return stack

    try:
        yield make
    finally:
        for stack in reversed(started):
            stack.stop()


@pytest.fixture
def prometheus_factory(tmp_path: Path) -> Iterator[Callable[..., PromStack]]:
    """`make(engine=, nodes=, gpus=, scenario=, seed=, history_s=, rule_files=,
    alertmanagers=, scrape_s=, wait_up=)` -> PromStack (alertmanagers: Prometheus only)."""
    with _stacks(tmp_path) as make:
        yield make


@pytest.fixture(scope="module")
def module_prometheus_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., PromStack]]:
    """As `prometheus_factory`, shared by the tests of one module."""
    with _stacks(tmp_path_factory.mktemp("prometheus")) as make:
        yield make
