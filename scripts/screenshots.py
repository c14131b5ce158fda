"""Write the README screenshots (SVG) from the demo node at a fixed seed and time.

python scripts/screenshots.py [OUTPUT_DIR]      (default: screenshots/)
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the deterministic builders live with the tests

from gputop.ui.app import GpuTopApp  # noqa: E402
from tests.support.ui import build_monitor, fixed_utc  # noqa: E402


@dataclass(frozen=True)
class Shot:
    size: tuple[int, int]
    keys: tuple[str, ...] = ()  # pressed before the shot
    title: str = "gputop --demo"
    app: dict[str, bool] = field(default_factory=dict)  # GpuTopApp options
    no_color: bool = False
    mig: int = 0  # the demo node's first GPUs in MIG mode
    serving: bool = False  # a stand-in Prometheus showing a vLLM server


SHOTS: dict[str, Shot] = {
    "overview-120x40.svg": Shot((120, 40)),
    "overview-80x24.svg": Shot((80, 24)),
    "overview-no-color-80x24.svg": Shot((80, 24), title="NO_COLOR=1 gputop --demo", no_color=True),
    "rules-panel-focused.svg": Shot((120, 40), ("tab", "down", "down")),
    "detail.svg": Shot((120, 40), ("down", "down", "down", "enter")),  # GPU 3, the hot one
    "processes.svg": Shot((120, 40), ("p", "m")),
    "kiosk-80x24.svg": Shot(
        (80, 24), title="gputop --demo --kiosk", app={"kiosk": True, "read_only": True}
    ),
    # GPU 0 split into three MIG instances, each a row of its own
    "mig-120x40.svg": Shot((120, 40), title="gputop (GPU 0 in MIG mode)", mig=1),
    # `p` on a rule row: the processes of its GPU, and who they are
    "jobs-120x40.svg": Shot((120, 40), ("tab", "p")),
    # a vLLM server beside the GPUs: its panel under the P95 latency
    "serving-120x40.svg": Shot((120, 40), title="gputop --prometheus URL (vLLM)", serving=True),
}


async def shoot(path: Path, shot: Shot) -> None:
    if shot.no_color:
        os.environ["NO_COLOR"] = "1"  # read when the app's console is made
    else:
        os.environ.pop("NO_COLOR", None)
    monitor = build_monitor(mig=shot.mig, serving=shot.serving)
    app = GpuTopApp(monitor, poll=False, **shot.app)
    async with app.run_test(size=shot.size) as pilot:
        await pilot.pause()
        if shot.keys:
            await pilot.press(*shot.keys)
            await pilot.pause()
        path.write_text(app.export_screenshot(title=shot.title), encoding="utf-8")


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    os.environ.pop("GPUTOP_THEME", None)
    with fixed_utc():
        for name, shot in SHOTS.items():
            asyncio.run(shoot(out / name, shot))
            print(out / name)
    os.environ.pop("NO_COLOR", None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
