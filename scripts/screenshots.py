"""Write the README screenshots (SVG) from the demo node at a fixed seed and time.

python scripts/screenshots.py [OUTPUT_DIR]      (default: screenshots/)
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the deterministic builders live with the tests

from tests.support.ui import build_app, fixed_utc  # noqa: E402

#: file name -> (terminal size, keys pressed before the shot)
SHOTS: dict[str, tuple[tuple[int, int], tuple[str, ...]]] = {
    "overview-120x40.svg": ((120, 40), ()),
    "overview-80x24.svg": ((80, 24), ()),
    "detail.svg": ((120, 40), ("down", "down", "down", "enter")),  # GPU 3, the hot one
    "processes.svg": ((120, 40), ("p", "m")),
}


async def shoot(path: Path, size: tuple[int, int], keys: tuple[str, ...]) -> None:
    app = build_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        if keys:
            await pilot.press(*keys)
            await pilot.pause()
        path.write_text(app.export_screenshot(title="gputop --demo"), encoding="utf-8")


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    os.environ.pop("NO_COLOR", None)
    os.environ.pop("GPUTOP_THEME", None)
    with fixed_utc():
        for name, (size, keys) in SHOTS.items():
            asyncio.run(shoot(out / name, size, keys))
            print(out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
