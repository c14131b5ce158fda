"""gputop vs `nvitop -m full` on the same 8 stand-in GPUs, in one run, several rounds.

    .venv/bin/python -m benchmarks.tui_vs_nvitop [--rounds 3] [--seconds 30] [--json FILE]
        [--baseline [NAME=]DIR] [--heavy | --heavy-only] [--heavy-delay S]

Both programs read the tests' stand-in libnvidia-ml.so.1 (tests/support/fake_nvml.c) through
LD_LIBRARY_PATH, in a 120x40 pseudo-terminal, 1 s refresh. Rounds alternate the programs so
both see the same machine load; figures are medians over rounds. gputop's modules are
byte-compiled first, as an installed package's are (nvitop's, in site-packages, already are).
Times: the first byte written, the first frame (every GPU's row with its numbers) and the
first complete screen (every GPU and, for gputop, the rule rows; nvitop has no rules, so its
complete screen is its first frame).
`--with-raw` adds a third program: gputop with its shadow screen off (`GPUTOP_SHADOW=off`),
which writes what Textual writes. `--baseline DIR` adds gputop run from another source tree
(e.g. `git archive main | tar -x -C DIR`), in the same rounds. After the table, the steady
bytes per second of each screen region (benchmarks/regions.py), so a regression can be placed.
`--heavy` then runs each gputop against a heavy server (benchmarks/heavy.py: 3000 alerting
rules, a 4 MB Alertmanager status, `--heavy-delay` seconds before each answer) and reports
input latency, the header clock's gaps and how soon the kiosk's exit chord acts.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.heavy import HeavyResult, heavy_report, run_heavy
from benchmarks.pty_run import RunResult, run_in_pty
from benchmarks.regions import REGIONS, by_region
from tests.support.fake_nvml import build_fake_nvml
from tests.support.heavy_server import HeavyServer

ROOT = Path(__file__).resolve().parents[1]


def _gputop_ready(gpus: int) -> Callable[[str], bool]:
    def ready(screen: str) -> bool:
        # a card's title, or a compact line's index ("▶● 3▕") when rules need the room
        lines = set(re.findall(r"^[ ▶][ ●◐○] *(\d+)▕", screen, flags=re.M))
        titles = all(f"GPU {i} " in screen or str(i) in lines for i in range(gpus))
        return titles and len(re.findall(r"\d+W\b", screen)) >= gpus

    return ready


#: The built-in rules' names: one of them on screen is a rule row.
_RULE_NAMES = re.compile(r"GPUHighMemoryUsage|GPUBusy|GPUTemperatureHigh|T2VInferenceSlow|GPUStuck")


def _gputop_complete(gpus: int) -> Callable[[str], bool]:
    """Every GPU with its numbers, and the rule rows (not "loading rules…")."""
    frame = _gputop_ready(gpus)

    def complete(screen: str) -> bool:
        return frame(screen) and _RULE_NAMES.search(screen) is not None

    return complete


def _nvitop_ready(gpus: int) -> Callable[[str], bool]:
    def ready(screen: str) -> bool:
        rows = re.findall(r"^│\s*(\d)\s+\S", screen, flags=re.M)
        return {str(i) for i in range(gpus)} <= set(rows) and len(
            re.findall(r"\d+W\b", screen)
        ) >= gpus

    return ready


@dataclass(frozen=True)
class Program:
    argv: list[str]
    frame: Callable[[str], bool]  # the first frame is on screen
    complete: Callable[[str], bool]  # the screen is complete
    env: dict[str, str]  # added to the environment
    cwd: str  # where it runs (a gputop runs the package found there)


def programs(
    interval: float,
    gpus: int,
    *,
    with_raw: bool = False,
    baselines: Sequence[tuple[str, Path]] = (),
    with_floor: bool = False,
) -> dict[str, Program]:
    """The programs of a round, by name."""
    gputop = [sys.executable, "-m", "gputop", "--interval", str(interval)]
    frame, complete = _gputop_ready(gpus), _gputop_complete(gpus)
    out: dict[str, Program] = {"gputop": Program(gputop, frame, complete, {}, str(ROOT))}
    for name, tree in baselines:
        out[name] = Program(gputop, frame, complete, {"PYTHONPATH": str(tree)}, str(tree))
    nvitop = [sys.executable, "-m", "nvitop", "-m", "full", "--interval", str(interval)]
    out["nvitop"] = Program(nvitop, _nvitop_ready(gpus), _nvitop_ready(gpus), {}, str(ROOT))
    if with_raw:
        out["gputop-raw"] = Program(gputop, frame, complete, {"GPUTOP_SHADOW": "off"}, str(ROOT))
    if with_floor:  # the least a Textual app costs to show the same (benchmarks/textual_floor.py)
        floor = [sys.executable, "-m", "benchmarks.textual_floor", "--interval", str(interval)]
        out["floor"] = Program(floor, frame, complete, {}, str(ROOT))
    return out


def _baseline(text: str) -> tuple[str, Path]:
    name, _, tree = text.rpartition("=")
    path = Path(tree).resolve()
    if not (path / "gputop" / "__main__.py").is_file():
        raise argparse.ArgumentTypeError(f"no gputop package in {path}")
    return (name or "baseline", path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--cols", type=int, default=120)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--json", type=Path, help="also write the raw runs here")
    parser.add_argument(
        "--with-raw", action="store_true", help="also run gputop with its shadow screen off"
    )
    parser.add_argument(
        "--real-gpus",
        type=int,
        metavar="N",
        help="use the machine's own NVML and its N GPUs instead of 8 stand-in GPUs",
    )
    parser.add_argument(
        "--baseline",
        type=_baseline,
        action="append",
        default=[],
        metavar="[NAME=]DIR",
        help="also run gputop from this source tree (a checkout of main), in the same rounds",
    )
    parser.add_argument(
        "--with-floor",
        action="store_true",
        help="also run a minimal Textual app showing the same (benchmarks/textual_floor.py)",
    )
    parser.add_argument(
        "--heavy", action="store_true", help="then the heavy-server runs (benchmarks/heavy.py)"
    )
    parser.add_argument("--heavy-only", action="store_true", help="only the heavy-server runs")
    parser.add_argument("--heavy-delay", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--heavy-seconds", type=float, default=30.0)
    parser.add_argument(
        "--heavy-scenarios", default="local,remote,am,kiosk", help="of local, remote, am, kiosk"
    )
    args = parser.parse_args(argv)

    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    gpus = args.real_gpus or 8
    if not args.real_gpus:
        lib = build_fake_nvml(ROOT / ".bench" / "nvml")
        ld = os.environ.get("LD_LIBRARY_PATH", "")
        env.update(LD_LIBRARY_PATH=f"{lib}:{ld}".rstrip(":"), FAKE_NVML_GPUS="8")
    for var in ("NO_COLOR", "COLORTERM", "GPUTOP_SHADOW"):  # SSH rarely forwards COLORTERM
        env.pop(var, None)
    compileall.compile_dir(ROOT / "gputop", quiet=1)
    for _, tree in args.baseline:
        compileall.compile_dir(tree / "gputop", quiet=1)
    table = programs(
        args.interval,
        gpus,
        with_raw=args.with_raw,
        baselines=args.baseline,
        with_floor=args.with_floor,
    )
    runs: dict[str, list[RunResult]] = {}
    for r in range(0 if args.heavy_only else args.rounds):
        for name, prog in table.items():
            result = run_in_pty(
                name,
                prog.argv,
                env={**env, **prog.env},
                cwd=prog.cwd,
                cols=args.cols,
                rows=args.rows,
                seconds=args.seconds,
                warmup=args.warmup,
                frame_complete=prog.frame,
                screen_complete=prog.complete,
            )
            runs.setdefault(name, []).append(result)
            print(
                f"round {r + 1} {name:10} cpu {result.cpu_pct_total:5.2f}% "
                f"steady {result.cpu_pct_steady:5.2f}% bytes/s {result.bytes_per_s_steady:8.0f} "
                f"first byte {_fmt(result.first_byte_s)} frame {_fmt(result.first_frame_s)} "
                f"complete {_fmt(result.complete_s)} rss {result.peak_rss_mb:5.1f}MB",
                flush=True,
            )
            if "Traceback" in result.final_screen:
                print(result.final_screen)
                return 1
    heavy: list[HeavyResult] = []
    if args.heavy or args.heavy_only:
        gputops = {n: p for n, p in table.items() if n == "gputop" or p.cwd != str(ROOT)}
        heavy = _heavy_rounds(args, gputops, env)
    if runs:
        print()
        print(report(runs))
        print()
        print(breakdown(runs))
    if heavy:
        print()
        print(heavy_report(heavy, args.heavy_seconds))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc: dict[str, object] = {n: [_as_dict(x) for x in rs] for n, rs in runs.items()}
        doc["heavy"] = [h.as_dict() for h in heavy]
        args.json.write_text(json.dumps(doc, indent=2))
    return 0


def _heavy_rounds(
    args: argparse.Namespace, gputops: dict[str, Program], env: dict[str, str]
) -> list[HeavyResult]:
    """Each gputop against the heavy server, scenarios and programs alternating."""
    out: list[HeavyResult] = []
    scenarios = [s.strip() for s in args.heavy_scenarios.split(",") if s.strip()]
    with HeavyServer(rules=3000, delay_s=args.heavy_delay) as server:
        for r in range(args.rounds):
            for scenario in scenarios:
                for name, prog in gputops.items():
                    result = run_heavy(
                        name,
                        prog.argv,
                        url=server.url,
                        scenario=scenario,
                        env={**env, **prog.env},
                        cwd=prog.cwd,
                        seconds=args.heavy_seconds,
                    )
                    out.append(result)
                    keys = result.latencies
                    print(
                        f"heavy round {r + 1} {name:10} {scenario:6} "
                        f"keys {len(keys)} p50 {_fmt(_median(list(keys)))} "
                        f"max {_fmt(max(keys) if keys else None)} "
                        f"clock gap {_fmt(result.clock_gap_s)} "
                        f"skipped {result.clock_skipped} chord {_fmt(result.chord_s)} "
                        f"cpu {result.run.cpu_pct_total:5.2f}% rss {result.run.peak_rss_mb:5.1f}MB",
                        flush=True,
                    )
                    if "Traceback" in result.run.final_screen:
                        print(result.run.final_screen)
    return out


def _fmt(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.2f}s"


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def report(runs: dict[str, list[RunResult]]) -> str:
    """Medians per program, and gputop's over nvitop's."""
    rows: dict[str, Callable[[RunResult], float | None]] = {
        "CPU % (whole run)": lambda r: r.cpu_pct_total,
        "CPU % (steady)": lambda r: r.cpu_pct_steady,
        "bytes/s (steady)": lambda r: r.bytes_per_s_steady,
        "first byte (s)": lambda r: r.first_byte_s,
        "first frame (s)": lambda r: r.first_frame_s,
        "complete screen (s)": lambda r: r.complete_s,
        "peak RSS (MB)": lambda r: r.peak_rss_mb,
    }
    names = list(runs)
    # each gputop over nvitop, when nvitop ran
    mine = [n for n in names if n != "nvitop"] if "nvitop" in runs else []
    lines = [
        f"{'median of ' + str(len(runs[names[0]])) + ' runs':22}"
        + "".join(f"{n:>12}" for n in names)
        + "".join(f"{n + '/nvitop':>18}" for n in mine)
    ]
    for label, get in rows.items():
        meds = {n: _median([get(r) for r in runs[n]]) for n in names}
        cells = "".join(f"{'n/a' if m is None else f'{m:.2f}':>12}" for m in meds.values())
        theirs = meds.get("nvitop")
        tail = "".join(f"{_ratio(meds[n], theirs):>18}" for n in mine)
        lines.append(f"{label:22}{cells}{tail}")
    return "\n".join(lines)


def _ratio(mine: float | None, theirs: float | None) -> str:
    return "n/a" if mine is None or not theirs else f"{mine / theirs:.2f}"


def region_rates(result: RunResult) -> dict[str, float]:
    """Steady bytes per second of each named region of the final screen."""
    kind = "nvitop" if result.name.startswith("nvitop") else "gputop"  # a baseline is gputop
    names = REGIONS[kind](result.final_screen.split("\n"))
    regions = by_region(result.row_bytes_steady, names, result.unplaced_bytes_steady)
    span = result.seconds - result.warmup
    return {name: n / span for name, n in regions.items()}


def breakdown(runs: dict[str, list[RunResult]]) -> str:
    """Median steady bytes/s per screen region, largest first, for each program."""
    lines = ["steady bytes/s by screen region (median over runs)"]
    for name, results in runs.items():
        rates = [region_rates(r) for r in results]
        regions = {k for rate in rates for k in rate}
        medians = {k: statistics.median(rate.get(k, 0.0) for rate in rates) for k in regions}
        cells = "  ".join(
            f"{k} {v:.0f}" for k, v in sorted(medians.items(), key=lambda kv: -kv[1]) if v >= 0.5
        )
        lines.append(f"  {name:11} {cells}")
    return "\n".join(lines)


def _as_dict(r: RunResult) -> dict[str, object]:
    d = {k: getattr(r, k) for k in r.__dataclass_fields__ if k != "final_screen"}
    d.update(
        cpu_pct_total=r.cpu_pct_total,
        cpu_pct_steady=r.cpu_pct_steady,
        bytes_per_s_steady=r.bytes_per_s_steady,
        bytes_per_s_by_region=region_rates(r),
    )
    return d


if __name__ == "__main__":
    raise SystemExit(main())
