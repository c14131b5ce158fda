"""`gputop rules backtest` against real engines on loopback: time and memory, and the near
scores of the built-in rules on each simulated scenario.

    .venv/bin/python -m benchmarks.backtest_bench fleet [--engine victoriametrics|prometheus]
        [--days 7] [--gpus 256] [--rules 10] [--step 60] [--json FILE]
    .venv/bin/python -m benchmarks.backtest_bench small [--engine prometheus|victoriametrics]
    .venv/bin/python -m benchmarks.backtest_bench scenarios [--hours 6] [--json FILE]

- `fleet`: a synthetic fleet (GPUs 8 to a node: utilization with jobs coming and going,
  power and temperature following it with hot spells, memory that leaks and restarts, one
  sample every `--step` seconds) imported into the engine, then up to 10 rules of every kind
  (plain comparisons, `and`-gated ones, `keep_firing_for`) replayed over the whole range by
  the real program, as a user runs it. Reports the wall time, the program's peak resident
  memory, the points fetched and the firings found.
- `small`: 50 minutes of the simulated exporter (8 GPUs, back-filled at 10 s) and 3 rules.
- `scenarios`: gputop's built-in rules over `--hours` of each simulated scenario (one node of
  8 GPUs, back-filled at 10 s, on Prometheus): firings, and the near logic's warnings,
  precision, recall and median lead time per rule. These are the README's figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from gputop.core.units import format_duration
from tests.support.prometheus_server import (
    PromStack,
    start_prometheus,
    start_stack,
)
from tests.support.victoria_server import VictoriaMetricsServer

ROOT = Path(__file__).resolve().parents[1]
BUILTIN_RULES = ROOT / "gputop" / "rules" / "builtin.yml"
SCENARIOS = ("mixed", "calm", "hot-gpu", "memory-creep", "stuck-job", "slow")

FLEET_RULES = [
    ("GPUTempWarm", "DCGM_FI_DEV_GPU_TEMP > 80", "2m", None),
    ("GPUTempHot", "DCGM_FI_DEV_GPU_TEMP > 85", "1m", None),
    ("GPUIdle", "DCGM_FI_DEV_GPU_UTIL < 5", "10m", None),
    ("GPUSaturated", "DCGM_FI_DEV_GPU_UTIL > 97", "15m", None),
    (
        "GPUMemoryHigh",
        "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) * 100 > 90",
        "2m",
        None,
    ),
    (
        "GPUMemoryFull",
        "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) * 100 > 95",
        "1m",
        "5m",
    ),
    ("GPUPowerHigh", "DCGM_FI_DEV_POWER_USAGE > 380", "5m", None),
    (
        "GPUPowerLowWhileBusy",
        "DCGM_FI_DEV_POWER_USAGE < 150 and on(gpu, Hostname) DCGM_FI_DEV_GPU_UTIL > 50",
        "5m",
        None,
    ),
    (
        "GPUHotAndBusy",
        "DCGM_FI_DEV_GPU_TEMP > 78 and on(gpu, Hostname) DCGM_FI_DEV_GPU_UTIL > 90",
        "3m",
        None,
    ),
    ("GPUClockLow", "DCGM_FI_DEV_SM_CLOCK < 1000", "5m", "2m"),
]


# ---- a synthetic fleet -------------------------------------------------------------------


def _gpu_series(seed: int, n: int) -> dict[str, list[float]]:
    """One GPU's metrics for `n` samples: jobs of random length with idle gaps, power and
    temperature following utilization (with hot spells), memory leaking until a restart."""
    rng = random.Random(seed)
    util, power, temp, used, clock = [], [], [], [], []
    busy, left, hot, leak = False, 0, 0, 0.0
    t_c, p_w = 40.0, 80.0
    for _ in range(n):
        if left <= 0:
            busy = not busy if rng.random() < 0.7 else busy
            left = rng.randint(3, 90) if busy else rng.randint(1, 30)
        left -= 1
        if hot <= 0 and rng.random() < 0.002:
            hot = rng.randint(5, 40)
        hot -= 1
        u = min(100.0, max(0.0, (96.0 if busy else 0.0) + rng.gauss(0, 2.0)))
        p_w += ((70 + 3.1 * u) - p_w) * 0.6 + rng.gauss(0, 4)
        t_c += ((30 + 0.1 * p_w + (14 if hot > 0 else 0)) - t_c) * 0.4 + rng.gauss(0, 0.5)
        leak = 0.0 if leak > 14000 or rng.random() < 0.001 else leak + rng.uniform(0, 60)
        util.append(round(u, 1))
        power.append(round(p_w, 1))
        temp.append(round(t_c))
        used.append(round(58000 + leak + (8000 if busy else 0)))
        clock.append(1410.0 if u > 1 or rng.random() > 0.01 else 210.0)
    return {
        "DCGM_FI_DEV_GPU_UTIL": util,
        "DCGM_FI_DEV_POWER_USAGE": power,
        "DCGM_FI_DEV_GPU_TEMP": temp,
        "DCGM_FI_DEV_FB_USED": used,
        "DCGM_FI_DEV_FB_FREE": [81920 - u for u in used],
        "DCGM_FI_DEV_SM_CLOCK": clock,
    }


def _fleet(
    gpus: int, start: float, n: int, step: float
) -> Iterator[tuple[dict[str, str], list[float]]]:
    for g in range(gpus):
        host, index = f"sim-node-{g // 8:02d}", str(g % 8)
        for metric, values in _gpu_series(1000 + g, n).items():
            labels = {"__name__": metric, "gpu": index, "Hostname": host, "job": "dcgm"}
            yield labels, values


def _import_victoria(url: str, gpus: int, start: float, n: int, step: float) -> int:
    stamps = [round((start + i * step) * 1000) for i in range(n)]
    points = 0
    batch: list[str] = []
    with httpx.Client(timeout=300.0) as client:
        for labels, values in _fleet(gpus, start, n, step):
            batch.append(json.dumps({"metric": labels, "values": values, "timestamps": stamps}))
            points += len(values)
            if len(batch) >= 64:
                client.post(f"{url}/api/v1/import", content="\n".join(batch)).raise_for_status()
                batch = []
        if batch:
            client.post(f"{url}/api/v1/import", content="\n".join(batch)).raise_for_status()
        client.get(f"{url}/internal/force_flush").raise_for_status()
    return points


def _openmetrics(path: Path, gpus: int, start: float, n: int, step: float) -> int:
    points = 0
    with path.open("w") as out:
        for labels, values in _fleet(gpus, start, n, step):
            name = labels.pop("__name__")
            text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            for i, v in enumerate(values):
                out.write(f"{name}{{{text}}} {v} {int(start + i * step)}\n")
            points += len(values)
        out.write("# EOF\n")
    return points


def _rules_file(path: Path, count: int, step: float) -> Path:
    lines = ["groups:", "  - name: fleet", f"    interval: {int(step)}s", "    rules:"]
    for name, expr, for_, keep in FLEET_RULES[:count]:
        lines += [f"      - alert: {name}", f"        expr: {expr}", f"        for: {for_}"]
        if keep:
            lines.append(f"        keep_firing_for: {keep}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run_backtest(argv: Sequence[str]) -> dict[str, Any]:
    """The real program, as a user runs it; its wall time and its own peak resident memory."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gputop", "rules", "backtest", *argv, "--format", "json"],
            stdout=out,
            stderr=err,
            text=True,
            cwd=ROOT,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"backtest failed ({proc.returncode}): {err.read()[-500:]}")
        report = json.load(out)
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "report": report,
    }


def fleet(args: argparse.Namespace) -> dict[str, Any]:
    step = float(args.step)
    end = math.floor(time.time() / step) * step - 120
    start = end - args.days * 86400
    n = int((end - start) / step) + 1
    with tempfile.TemporaryDirectory(prefix="gputop-backtest-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        engine: Any
        if args.engine == "victoriametrics":
            engine = VictoriaMetricsServer(work / "vm", [])
            (work / "vm").mkdir()
            engine.start()
            points = _import_victoria(engine.url, args.gpus, start, n, step)
        else:
            source = work / "fleet.om"
            points = _openmetrics(source, args.gpus, start, n, step)
            engine = start_prometheus(work / "prom", [], backfill=source.read_text())
        loaded = time.perf_counter() - started
        try:
            rules = _rules_file(work / "fleet.yml", args.rules, step)
            argv = [str(rules), "--prometheus", engine.url, "--start", str(start + 1800)]
            argv += ["--end", str(end)]
            result = run_backtest(argv)
        finally:
            engine.stop()
    report = result.pop("report")
    return {
        "engine": args.engine,
        "days": args.days,
        "gpus": args.gpus,
        "rules": args.rules,
        "step_s": step,
        "points_in_engine": points,
        "load_s": round(loaded, 1),
        **result,
        "fired": {r["name"]: r["fired"] for r in report["rules"]},
        "errors": {r["name"]: r["error"] for r in report["rules"] if r["error"]},
    }


SMALL_RULES = """\
groups:
  - name: small
    interval: 10s
    rules:
      - alert: GPUIdle
        expr: DCGM_FI_DEV_GPU_UTIL < 20
        for: 30s
      - alert: GPUMemoryHigh
        expr: DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) * 100 > 80
        for: 20s
        keep_firing_for: 40s
      - alert: GPUPowerLowWhileWarm
        expr: DCGM_FI_DEV_POWER_USAGE < 300 and on(gpu, Hostname) DCGM_FI_DEV_GPU_TEMP > 40
        for: 1m
"""


def small(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="gputop-backtest-") as tmp:
        work = Path(tmp)
        now = math.floor(time.time())
        stack = start_stack(work / "stack", engine=args.engine, history_s=3600, scrape_s=10)
        try:
            rules = work / "small.yml"
            rules.write_text(SMALL_RULES)
            argv = [str(rules), "--prometheus", stack.url, "--start", str(now - 3060)]
            argv += ["--end", str(now - 60)]
            result = run_backtest(argv)
        finally:
            stack.stop()
    report = result.pop("report")
    return {
        "engine": args.engine,
        "minutes": 50,
        "gpus": 8,
        "rules": 3,
        **result,
        "fired": {r["name"]: r["fired"] for r in report["rules"]},
    }


def scenarios(args: argparse.Namespace) -> list[dict[str, Any]]:
    out = []
    for scenario in args.scenarios.split(","):
        with tempfile.TemporaryDirectory(prefix="gputop-backtest-") as tmp:
            now = math.floor(time.time())
            history = args.hours * 3600 + 3600
            stack: PromStack = start_stack(
                Path(tmp) / "stack", scenario=scenario, history_s=history, scrape_s=10
            )
            try:
                argv = [str(BUILTIN_RULES), "--prometheus", stack.url, "--end", str(now - 60)]
                argv += ["--start", str(now - 60 - args.hours * 3600)]
                result = run_backtest(argv)
            finally:
                stack.stop()
        for rule in result["report"]["rules"]:
            near = rule["near"] or {}
            out.append(
                {
                    "scenario": scenario,
                    "rule": rule["name"],
                    "fired": rule["fired"],
                    "firing_s": rule["firing_s"],
                    "flaps": rule["flaps"],
                    "warnings": near.get("warnings"),
                    "followed_by_firing": near.get("followed_by_firing"),
                    "firings_warned": near.get("firings_warned"),
                    "lead_s_median": near.get("lead_s_median"),
                    "error": rule["error"],
                }
            )
        print(f"{scenario}: {result['wall_s']} s", file=sys.stderr)
    return out


def _pct(part: int | None, whole: int | None) -> str:
    return "–" if not whole or part is None else f"{part}/{whole} ({part / whole:.0%})"


def scenario_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | rule | fired | firing | near warnings | followed by firing "
        "| firings warned | median lead |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lead = r["lead_s_median"]
        lines.append(
            f"| {r['scenario']} | {r['rule']} | {r['fired']} | {format_duration(r['firing_s'])} "
            f"| {r['warnings'] or 0} "
            f"| {_pct(r['followed_by_firing'], r['warnings'])} "
            f"| {_pct(r['firings_warned'], r['fired'])} "
            f"| {'–' if lead is None else f'{lead:g} s'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.backtest_bench")
    sub = parser.add_subparsers(dest="what", required=True)
    f = sub.add_parser("fleet")
    f.add_argument("--engine", choices=("victoriametrics", "prometheus"), default="victoriametrics")
    f.add_argument("--days", type=float, default=7.0)
    f.add_argument("--gpus", type=int, default=256)
    f.add_argument("--rules", type=int, default=10)
    f.add_argument("--step", type=int, default=60)
    s = sub.add_parser("small")
    s.add_argument("--engine", choices=("prometheus", "victoriametrics"), default="prometheus")
    c = sub.add_parser("scenarios")
    c.add_argument("--hours", type=float, default=6.0)
    c.add_argument("--scenarios", default=",".join(SCENARIOS))
    for p in (f, s, c):
        p.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    result: Any
    if args.what == "fleet":
        result = fleet(args)
        print(json.dumps(result, indent=2))
    elif args.what == "small":
        result = small(args)
        print(json.dumps(result, indent=2))
    else:
        result = scenarios(args)
        print(scenario_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
