"""gputop against a real engine on loopback: bytes and queries per refresh, and a fleet.

    .venv/bin/python -m benchmarks.prom_bench [--engine prometheus|victoriametrics]
        [--fleets 1,4,32] [--refreshes 30] [--seconds 30] [--rounds 3] [--json FILE]

For each fleet size (nodes of 8 GPUs) the simulated dcgm-exporter and the engine
(/usr/bin/prometheus, or /usr/bin/victoria-metrics with /usr/bin/vmalert evaluating the rules)
are started on loopback with `--history` seconds back-filled and gputop's built-in rules
loaded, and the range panels are wired exactly as the dashboard wires them. Measured:
1. bytes of each refresh after the first fetch (the freshness probe included), against a
   full-range fetch of the same queries;
2. queries per refresh (range panels; the probe and the rules with their compared sides apart);
3. the wall time of each refresh (panels + rules, as `Monitor.refresh_remote` runs them);
and on the largest fleet, `python -m gputop --prometheus URL` in a 120x40 pseudo-terminal,
with the fleet screen open (`f` typed after start) and without: CPU % of one core, steady
state after a warm-up. The exporter's and the engine's own CPU is measured over the same
windows, to show whether the machine, not gputop, is the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.pty_run import RunResult, _cpu_seconds, run_in_pty
from gputop.config import load_config
from gputop.core.clock import RealClock
from gputop.monitor import Monitor
from tests.support.prometheus_server import (
    ENGINES,
    PROMETHEUS,
    PROMTOOL,
    PromStack,
    start_stack,
)
from tests.support.victoria_server import VICTORIA_METRICS, VMALERT

ROOT = Path(__file__).resolve().parents[1]
BUILTIN_RULES = ROOT / "gputop" / "rules" / "builtin.yml"
INTERVAL = 1.0


@dataclass
class Refresh:
    """One refresh: the range panels (range queries; bytes with the probe), then the rules."""

    panel_requests: int
    panel_bytes: int
    rule_requests: int
    rule_bytes: int
    wall_s: float
    probe_bytes: int = 0  # the panels' bytes that are not range queries (probe, labels)


@dataclass
class FleetResult:
    nodes: int
    gpus: int
    first: Refresh
    refreshes: list[Refresh]
    full_range_bytes: list[int]
    full_range_requests: int
    exporter_cpu_pct: float
    engine_cpu_pct: float
    scrapes: dict[str, float]
    dashboard: dict[str, list[dict[str, object]]] = field(default_factory=dict)

    @property
    def fetching(self) -> list[Refresh]:
        """Refreshes that asked for new points (one per step; the others only probe)."""
        return [r for r in self.refreshes if r.panel_requests]


def _monitor(url: str, config_file: Path) -> Monitor:
    """A monitor wired to Prometheus the way `gputop --prometheus URL` wires it."""
    from gputop.commands.build import attach_prometheus, attach_rules

    config = load_config(config_file, env={}, overrides={"prometheus.url": url})
    monitor = Monitor(clock=RealClock(), local=None, host="bench")
    attach_rules(monitor, config)
    attach_prometheus(monitor, config)
    return monitor


async def _refresh(monitor: Monitor) -> Refresh:
    """What Monitor.refresh_remote does, split in two so each part is counted."""
    client, remote, rules = monitor.client, monitor.remote, monitor.rules
    assert client is not None and remote is not None and rules is not None
    s0 = client.stats.copy()
    started = time.perf_counter()
    await remote.refresh()  # type: ignore[attr-defined]
    s1 = client.stats.copy()
    await rules.refresh_prometheus(client)
    wall = time.perf_counter() - started
    s2 = client.stats.copy()
    if client.stats.errors:
        raise RuntimeError(f"engine errors during the benchmark: {remote.state.reason}")  # type: ignore[attr-defined]
    ranges = "api/v1/query_range"
    return Refresh(
        s1.path_requests.get(ranges, 0) - s0.path_requests.get(ranges, 0),
        s1.bytes - s0.bytes, s2.requests - s1.requests, s2.bytes - s1.bytes, wall,
        (s1.bytes - s1.path_bytes.get(ranges, 0)) - (s0.bytes - s0.path_bytes.get(ranges, 0)),
    )  # fmt: skip


async def _measure_refreshes(url: str, config: Path, count: int) -> tuple[Refresh, list[Refresh]]:
    monitor = _monitor(url, config)
    try:
        first = await _refresh(monitor)
        out = []
        for _ in range(count):
            await asyncio.sleep(INTERVAL - time.time() % INTERVAL)  # the app's aligned ticks
            out.append(await _refresh(monitor))
        return first, out
    finally:
        await monitor.aclose()


async def _full_range(url: str, config: Path, times: int) -> tuple[list[int], int]:
    """A first fetch of a fresh source: every query over the whole range."""
    sizes, requests = [], 0
    for _ in range(times):
        monitor = _monitor(url, config)
        try:
            first = await _refresh(monitor)
        finally:
            await monitor.aclose()
        sizes.append(first.panel_bytes)
        requests = first.panel_requests
    return sizes, requests


def _scrape_health(stack: PromStack, window_s: int) -> dict[str, float]:
    """Whether the engine kept up: scrapes per target over the window, slowest scrape."""

    def scalar(expr: str) -> float:
        result = stack.engine.query(expr)
        return float(result[0]["value"][1]) if result else float("nan")

    return {
        "targets_up": scalar('sum(up{job="dcgm"})'),
        "min_scrapes_per_target": scalar(f'min(count_over_time(up{{job="dcgm"}}[{window_s}s]))'),
        "max_scrape_duration_s": scalar(
            f'max(max_over_time(scrape_duration_seconds{{job="dcgm"}}[{window_s}s]))'
        ),
    }


def _pids(stack: PromStack) -> list[int]:
    """The exporter, then the engine (VictoriaMetrics with its vmalert counted together)."""
    engine = [stack.engine.proc.pid]  # type: ignore[union-attr]
    vmalert = getattr(stack.engine, "vmalert", None)
    if vmalert is not None:
        engine.append(vmalert.pid)
    return [stack.exporter.proc.pid, *engine]


class _CpuWatch:
    """CPU % of one core used by the exporter and by the engine between start() and stop()."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._c0 = [_cpu_seconds(p) for p in self.pids]

    def stop(self) -> tuple[float, float]:
        elapsed = time.monotonic() - self._t0
        used = [
            100.0 * (_cpu_seconds(p) - c) / elapsed
            for p, c in zip(self.pids, self._c0, strict=True)
        ]
        return used[0], sum(used[1:])


def _dashboard_runs(
    stack: PromStack, config: Path, args: argparse.Namespace
) -> dict[str, list[dict[str, object]]]:
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    for var in ("NO_COLOR", "COLORTERM", "GPUTOP_CONFIG", "GPUTOP_PROFILE"):
        env.pop(var, None)
    argv = [sys.executable, "-m", "gputop", "--config", str(config), "--prometheus", stack.url]
    total = stack.nodes * stack.gpus
    views = {
        "overview": ((), lambda s: len(re.findall(r"\d+W\b", s)) >= 8),
        "fleet": (((args.fleet_key_at, b"f"),), lambda s: f"{total} GPUs on {stack.nodes} " in s),
    }
    watch = _CpuWatch(_pids(stack))
    out: dict[str, list[dict[str, object]]] = {name: [] for name in views}
    for r in range(args.rounds):
        for name, (keys, ready) in views.items():
            watch.start()
            result = run_in_pty(
                name, argv, env=env, cols=120, rows=40, seconds=args.seconds,
                warmup=args.warmup, frame_complete=ready, keys=keys,
            )  # fmt: skip
            exporter, engine = watch.stop()
            if "Traceback" in result.final_screen or result.first_frame_s is None:
                print(result.final_screen)
                raise RuntimeError(f"the dashboard did not show the {name} screen")
            out[name].append(_run_dict(result, exporter, engine))
            print(
                f"  round {r + 1} {name:8} cpu steady {result.cpu_pct_steady:5.2f}% "
                f"whole {result.cpu_pct_total:5.2f}% bytes/s {result.bytes_per_s_steady:6.0f} "
                f"shown {result.first_frame_s:.2f}s rss {result.peak_rss_mb:5.1f}MB | "
                f"exporter {exporter:4.1f}% {stack.engine.kind} {engine:4.1f}%",
                flush=True,
            )
    return out


def _run_dict(r: RunResult, exporter: float, engine: float) -> dict[str, object]:
    d: dict[str, object] = {k: getattr(r, k) for k in r.__dataclass_fields__}
    del d["final_screen"]
    d.update(
        cpu_pct_total=r.cpu_pct_total, cpu_pct_steady=r.cpu_pct_steady,
        bytes_per_s_steady=r.bytes_per_s_steady, exporter_cpu_pct=exporter,
        engine_cpu_pct=engine,
    )  # fmt: skip
    return d


def bench_fleet(nodes: int, workdir: Path, config: Path, args: argparse.Namespace) -> FleetResult:
    print(
        f"{nodes} x 8 GPUs: starting the exporter and {args.engine} ({args.history:.0f} s history)"
    )
    started = time.monotonic()
    stack = start_stack(
        workdir / f"fleet{nodes}", engine=args.engine, nodes=nodes, gpus=8,
        scenario=args.scenario, history_s=args.history, rule_files=[BUILTIN_RULES],
    )  # fmt: skip
    try:
        print(f"  up in {time.monotonic() - started:.0f} s at {stack.url}", flush=True)
        watch = _CpuWatch(_pids(stack))
        watch.start()
        first, refreshes = asyncio.run(_measure_refreshes(stack.url, config, args.refreshes))
        exporter, engine = watch.stop()
        full, full_requests = asyncio.run(_full_range(stack.url, config, 3))
        time.sleep(stack.engine.lag_s)  # its queries see the refresh phase only this late
        result = FleetResult(
            nodes, nodes * 8, first, refreshes, full, full_requests, exporter, engine,
            _scrape_health(stack, max(10, args.refreshes)),
        )  # fmt: skip
        print(summary_line(result), flush=True)
        if nodes == max(args.fleets):
            result.dashboard = _dashboard_runs(stack, config, args)
        return result
    finally:
        stack.stop()


def _med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary_line(r: FleetResult) -> str:
    fetching = r.fetching
    walls = [x.wall_s for x in r.refreshes]
    return (
        f"  first fetch {r.first.panel_bytes / 1e3:.0f} kB in {r.first.panel_requests} queries; "
        f"then {len(fetching)} of {len(r.refreshes)} refreshes fetched, "
        f"{_med([x.panel_bytes for x in fetching]) / 1e3:.1f} kB median; "
        f"refresh {_med(walls) * 1e3:.0f} ms median, {max(walls) * 1e3:.0f} ms max"
    )


def report(results: list[FleetResult]) -> str:
    head = f"{'median (max)':34}" + "".join(f"{f'{r.nodes}x8 GPUs':>18}" for r in results)
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, cell: Callable[[FleetResult], str]) -> None:
        rows.append((label, [cell(r) for r in results]))

    row("first fetch: queries", lambda r: f"{r.first.panel_requests}")
    row("first fetch: kB", lambda r: f"{r.first.panel_bytes / 1e3:.0f}")
    row("full-range re-fetch: kB", lambda r: f"{_med(r.full_range_bytes) / 1e3:.0f}")
    row("refreshes that fetched", lambda r: f"{len(r.fetching)} of {len(r.refreshes)}")
    row(
        "range queries / fetching refresh",
        lambda r: _mm([x.panel_requests for x in r.fetching], "{:.0f}"),
    )
    row("kB / fetching refresh", lambda r: _mm([x.panel_bytes / 1e3 for x in r.fetching], "{:.1f}"))
    row(
        "  of which probe and labels, kB",
        lambda r: _mm([x.probe_bytes / 1e3 for x in r.fetching], "{:.2f}"),
    )
    row(
        "  as % of full range",
        lambda r: _mm(
            [100 * x.panel_bytes / _med(r.full_range_bytes) for x in r.fetching], "{:.2f}"
        ),
    )
    row(
        "kB / refresh, mean of all",
        lambda r: f"{statistics.mean(x.panel_bytes for x in r.refreshes) / 1e3:.2f}",
    )
    row("rules: queries / refresh", lambda r: _mm([x.rule_requests for x in r.refreshes], "{:.0f}"))
    row("rules: kB / refresh", lambda r: _mm([x.rule_bytes / 1e3 for x in r.refreshes], "{:.1f}"))
    row(
        "refresh wall ms (1000 allowed)",
        lambda r: _mm([x.wall_s * 1e3 for x in r.refreshes], "{:.0f}"),
    )
    row("exporter CPU % (refresh phase)", lambda r: f"{r.exporter_cpu_pct:.1f}")
    row("engine CPU % (refresh phase)", lambda r: f"{r.engine_cpu_pct:.1f}")
    row("min scrapes/target in window", lambda r: f"{r.scrapes['min_scrapes_per_target']:.0f}")
    row("max scrape duration ms", lambda r: f"{r.scrapes['max_scrape_duration_s'] * 1e3:.0f}")
    lines = [head, *(f"{label:34}" + "".join(f"{c:>18}" for c in cells) for label, cells in rows)]
    big = results[-1]
    for name, runs in big.dashboard.items():
        if not runs:
            continue
        lines.append("")
        lines.append(f"dashboard, {big.gpus} GPUs, {name} (median of {len(runs)} runs, 120x40)")
        for key, label in (
            ("cpu_pct_steady", "CPU % steady (10 % allowed)"),
            ("cpu_pct_total", "CPU % whole run"),
            ("bytes_per_s_steady", "terminal bytes/s steady"),
            ("first_frame_s", "screen complete at (s)"),
            ("peak_rss_mb", "peak RSS MB"),
            ("exporter_cpu_pct", "exporter CPU % meanwhile"),
            ("engine_cpu_pct", "engine CPU % meanwhile"),
        ):
            values = [float(run[key]) for run in runs if run[key] is not None]  # type: ignore[arg-type]
            lines.append(f"  {label:32}{_mm(values, '{:.2f}'):>18}")
    return "\n".join(lines)


def _mm(values: Sequence[float], fmt: str) -> str:
    if not values:
        return "n/a"
    return f"{fmt.format(_med(values))} ({fmt.format(max(values))})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=ENGINES, default="prometheus")
    parser.add_argument("--fleets", default="1,4,32", help="node counts (8 GPUs each)")
    parser.add_argument("--refreshes", type=int, default=30, help="refreshes per fleet, 1 s apart")
    parser.add_argument("--history", type=float, default=900.0, help="seconds back-filled")
    parser.add_argument("--scenario", default="hot-gpu")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of a dashboard run")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3, help="dashboard runs per view")
    parser.add_argument("--fleet-key-at", type=float, default=2.0, help="when `f` is typed (s)")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    try:
        args.fleets = sorted({int(n) for n in args.fleets.split(",")})
    except ValueError:
        parser.error(f"--fleets: not a list of node counts: {args.fleets!r}")
    if any(n < 1 for n in args.fleets):
        parser.error("--fleets: node counts must be at least 1")
    binaries, package = (
        ((VICTORIA_METRICS, VMALERT), "victoria-metrics")
        if args.engine == "victoriametrics"
        else ((PROMETHEUS, PROMTOOL), "prometheus")
    )
    missing = [p for p in binaries if not os.access(p, os.X_OK)]
    if missing:
        parser.error(f"{' and '.join(missing)} not found: install the Debian package '{package}'")
    print(f"{os.cpu_count()} CPUs; {args.engine} on loopback, built-in rules loaded", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="gputop-prom-bench-") as tmp:
        config = Path(tmp) / "empty.toml"  # no user config file may change what is measured
        config.write_text("")
        for nodes in args.fleets:
            results.append(bench_fleet(nodes, Path(tmp), config, args))
    print()
    print(report(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = [{**asdict(r), "fetching": len(r.fetching)} for r in results]
        args.json.write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
