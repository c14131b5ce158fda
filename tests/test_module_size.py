"""Every module of gputop is small enough to read in one sitting: at most 400 lines."""

from __future__ import annotations

from pathlib import Path

MAX_LINES = 400
ROOT = Path(__file__).resolve().parents[1]
#: Generated data, not code to read: written by scripts/dcgm_field_table.py from DCGM's own
#: field list, and regenerated rather than edited, so it is not split.
GENERATED = frozenset({"gputop/core/dcgm_field_table.py"})


def test_no_module_is_over_400_lines() -> None:
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted((ROOT / "gputop").rglob("*.py"))
    }
    assert "gputop/monitor/monitor.py" in sizes
    over = {name: n for name, n in sizes.items() if n > MAX_LINES and name not in GENERATED}
    assert not over, f"modules over {MAX_LINES} lines: {over}"
