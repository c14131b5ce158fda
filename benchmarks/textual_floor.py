"""The floor of a Textual dashboard: the least a Textual app can do to show what the benchmark
takes for gputop's complete screen (8 GPU lines with their power, a rule row), then change
one number per GPU every second. No NVML, no rules, no stylesheet of its own.

    .venv/bin/python -m benchmarks.textual_floor [--gpus 8] [--interval 1]

`tui_vs_nvitop --with-floor` runs it beside gputop and nvitop: how far gputop is from what
Textual itself costs on this machine (start-up, first frame, CPU), measured the same way.
"""

from __future__ import annotations

import argparse
import random

from textual.app import App, ComposeResult
from textual.widgets import Static


class Floor(App[None]):
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(self, gpus: int, interval: float) -> None:
        super().__init__()
        self.gpus = gpus
        self.interval = interval

    def compose(self) -> ComposeResult:
        for i in range(self.gpus):
            yield Static(self._line(i), id=f"gpu{i}")
        yield Static("OK GPUBusy · GPU 0")

    def _line(self, i: int) -> str:
        return f"GPU {i}  MEM {random.randint(0, 100):3d}%  PWR {random.randint(60, 400):3d}W"

    def on_mount(self) -> None:
        self.set_interval(self.interval, self._tick)

    def _tick(self) -> None:
        for i in range(self.gpus):
            self.query_one(f"#gpu{i}", Static).update(self._line(i))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    Floor(args.gpus, args.interval).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
