"""gputop vs `nvitop -m full` on the same 8 stand-in GPUs, in one run, several rounds.

    .venv/bin/python -m benchmarks.tui_vs_nvitop [--rounds 3] [--seconds 30] [--json FILE]

Both programs read the tests' stand-in libnvidia-ml.so.1 (tests/support/fake_nvml.c) through
LD_LIBRARY_PATH, in a 120x40 pseudo-terminal, 1 s refresh. Rounds alternate the programs so
both see the same machine load; figures are medians over rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from pathlib import Path

from benchmarks.pty_run import RunResult, run_in_pty
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


def programs(interval: float, gpus: int) -> dict[str, tuple[list[str], object]]:
    return {
        "gputop": (
            [sys.executable, "-m", "gputop", "--interval", str(interval)],
            _gputop_ready(gpus),
        ),
        "nvitop": (
            [sys.executable, "-m", "nvitop", "-m", "full", "--interval", str(interval)],
            _nvitop_ready(gpus),
        ),
    }


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
    for var in ("NO_COLOR", "COLORTERM"):  # an SSH session rarely forwards COLORTERM
        env.pop(var, None)
    runs: dict[str, list[RunResult]] = {}
    for r in range(args.rounds):
        for name, (argv_, ready) in programs(args.interval, gpus).items():
            result = run_in_pty(
                name,
                argv_,
                env=env,
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
    rows = {
        "CPU % (whole run)": lambda r: r.cpu_pct_total,
        "CPU % (steady)": lambda r: r.cpu_pct_steady,
        "bytes/s (steady)": lambda r: r.bytes_per_s_steady,
        "first frame (s)": lambda r: r.first_frame_s,
        "peak RSS (MB)": lambda r: r.peak_rss_mb,
    }
    names = list(runs)
    lines = [
        f"{'median of ' + str(len(runs[names[0]])) + ' runs':22}"
        + "".join(f"{n:>12}" for n in names)
        + ("       ratio" if len(names) == 2 else "")
    ]
    for label, get in rows.items():
        meds = [_median([get(r) for r in runs[n]]) for n in names]
        cells = "".join(f"{'n/a' if m is None else f'{m:.2f}':>12}" for m in meds)
        ratio = ""
        if len(meds) == 2 and meds[0] is not None and meds[1]:
            ratio = f"{meds[0] / meds[1]:>12.2f}"
        lines.append(f"{label:22}{cells}{ratio}")
    return "\n".join(lines)


def _as_dict(r: RunResult) -> dict[str, object]:
    d = {k: getattr(r, k) for k in r.__dataclass_fields__ if k != "final_screen"}
    d.update(
        cpu_pct_total=r.cpu_pct_total,
        cpu_pct_steady=r.cpu_pct_steady,
        bytes_per_s_steady=r.bytes_per_s_steady,
    )
    return d


if __name__ == "__main__":
    raise SystemExit(main())
