"""gputop vs `nvitop -m full` on the same 8 stand-in GPUs, in one run, several rounds.

    .venv/bin/python -m benchmarks.tui_vs_nvitop [--rounds 3] [--seconds 30] [--json FILE]

Both programs read the tests' stand-in libnvidia-ml.so.1 (tests/support/fake_nvml.c) through
LD_LIBRARY_PATH, in a 120x40 pseudo-terminal, 1 s refresh. Rounds alternate the programs so
both see the same machine load; figures are medians over rounds. gputop's modules are
byte-compiled first, as an installed package's are (nvitop's, in site-packages, already are).
`--with-raw` adds a third program: gputop with its shadow screen off (`GPUTOP_SHADOW=off`),
which writes what Textual writes. After the table, the steady bytes per second of each
screen region (benchmarks/regions.py), so a regression can be placed.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import statistics
import sys
from pathlib import Path

from benchmarks.pty_run import RunResult, run_in_pty
from benchmarks.regions import REGIONS, by_region
from tests.support.fake_nvml import build_fake_nvml

ROOT = Path(__file__).resolve().parents[1]


def _gputop_ready(gpus: int):  # type: ignore[no-untyped-def]
    def ready(screen: str) -> bool:
        # a card's title, or a compact line's index ("▶● 3▕") when rules need the room
        lines = set(re.findall(r"^[ ▶][ ●◐○] *(\d+)▕", screen, flags=re.M))
        titles = all(f"GPU {i} " in screen or str(i) in lines for i in range(gpus))
        return titles and len(re.findall(r"\d+W\b", screen)) >= gpus

    return ready


def _nvitop_ready(gpus: int):  # type: ignore[no-untyped-def]
    def ready(screen: str) -> bool:
        rows = re.findall(r"^│\s*(\d)\s+\S", screen, flags=re.M)
        return {str(i) for i in range(gpus)} <= set(rows) and len(
            re.findall(r"\d+W\b", screen)
        ) >= gpus

    return ready


def programs(
    interval: float, gpus: int, *, with_raw: bool = False
) -> dict[str, tuple[list[str], object, dict[str, str]]]:
    """name: (argv, first-frame check, extra environment)."""
    gputop = [sys.executable, "-m", "gputop", "--interval", str(interval)]
    out: dict[str, tuple[list[str], object, dict[str, str]]] = {
        "gputop": (gputop, _gputop_ready(gpus), {}),
        "nvitop": (
            [sys.executable, "-m", "nvitop", "-m", "full", "--interval", str(interval)],
            _nvitop_ready(gpus),
            {},
        ),
    }
    if with_raw:
        out["gputop-raw"] = (gputop, _gputop_ready(gpus), {"GPUTOP_SHADOW": "off"})
    return out


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
    runs: dict[str, list[RunResult]] = {}
    for r in range(args.rounds):
        for name, (argv_, ready, extra) in programs(
            args.interval, gpus, with_raw=args.with_raw
        ).items():
            result = run_in_pty(
                name,
                argv_,
                env={**env, **extra},
                cols=args.cols,
                rows=args.rows,
                seconds=args.seconds,
                warmup=args.warmup,
                frame_complete=ready,  # type: ignore[arg-type]
            )
            runs.setdefault(name, []).append(result)
            print(
                f"round {r + 1} {name:7} cpu {result.cpu_pct_total:5.2f}% "
                f"steady {result.cpu_pct_steady:5.2f}% bytes/s {result.bytes_per_s_steady:8.0f} "
                f"first frame {_fmt(result.first_frame_s)} rss {result.peak_rss_mb:5.1f}MB",
                flush=True,
            )
            if "Traceback" in result.final_screen:
                print(result.final_screen)
                return 1
    print()
    print(report(runs))
    print()
    print(breakdown(runs))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({n: [_as_dict(x) for x in rs] for n, rs in runs.items()}, indent=2)
        )
    return 0


def _fmt(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.2f}s"


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def report(runs: dict[str, list[RunResult]]) -> str:
    """Medians per program, and gputop's over nvitop's."""
    rows = {
        "CPU % (whole run)": lambda r: r.cpu_pct_total,
        "CPU % (steady)": lambda r: r.cpu_pct_steady,
        "bytes/s (steady)": lambda r: r.bytes_per_s_steady,
        "first frame (s)": lambda r: r.first_frame_s,
        "peak RSS (MB)": lambda r: r.peak_rss_mb,
    }
    names = list(runs)
    ratio = "gputop" in runs and "nvitop" in runs
    lines = [
        f"{'median of ' + str(len(runs[names[0]])) + ' runs':22}"
        + "".join(f"{n:>12}" for n in names)
        + ("   gputop/nvitop" if ratio else "")
    ]
    for label, get in rows.items():
        meds = {n: _median([get(r) for r in runs[n]]) for n in names}
        cells = "".join(f"{'n/a' if m is None else f'{m:.2f}':>12}" for m in meds.values())
        mine, theirs = meds.get("gputop"), meds.get("nvitop")
        tail = f"{mine / theirs:>16.2f}" if ratio and mine is not None and theirs else ""
        lines.append(f"{label:22}{cells}{tail}")
    return "\n".join(lines)


def region_rates(result: RunResult) -> dict[str, float]:
    """Steady bytes per second of each named region of the final screen."""
    kind = "nvitop" if result.name.startswith("nvitop") else "gputop"
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
