#!/usr/bin/env python3
"""Write gputop/rules/builtin.json from gputop/rules/builtin.yml: the built-in pack as the
dashboard loads it at start, without a YAML parser (its first frame shows the rules).

    scripts/builtin_rules_json.py

builtin.yml stays the pack's one source (commented, and what `gputop rules check` and the
docs read); tests/test_builtin_pack.py fails when the two differ.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gputop.rules.builtin import JSON_PATH, as_json, builtin_path  # noqa: E402
from gputop.rules.files import load_rules  # noqa: E402


def main() -> int:
    doc = as_json(load_rules([builtin_path()]))
    JSON_PATH.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {JSON_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
