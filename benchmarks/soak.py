"""A simulated day on the demo node: does memory stay flat when history has a fixed bound?

    .venv/bin/python -m benchmarks.soak [--hours 24] [--interval 5]

Drives the monitor (demo source, built-in rules evaluated locally) with a fake clock, the way
the dashboard does every tick, and reports traced Python memory after each simulated hour.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

from gputop.core.clock import FakeClock
from gputop.monitor import Monitor
from gputop.rules.builtin import builtin_rules
from gputop.rules.engine import RulesEngine
from gputop.sources.demosource import DemoSource


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--interval", type=float, default=5.0)
    args = parser.parse_args(argv)

    clock = FakeClock()
    monitor = Monitor(clock=clock, local=DemoSource(clock), host="demo-node")
    monitor.rules = RulesEngine(builtin_rules(), clock=clock)
    monitor.open()
    tracemalloc.start()
    started = time.perf_counter()
    per_hour = round(3600 / args.interval)
    sizes: list[float] = []
    for hour in range(int(args.hours)):
        for _ in range(per_hour):
            clock.advance(args.interval)
            monitor.poll()
        gc.collect()
        current, _peak = tracemalloc.get_traced_memory()
        sizes.append(current / 2**20)
        points = sum(len(monitor.store.get(k, m) or ()) for k, m in monitor.store._series)
        print(f"hour {hour + 1:3}: traced {sizes[-1]:7.2f} MiB, points held {points}", flush=True)
    elapsed = time.perf_counter() - started
    print(
        f"{args.hours:g} simulated hours in {elapsed:.0f} s; traced memory after hour 2: "
        f"{sizes[min(1, len(sizes) - 1)]:.2f} MiB, at the end: {sizes[-1]:.2f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
